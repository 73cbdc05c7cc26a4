package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// snapshotter and bucketRemover are abilities of the local store that a
// remote store may lack.
type snapshotter interface {
	Snapshot(ctx context.Context, bucket string, opts storage.BucketOptions) (*storage.Bucket, error)
}

type bucketRemover interface {
	RemoveBucket(ctx context.Context, bucket string) error
}

func init() {
	commands = append(commands, &cli.Command{
		Name:  "bucket",
		Usage: "create, list, lock, snapshot and remove buckets",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create a bucket",
				ArgsUsage: "[NAME]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "unique name (the directory name on a mount)"},
					&cli.StringFlag{Name: "quota", Usage: "quota, e.g. 10G (0 = unlimited)"},
					&cli.StringFlag{Name: "max-file-size", Usage: "largest file, e.g. 1G (0 = unlimited)"},
					&cli.StringFlag{Name: "location", Usage: "storage location (default: the default location)"},
					&cli.StringSliceFlag{Name: "tag", Usage: "tag KEY=VALUE (repeatable)"},
					jsonFlag,
				},
				Action: bucketCreate,
			},
			{Name: "ls", Usage: "list buckets", Flags: []cli.Flag{jsonFlag}, Action: bucketList},
			{Name: "show", Usage: "show one bucket", ArgsUsage: "BUCKET", Flags: []cli.Flag{jsonFlag}, Action: bucketShow},
			{Name: "lock", Usage: "lock a bucket against modification", ArgsUsage: "BUCKET", Flags: []cli.Flag{jsonFlag}, Action: bucketLock(true)},
			{Name: "unlock", Usage: "unlock a bucket", ArgsUsage: "BUCKET", Flags: []cli.Flag{jsonFlag}, Action: bucketLock(false)},
			{
				Name:      "tag",
				Usage:     "set bucket tags",
				ArgsUsage: "BUCKET KEY=VALUE...",
				Flags:     []cli.Flag{jsonFlag},
				Action:    bucketTag,
			},
			{
				Name:      "rm",
				Usage:     "delete a bucket (soft: hidden, bytes kept; --permanent: removed)",
				ArgsUsage: "BUCKET",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "permanent", Usage: "remove the bucket and its versions for good"},
					&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "delete even when the bucket still has objects"},
				},
				Action: bucketRemove,
			},
			{
				Name:      "snapshot",
				Usage:     "copy every head of a bucket into a new bucket (no bytes copied)",
				ArgsUsage: "BUCKET",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "name of the new bucket"},
					&cli.BoolFlag{Name: "lock", Usage: "lock the snapshot"},
					jsonFlag,
				},
				Action: bucketSnapshot,
			},
		},
	})
}

func parseTags(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	tags := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("tag %q: want KEY=VALUE", kv)
		}
		tags[k] = v
	}
	return tags, nil
}

func bucketCreate(c *cli.Context) error {
	if err := nArgs(c, 0, 1); err != nil {
		return err
	}
	o := storage.BucketOptions{Name: c.String("name"), Location: c.String("location")}
	if c.NArg() == 1 {
		if o.Name != "" && o.Name != c.Args().First() {
			return usagef("bucket create: name given twice (%q and --name %q)", c.Args().First(), o.Name)
		}
		o.Name = c.Args().First()
	}
	var err error
	if s := c.String("quota"); s != "" {
		if o.QuotaSize, err = parseSize(s); err != nil {
			return err
		}
	}
	if s := c.String("max-file-size"); s != "" {
		if o.MaxFileSize, err = parseSize(s); err != nil {
			return err
		}
	}
	if o.Tags, err = parseTags(c.StringSlice("tag")); err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		b, err := st.CreateBucket(c.Context, o)
		if err != nil {
			return err
		}
		return printBuckets(c, false, b)
	})
}

func printBuckets(c *cli.Context, list bool, bs ...*storage.Bucket) error {
	if wantJSON(c) {
		if !list && len(bs) == 1 {
			return printJSON(c, bs[0])
		}
		if bs == nil {
			bs = []*storage.Bucket{}
		}
		return printJSON(c, bs)
	}
	t := newTable(c, "ID", "NAME", "SIZE", "QUOTA", "MAX FILE", "LOCKED", "CREATED")
	for _, b := range bs {
		name := b.Name
		if name == "" {
			name = "-"
		}
		t.row(b.ID, name, humanSize(b.Size), limitText(b.QuotaSize), limitText(b.MaxFileSize), strconv.FormatBool(b.Locked), timeText(b.Created))
	}
	return t.flush()
}

func bucketList(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		bs, err := st.ListBuckets(c.Context)
		if err != nil {
			return err
		}
		return printBuckets(c, true, bs...)
	})
}

func bucketShow(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		b, err := st.GetBucket(c.Context, c.Args().First())
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, b)
		}
		t := newTable(c, "FIELD", "VALUE")
		t.row("id", b.ID)
		t.row("name", b.Name)
		t.row("location", b.Location)
		t.row("storage class", b.StorageClass)
		t.row("size", fmt.Sprintf("%s (%d bytes)", humanSize(b.Size), b.Size))
		t.row("quota", limitText(b.QuotaSize))
		t.row("max file size", limitText(b.MaxFileSize))
		t.row("locked", strconv.FormatBool(b.Locked))
		for k, v := range b.Tags {
			t.row("tag "+k, v)
		}
		t.row("created", timeText(b.Created))
		t.row("updated", timeText(b.Updated))
		return t.flush()
	})
}

func bucketLock(lock bool) cli.ActionFunc {
	return func(c *cli.Context) error {
		if err := nArgs(c, 1, 1); err != nil {
			return err
		}
		return withStore(c, func(st storage.ObjectStore) error {
			b, err := st.UpdateBucket(c.Context, c.Args().First(), storage.BucketUpdate{Locked: &lock})
			if err != nil {
				return err
			}
			return printBuckets(c, false, b)
		})
	}
}

func bucketTag(c *cli.Context) error {
	if c.NArg() < 2 {
		return nArgs(c, 2, 2)
	}
	tags, err := parseTags(c.Args().Slice()[1:])
	if err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		b, err := st.UpdateBucket(c.Context, c.Args().First(), storage.BucketUpdate{Tags: tags})
		if err != nil {
			return err
		}
		return printBuckets(c, false, b)
	})
}

func bucketRemove(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	ref := c.Args().First()
	return withStore(c, func(st storage.ObjectStore) error {
		if !c.Bool("permanent") {
			if err := st.DeleteBucket(c.Context, ref, !c.Bool("force")); err != nil {
				return fmt.Errorf("bucket %s: %w (use --force to delete a bucket with objects)", ref, err)
			}
			fmt.Fprintf(c.App.Writer, "deleted bucket %s\n", ref)
			return nil
		}
		r, ok := st.(bucketRemover)
		if !ok {
			return fmt.Errorf("bucket rm --permanent: not supported by this store")
		}
		if !c.Bool("force") {
			// Refuse to drop live objects without --force, like the soft delete.
			res, err := st.List(c.Context, ref, storage.ListOptions{Limit: 1})
			if err != nil {
				return err
			}
			if len(res.Objects) > 0 {
				return fmt.Errorf("bucket %s: %w (use --force to remove a bucket with objects)", ref, storage.ErrNotEmpty)
			}
		}
		if err := r.RemoveBucket(c.Context, ref); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "removed bucket %s\n", ref)
		return nil
	})
}

func bucketSnapshot(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		sn, ok := st.(snapshotter)
		if !ok {
			return fmt.Errorf("bucket snapshot: not supported by this store")
		}
		b, err := sn.Snapshot(c.Context, c.Args().First(), storage.BucketOptions{Name: c.String("name")})
		if err != nil {
			return err
		}
		if c.Bool("lock") {
			yes := true
			if b, err = st.UpdateBucket(c.Context, b.ID, storage.BucketUpdate{Locked: &yes}); err != nil {
				return err
			}
		}
		return printBuckets(c, false, b)
	})
}
