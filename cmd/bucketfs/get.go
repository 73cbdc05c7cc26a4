package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

func init() {
	versionFlag := &cli.StringFlag{Name: "version", Aliases: []string{"v"}, Usage: "version id (default: the head)"}
	commands = append(commands,
		&cli.Command{
			Name:      "get",
			Usage:     "download a version of a key to a file (or stdout)",
			ArgsUsage: "BUCKET/KEY [FILE|-]",
			Flags:     []cli.Flag{versionFlag},
			Action:    getAction,
		},
		&cli.Command{
			Name:      "cat",
			Usage:     "write a version of a key to stdout",
			ArgsUsage: "BUCKET/KEY",
			Flags:     []cli.Flag{versionFlag},
			Action: func(c *cli.Context) error {
				if err := nArgs(c, 1, 1); err != nil {
					return err
				}
				return getAction(c)
			},
		},
	)
}

func getAction(c *cli.Context) error {
	if err := nArgs(c, 1, 2); err != nil {
		return err
	}
	bucket, key, err := splitPath(c.Args().Get(0), false)
	if err != nil {
		return err
	}
	dst := c.Args().Get(1)
	return withStore(c, func(st storage.ObjectStore) error {
		rc, v, err := st.Get(c.Context, bucket, key, c.String("version"), 0, -1)
		if err != nil {
			return err
		}
		defer rc.Close()
		if dst == "" || dst == "-" {
			_, err = io.Copy(c.App.Writer, rc)
			return err
		}
		if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
			dst = filepath.Join(dst, filepath.Base(key))
		}
		return writeFileAtomic(dst, rc, v)
	})
}

// writeFileAtomic writes r to a temp file beside dst and renames it, so a
// failed download never leaves a truncated file under dst's name.
func writeFileAtomic(dst string, r io.Reader, v *storage.ObjectVersion) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".bucketfs-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, r)
	if err == nil && n != v.Size() {
		err = fmt.Errorf("download of %s ended after %d of %d bytes: %w", v.Key, n, v.Size(), storage.ErrShortBody)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
