package blob

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"
)

// CommitNoSync renames the temp file under id like Commit but leaves the
// bytes and the new directory entries to the next Flush. The blob is
// complete and readable at once; only its power-loss durability waits.
func (w *localWriter) CommitNoSync(ctx context.Context, id string) error {
	dst, dirs, err := w.destination(id)
	if err != nil {
		return err
	}
	if err := w.f.Close(); err != nil {
		w.Abort()
		return wrap("blob: close", err)
	}
	if err := os.Rename(w.f.Name(), dst); err != nil {
		w.Abort()
		return wrap("blob: rename", err)
	}
	w.l.mu.Lock()
	w.l.unsynced[id] = append(dirs, filepath.Dir(dst))
	w.l.mu.Unlock()
	w.finish()
	return nil
}

// Flush fsyncs the blobs published by CommitNoSync and the directories
// naming them. They are tracked one by one rather than synced with
// syncfs(2): syncfs would also wait for every other dirty file of the
// filesystem (other programs share it), while this costs exactly our own
// unsynced blobs, concurrently so the filesystem can merge their journal
// commits. A blob removed meanwhile is skipped: nothing refers to it.
func (l *Local) Flush(ctx context.Context) error {
	l.mu.Lock()
	if len(l.unsynced) == 0 {
		l.mu.Unlock()
		return nil
	}
	files := make([]string, 0, len(l.unsynced))
	dirSet := map[string]bool{}
	for id, dirs := range l.unsynced {
		if p, err := l.Path(id); err == nil {
			files = append(files, p)
		}
		for _, d := range dirs {
			dirSet[d] = true
		}
	}
	clear(l.unsynced)
	l.mu.Unlock()
	var g errgroup.Group
	g.SetLimit(16)
	fsyncPath := func(p string) {
		g.Go(func() error {
			f, err := os.Open(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return wrap("blob: flush", err)
			}
			defer f.Close()
			if err := f.Sync(); err != nil {
				return wrap("blob: fsync", err)
			}
			return nil
		})
	}
	for _, p := range files {
		fsyncPath(p)
	}
	for d := range dirSet {
		fsyncPath(d)
	}
	return g.Wait()
}

// Adopt publishes the existing file path (on the same filesystem as the
// root; it is renamed, not copied) as blob id. Without noSync the file and
// the directories naming it are fsynced before Adopt returns; with noSync
// they wait for the next Flush, like CommitNoSync.
func (l *Local) Adopt(ctx context.Context, path, id string, noSync bool) error {
	dst, err := l.Path(id)
	if err != nil {
		return err
	}
	dirs, err := l.mkdirs(filepath.Dir(dst))
	if err != nil {
		return err
	}
	if err := os.Rename(path, dst); err != nil {
		return wrap("blob: adopt", err)
	}
	dirs = append(dirs, filepath.Dir(dst))
	l.mu.Lock()
	l.unsynced[id] = dirs
	l.mu.Unlock()
	if noSync {
		return nil
	}
	// Syncing everything unsynced is simplest and costs little more:
	// concurrent fsyncs share journal commits.
	return l.Flush(ctx)
}
