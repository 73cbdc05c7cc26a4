package main

import (
	"context"
	"fmt"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// Housekeeping abilities of the local store.
type fixityChecker interface {
	FixityPass(ctx context.Context, max int) (checked, bad int, err error)
}

type damageReporter interface {
	DamagedFiles(ctx context.Context) ([]storage.DamagedFile, error)
}

type garbageCollector interface {
	ExpireMultiparts(ctx context.Context, olderThan time.Duration) (int, error)
	CollectGarbage(ctx context.Context) (int, error)
}

func init() {
	commands = append(commands,
		&cli.Command{
			Name:  "fsck",
			Usage: "re-hash stored files against their checksums (oldest check first)",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "max", Value: 1 << 30, Usage: "check at most this many files"},
				jsonFlag,
			},
			Action: fsckAction,
		},
		&cli.Command{
			Name:  "gc",
			Usage: "expire stale multipart uploads and remove unreferenced blobs and temp files",
			Flags: []cli.Flag{
				&cli.DurationFlag{Name: "older-than", Value: 96 * time.Hour, Usage: "expire incomplete uploads older than this"},
				jsonFlag,
			},
			Action: gcAction,
		},
	)
}

func fsckAction(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		fc, ok := st.(fixityChecker)
		if !ok {
			return fmt.Errorf("fsck: not supported by this store (run it on the server's data directory)")
		}
		checked, bad, err := fc.FixityPass(c.Context, c.Int("max"))
		if err != nil {
			return err
		}
		// Name the damaged files and the versions that use them.
		damaged := []storage.DamagedFile{}
		if dr, ok := st.(damageReporter); ok {
			if damaged, err = dr.DamagedFiles(c.Context); err != nil {
				return err
			}
		}
		if wantJSON(c) {
			if err := printJSON(c, map[string]any{"checked": checked, "bad": bad, "damaged": damaged}); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(c.App.Writer, "checked %d files, %d damaged\n", checked, bad)
			if len(damaged) > 0 {
				t := newTable(c, "FILE", "BUCKET", "KEY", "VERSION")
				for _, d := range damaged {
					for _, v := range d.Versions {
						t.row(d.File.ID, v.BucketID, v.Key, v.VersionID)
					}
					if len(d.Versions) == 0 {
						t.row(d.File.ID, "-", "-", "-")
					}
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
		}
		if bad > 0 {
			return fmt.Errorf("fsck: %d damaged files: %w", bad, storage.ErrChecksum)
		}
		return nil
	})
}

func gcAction(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		gc, ok := st.(garbageCollector)
		if !ok {
			return fmt.Errorf("gc: not supported by this store (run it on the server's data directory)")
		}
		uploads, err := gc.ExpireMultiparts(c.Context, c.Duration("older-than"))
		if err != nil {
			return err
		}
		blobs, err := gc.CollectGarbage(c.Context)
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, map[string]int{"expired_uploads": uploads, "removed_blobs": blobs})
		}
		fmt.Fprintf(c.App.Writer, "expired %d uploads, removed %d unreferenced blobs\n", uploads, blobs)
		return nil
	})
}
