package fusefs

import (
	"context"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// writeBackChecker is an optional ability of a WriteBack: refuse, before a
// file is staged, content its bucket can never accept, so close(2) reports
// EFBIG or EDQUOT at once instead of an upload failing in the background.
// The content then stays staged in the mount, as after any failed commit.
type writeBackChecker interface {
	Check(ctx context.Context, bucket, key string, size int64) error
}

// checkWriteBack runs the WriteBack's check when it has one.
func checkWriteBack(ctx context.Context, wb WriteBack, bucket, key string, size int64) error {
	if c, ok := wb.(writeBackChecker); ok {
		return c.Check(ctx, bucket, key, size)
	}
	return nil
}

// writeBackNamespace is an optional ability of a WriteBack: renames and
// deletes of keys whose content is still queued. The WriteBack runs the
// store change (move, del) while no upload of the keys is in flight and
// then moves or drops the queued content, so a saved-then-renamed file is
// uploaded under its new name and a saved-then-removed one never comes
// back.
type writeBackNamespace interface {
	Rename(ctx context.Context, bucket, src, dst string, move func() error) error
	RenamePrefix(ctx context.Context, bucket, src, dst string, move func() error) error
	Remove(ctx context.Context, bucket, key string, del func() error) error
}

// movePrefixQueued is movePrefix through the WriteBack's queue.
func (m *mountFS) movePrefixQueued(ctx context.Context, bucket, src, dst string) error {
	move := func() error { return m.movePrefix(ctx, bucket, src, dst) }
	if ns, ok := m.opts.WriteBack.(writeBackNamespace); ok {
		return ns.RenamePrefix(ctx, bucket, src, dst, move)
	}
	return move()
}

// moveKeyQueued is moveKey through the WriteBack's queue when it has one.
func (m *mountFS) moveKeyQueued(ctx context.Context, bucket, src, dst string) error {
	move := func() error { return m.moveKey(ctx, bucket, src, dst) }
	if ns, ok := m.opts.WriteBack.(writeBackNamespace); ok {
		return ns.Rename(ctx, bucket, src, dst, move)
	}
	return move()
}

// deleteKeyQueued writes a delete marker for key, dropping queued content.
func (m *mountFS) deleteKeyQueued(ctx context.Context, bucket, key string) error {
	del := func() error {
		_, err := m.store.Delete(ctx, bucket, key, storage.DeleteOptions{})
		return err
	}
	if ns, ok := m.opts.WriteBack.(writeBackNamespace); ok {
		return ns.Remove(ctx, bucket, key, del)
	}
	return del()
}

// writeBackLister is an optional ability of a WriteBack: the names of the
// files directly under prefix whose content is queued, so a listing shows a
// new file before its upload has finished.
type writeBackLister interface {
	StagedNames(bucket, prefix string) []string
}

// stagedEntries are the directory entries of queued files under prefix.
func (m *mountFS) stagedEntries(bucket, prefix string) []fuse.DirEntry {
	l, ok := m.opts.WriteBack.(writeBackLister)
	if !ok {
		return nil
	}
	var out []fuse.DirEntry
	for _, name := range l.StagedNames(bucket, prefix) {
		out = append(out, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: inoOf('f', bucket, prefix+name)})
	}
	return out
}
