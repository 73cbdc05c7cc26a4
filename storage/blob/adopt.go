package blob

import (
	"context"
	"os"
	"path/filepath"
)

// Adopter is an optional ability of a backend: take an existing file as
// the content of a new blob by renaming it, so a big file written
// elsewhere on the same file system is not copied a second time.
type Adopter interface {
	// Adopt renames the file at path to blob id; see Local.Adopt. A file
	// on another file system fails with an error matching syscall.EXDEV.
	Adopt(ctx context.Context, path, id string, noSync bool) error
	// Unadopt moves blob id back to path (undoing an Adopt whose metadata
	// commit failed), so the caller still owns its content.
	Unadopt(id, path string) error
}

var _ Adopter = (*Local)(nil)

// Unadopt renames blob id back to path.
func (l *Local) Unadopt(id, path string) error {
	src, err := l.Path(id)
	if err != nil {
		return err
	}
	if err := os.Rename(src, path); err != nil {
		return wrap("blob: unadopt", err)
	}
	l.mu.Lock()
	delete(l.unsynced, id)
	l.mu.Unlock()
	os.Remove(filepath.Dir(src))
	return nil
}
