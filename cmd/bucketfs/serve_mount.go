package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bucketfs/bucketfs/fusefs"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// mountFromServe mounts the store that serve already holds at
// `serve --mount MNT`: badger allows one opener per data directory, so a
// person who wants both the HTTP API and a drive runs them in one process.
// The returned function unmounts; it is safe to call once the mount is gone.
func mountFromServe(c *cli.Context, st storage.ObjectStore, originOf func(int) (storage.Origin, bool), log *slog.Logger) (unmount func(), err error) {
	mnt, err := filepath.Abs(c.String("mount"))
	if err != nil {
		return nil, err
	}
	if err := fusefs.CheckFUSE(); err != nil {
		return nil, err
	}
	if err := fusefs.PrepareMountpoint(mnt); err != nil {
		return nil, err
	}
	data := c.String("data")
	opts := fusefs.DefaultOptions()
	opts.FsName = "bucketfs:" + data
	opts.StagingDir = filepath.Join(data, "mount-staging")
	opts.ShowVersions = c.Bool("show-versions")
	opts.AllowOther = c.Bool("allow-other")
	opts.Logger = log
	opts.OriginOf = originOf
	// Files being written when a previous mount died were never closed, so
	// nothing acknowledged lives here.
	os.RemoveAll(opts.StagingDir)
	srv, err := fusefs.Mount(context.Background(), st, mnt, opts)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return nil, fmt.Errorf("%w: %v", fusefs.ErrMountBusy, err)
		}
		return nil, err
	}
	fmt.Fprintf(c.App.Writer, "mounted on %s\n", mnt)
	done := make(chan struct{})
	go func() {
		srv.Wait()
		close(done)
		log.Info("mount ended", "dir", mnt)
	}()
	return func() {
		select {
		case <-done:
			return // unmounted from outside; serving went on without it
		default:
		}
		if err := srv.Unmount(); err != nil {
			log.Warn("unmount", "dir", mnt, "err", err)
			return
		}
		<-done
	}, nil
}
