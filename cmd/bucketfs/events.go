package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "events",
		Usage: "print the event outbox (changes in commit order)",
		Flags: []cli.Flag{
			&cli.Uint64Flag{Name: "after", Usage: "start after this sequence number"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep waiting for new events"},
			&cli.IntFlag{Name: "limit", Value: 0, Usage: "stop after this many events (0 = all)"},
			jsonFlag,
		},
		Action: eventsAction,
	})
}

func eventsAction(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		es, ok := st.(storage.EventSource)
		if !ok {
			return fmt.Errorf("events: not supported by this store")
		}
		after, limit, follow := c.Uint64("after"), c.Int("limit"), c.Bool("follow")
		var t *table
		if !wantJSON(c) {
			t = newTable(c, "SEQ", "TIME", "EVENT", "BUCKET", "KEY", "VERSION", "ORIGIN")
		}
		printed := 0
		for {
			var wait time.Duration
			if follow {
				wait = 30 * time.Second
			}
			n := 1000
			if limit > 0 {
				n = min(n, limit-printed)
			}
			evs, err := es.Events(c.Context, after, n, wait)
			if err != nil {
				if c.Context.Err() != nil {
					return nil // interrupted while following: a normal end
				}
				return err
			}
			for _, e := range evs {
				if t == nil {
					if err := printJSONLine(c, e); err != nil {
						return err
					}
				} else {
					bucket := e.BucketName
					if bucket == "" {
						bucket = e.BucketID
					}
					t.row(strconv.FormatUint(e.Seq, 10), timeText(e.Time), e.Name, bucket, e.Key, e.VersionID, e.Origin.Kind)
				}
				after = e.Seq
				printed++
			}
			if t != nil {
				if err := t.flush(); err != nil {
					return err
				}
			}
			if limit > 0 && printed >= limit {
				return nil
			}
			if len(evs) == 0 && !follow {
				return nil
			}
			if err := c.Context.Err(); err != nil {
				return nil // interrupted while following: a normal end
			}
		}
	})
}
