package main

import (
	"fmt"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands,
		&cli.Command{
			Name:      "rm",
			Usage:     "delete a key (a delete marker; old versions stay), or remove one version for good",
			ArgsUsage: "BUCKET/KEY",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "version", Aliases: []string{"v"}, Usage: "remove this version permanently"},
				&cli.StringFlag{Name: "if-match", Usage: "only if the head is this version"},
				jsonFlag,
			},
			Action: rmAction,
		},
		&cli.Command{
			Name:      "restore",
			Usage:     "make an old version the new head of its key",
			ArgsUsage: "BUCKET/KEY VERSION",
			Flags:     []cli.Flag{jsonFlag},
			Action:    restoreAction,
		},
	)
}

func storageNotFound(bucket, key string) error {
	return fmt.Errorf("%s/%s: %w", bucket, key, storage.ErrNotFound)
}

func rmAction(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	bucket, key, err := splitPath(c.Args().First(), false)
	if err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		if id := c.String("version"); id != "" {
			if err := st.RemoveVersion(c.Context, bucket, key, id); err != nil {
				return err
			}
			if wantJSON(c) {
				return printJSON(c, map[string]string{"removed": id})
			}
			fmt.Fprintf(c.App.Writer, "removed version %s of %s/%s\n", id, bucket, key)
			return nil
		}
		m, err := st.Delete(c.Context, bucket, key, storage.DeleteOptions{IfMatch: c.String("if-match")})
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, m)
		}
		fmt.Fprintf(c.App.Writer, "deleted %s/%s (delete marker %s)\n", bucket, key, m.VersionID)
		return nil
	})
}

func restoreAction(c *cli.Context) error {
	if err := nArgs(c, 2, 2); err != nil {
		return err
	}
	bucket, key, err := splitPath(c.Args().First(), false)
	if err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		v, err := st.Restore(c.Context, bucket, key, c.Args().Get(1))
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, v)
		}
		fmt.Fprintf(c.App.Writer, "restored %s/%s: new head %s\n", bucket, key, v.VersionID)
		return nil
	})
}
