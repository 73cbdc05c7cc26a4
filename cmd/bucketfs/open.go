package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// openRemote opens the store of a bucketfs server (--remote). The remote
// client's helper sets it in its own file; nil means this binary was built
// without one.
var openRemote func(c *cli.Context) (storage.ObjectStore, error)

// openStore opens the store the command line names: the server of --remote,
// or else the local data directory. The caller closes it.
func openStore(c *cli.Context) (storage.ObjectStore, error) {
	if u := c.String("remote"); u != "" {
		if openRemote == nil {
			return nil, fmt.Errorf("--remote %s: this bucketfs binary has no remote client; use --data for a local store", u)
		}
		return openRemote(c)
	}
	s, err := openLocal(c)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// openLocal opens the data directory of --data (created on first use),
// for commands that need the local store itself (serve, gc).
func openLocal(c *cli.Context) (*storage.Store, error) {
	dir := c.String("data")
	if dir == "" {
		return nil, usagef("no data directory: set --data or BUCKETFS_DATA (or HOME)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	opts := storage.DefaultOptions()
	opts.Logger = logger(c)
	s, err := storage.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("open data directory %s: %w", dir, err)
	}
	return s, nil
}

// defaultDataDir is $XDG_DATA_HOME/bucketfs, else ~/.local/share/bucketfs.
func defaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "bucketfs")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "bucketfs")
	}
	return ""
}

// withStore runs fn with the store of the command line and closes it.
func withStore(c *cli.Context, fn func(st storage.ObjectStore) error) (err error) {
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := st.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	return fn(st)
}

// closeTimeout bounds closing the store at the end of a long-running
// command (serve, mount). Badger retries a failing memtable flush forever (a vanished data
// directory, a dead disk), and a server that ignores SIGTERM is worse than
// one that exits with an error: everything acknowledged is already in the
// index's log, which the next open replays.
const closeTimeout = time.Minute

// closeStoreBounded closes st, giving up after closeTimeout with an error.
func closeStoreBounded(st io.Closer) error {
	done := make(chan error, 1)
	go func() { done <- st.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(closeTimeout):
		return fmt.Errorf("the store did not close within %v (is the data directory still there?); acknowledged writes are kept in its log", closeTimeout)
	}
}
