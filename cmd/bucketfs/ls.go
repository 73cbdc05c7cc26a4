package main

import (
	"strconv"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands,
		&cli.Command{
			Name:      "ls",
			Usage:     "list the keys of a bucket (or, without arguments, the buckets)",
			ArgsUsage: "[BUCKET[/PREFIX]]",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "recursive", Aliases: []string{"r"}, Usage: "list every key below the prefix, not folders"},
				&cli.BoolFlag{Name: "versions", Usage: "list every version, not only heads"},
				&cli.IntFlag{Name: "page-size", Value: 1000, Usage: "keys per listing request"},
				jsonFlag,
			},
			Action: lsAction,
		},
		&cli.Command{
			Name:      "versions",
			Usage:     "list every version of a key, newest first (delete markers included)",
			ArgsUsage: "BUCKET/KEY",
			Flags:     []cli.Flag{jsonFlag},
			Action:    versionsAction,
		},
	)
}

type listing struct {
	Objects  []*storage.ObjectVersion `json:"objects"`
	Prefixes []string                 `json:"prefixes"`
}

func lsAction(c *cli.Context) error {
	if err := nArgs(c, 0, 1); err != nil {
		return err
	}
	if c.NArg() == 0 {
		return bucketList(c)
	}
	bucket, prefix, err := splitPath(c.Args().First(), true)
	if err != nil {
		return err
	}
	o := storage.ListOptions{Prefix: prefix, Versions: c.Bool("versions"), Limit: c.Int("page-size")}
	if !c.Bool("recursive") {
		o.Delimiter = "/"
	}
	return withStore(c, func(st storage.ObjectStore) error {
		out := listing{Objects: []*storage.ObjectVersion{}, Prefixes: []string{}}
		for {
			r, err := st.List(c.Context, bucket, o)
			if err != nil {
				return err
			}
			out.Objects = append(out.Objects, r.Objects...)
			out.Prefixes = append(out.Prefixes, r.Prefixes...)
			if r.Next == "" || r.Next == o.After {
				break
			}
			o.After = r.Next
		}
		if wantJSON(c) {
			return printJSON(c, out)
		}
		if o.Versions {
			t := newTable(c, "KEY", "VERSION", "SIZE", "CREATED", "HEAD")
			for _, p := range out.Prefixes {
				t.row(p, "-", "-", "-", "-")
			}
			for _, v := range out.Objects {
				t.row(v.Key, v.VersionID, sizeText(v), timeText(v.Created), strconv.FormatBool(v.IsHead))
			}
			return t.flush()
		}
		t := newTable(c, "KEY", "SIZE", "MODIFIED", "VERSION")
		for _, p := range out.Prefixes {
			t.row(p, "-", "-", "-")
		}
		for _, v := range out.Objects {
			t.row(v.Key, sizeText(v), timeText(v.Created), v.VersionID)
		}
		return t.flush()
	})
}

func sizeText(v *storage.ObjectVersion) string {
	if v.DeleteMarker() {
		return "(deleted)"
	}
	return humanSize(v.Size())
}

func versionsAction(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	bucket, key, err := splitPath(c.Args().First(), false)
	if err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		vs, err := st.Versions(c.Context, bucket, key)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return storageNotFound(bucket, key)
		}
		if wantJSON(c) {
			return printJSON(c, vs)
		}
		t := newTable(c, "VERSION", "SIZE", "CREATED", "HEAD", "BLAKE3")
		for _, v := range vs {
			sum := "-"
			if v.File != nil {
				sum = v.File.BLAKE3
			}
			t.row(v.VersionID, sizeText(v), timeText(v.Created), strconv.FormatBool(v.IsHead), sum)
		}
		return t.flush()
	})
}
