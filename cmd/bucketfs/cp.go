package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands,
		&cli.Command{
			Name:      "cp",
			Usage:     "copy a key to another key or bucket (no bytes copied)",
			ArgsUsage: "SRC_BUCKET/KEY DST_BUCKET[/KEY]",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "version", Aliases: []string{"v"}, Usage: "copy this version of the source (default: the head)"},
				jsonFlag,
			},
			Action: cpAction,
		},
		&cli.Command{
			Name:      "mv",
			Usage:     "rename a key, or every key under a prefix ending in /",
			ArgsUsage: "SRC_BUCKET/KEY DST_BUCKET[/KEY]",
			Action:    mvAction,
		},
	)
}

// destination resolves DST_BUCKET[/KEY]: an empty key or one ending in "/"
// receives the source's base name.
func destination(dst, srcKey string) (bucket, key string, err error) {
	bucket, key, err = splitPath(dst, true)
	if err != nil {
		return "", "", err
	}
	if key == "" || strings.HasSuffix(key, "/") {
		key += path.Base(strings.TrimSuffix(srcKey, "/"))
	}
	return bucket, key, nil
}

func cpAction(c *cli.Context) error {
	if err := nArgs(c, 2, 2); err != nil {
		return err
	}
	sb, sk, err := splitPath(c.Args().Get(0), false)
	if err != nil {
		return err
	}
	db, dk, err := destination(c.Args().Get(1), sk)
	if err != nil {
		return err
	}
	return withStore(c, func(st storage.ObjectStore) error {
		v, err := st.Copy(c.Context, storage.CopySource{Bucket: sb, Key: sk, VersionID: c.String("version")}, db, dk, storage.PutOptions{Size: -1})
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, v)
		}
		fmt.Fprintf(c.App.Writer, "copied %s/%s to %s/%s version %s\n", sb, sk, db, dk, v.VersionID)
		return nil
	})
}

func mvAction(c *cli.Context) error {
	if err := nArgs(c, 2, 2); err != nil {
		return err
	}
	sb, sk, err := splitPath(c.Args().Get(0), false)
	if err != nil {
		return err
	}
	db, dk, err := splitPath(c.Args().Get(1), true)
	if err != nil {
		return err
	}
	prefix := strings.HasSuffix(sk, "/")
	if prefix && dk != "" && !strings.HasSuffix(dk, "/") {
		return usagef("mv: %s is a prefix, so the destination must end in / too", sk)
	}
	if !prefix {
		if dk == "" || strings.HasSuffix(dk, "/") {
			dk += path.Base(sk)
		}
	} else if dk == "" {
		dk = path.Base(strings.TrimSuffix(sk, "/")) + "/"
	}
	return withStore(c, func(st storage.ObjectStore) error {
		if mv, ok := st.(storage.Mover); ok && sb == db {
			if err := mv.Move(c.Context, sb, sk, dk); err != nil {
				return err
			}
		} else if err := copyDelete(c, st, sb, sk, db, dk, prefix); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "moved %s/%s to %s/%s\n", sb, sk, db, dk)
		return nil
	})
}

// copyDelete moves without the Mover ability: copy each key, then delete it.
// It is not atomic; a failure midway leaves some keys at both names.
func copyDelete(c *cli.Context, st storage.ObjectStore, sb, sk, db, dk string, prefix bool) error {
	keys := []string{sk}
	if prefix {
		keys = nil
		o := storage.ListOptions{Prefix: sk}
		for {
			r, err := st.List(c.Context, sb, o)
			if err != nil {
				return err
			}
			for _, v := range r.Objects {
				keys = append(keys, v.Key)
			}
			if r.Next == "" || r.Next == o.After {
				break
			}
			o.After = r.Next
		}
		if len(keys) == 0 {
			return storageNotFound(sb, sk)
		}
	}
	for _, k := range keys {
		to := dk
		if prefix {
			to = dk + strings.TrimPrefix(k, sk)
		}
		if _, err := st.Copy(c.Context, storage.CopySource{Bucket: sb, Key: k}, db, to, storage.PutOptions{Size: -1}); err != nil {
			return err
		}
		if _, err := st.Delete(c.Context, sb, k, storage.DeleteOptions{}); err != nil {
			return err
		}
	}
	return nil
}
