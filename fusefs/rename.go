package fusefs

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
)

const (
	renameNoReplace = 1 // RENAME_NOREPLACE
	renameExchange  = 2 // RENAME_EXCHANGE
)

// Rename moves a file, or a whole directory, within a bucket. With a
// Mover it is one atomic store step (metadata only); without one it is a
// Copy and a Delete per key. Across buckets it is EXDEV, so mv(1) copies.
func (d *dirNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*dirNode)
	if !ok {
		if _, root := newParent.(*rootNode); root {
			return syscall.EXDEV
		}
		return syscall.EROFS // into a read-only version view
	}
	if flags&renameExchange != 0 || flags&^uint32(renameNoReplace) != 0 {
		return syscall.EINVAL
	}
	if name == versionsName {
		return syscall.EPERM
	}
	bucket, srcPrefix, ok := d.where()
	if !ok {
		return syscall.ENOENT
	}
	dstBucket, dstKey, errno := np.target(newName)
	if errno != 0 {
		return errno
	}
	if dstBucket != bucket {
		return syscall.EXDEV
	}
	srcKey := srcPrefix + name
	ctx2 := d.m.ctx(ctx)

	src := d.GetChild(name)
	dst := np.GetChild(newName)
	isDir := false
	switch op := opsOf(src).(type) {
	case *dirNode:
		isDir = true
	case nil:
		if _, err := d.m.store.Stat(ctx2, bucket, srcKey, ""); errors.Is(err, storage.ErrNotFound) {
			isDir = true
		}
	case *fileNode:
		_ = op
	default:
		return syscall.EPERM
	}
	if flags&renameNoReplace != 0 {
		if dst != nil || d.m.exists(ctx2, bucket, dstKey) {
			return syscall.EEXIST
		}
	}

	if !isDir {
		fn, _ := opsOf(src).(*fileNode)
		if fn != nil {
			if err := fn.commitClosed(ctx2); err != nil {
				return toErrno(err)
			}
		}
		if fn == nil || !fn.pending() {
			if err := d.m.moveKeyQueued(ctx2, bucket, srcKey, dstKey); err != nil {
				return toErrno(err)
			}
		}
	} else {
		sp, dp := srcKey+"/", dstKey+"/"
		if strings.HasPrefix(dp, sp) {
			return syscall.EINVAL
		}
		if dst != nil && hasPending(dst) {
			return syscall.ENOTEMPTY
		}
		// Replacing an empty directory: drop its marker first.
		res, err := d.m.store.List(ctx2, bucket, storage.ListOptions{Prefix: dp, Limit: 2})
		if err != nil {
			return toErrno(err)
		}
		for _, o := range res.Objects {
			if o.Key != dp {
				return syscall.ENOTEMPTY
			}
			if _, err := d.m.store.Delete(ctx2, bucket, dp, storage.DeleteOptions{}); err != nil {
				return toErrno(err)
			}
		}
		if len(res.Prefixes) > 0 {
			return syscall.ENOTEMPTY
		}
		if err := d.m.movePrefixQueued(ctx2, bucket, sp, dp); err != nil {
			return toErrno(err)
		}
	}
	if fn, ok := opsOf(dst).(*fileNode); ok {
		fn.markUnlinked()
	}
	if d != np {
		d.keepDir(ctx, bucket, srcPrefix)
	}
	return 0
}

// exists reports whether key is a file or a directory in the store.
func (m *mountFS) exists(ctx context.Context, bucket, key string) bool {
	if _, err := m.store.Stat(ctx, bucket, key, ""); err == nil {
		return true
	}
	res, err := m.store.List(ctx, bucket, storage.ListOptions{Prefix: key + "/", Limit: 1})
	return err == nil && (len(res.Objects) > 0 || len(res.Prefixes) > 0)
}

func (m *mountFS) moveKey(ctx context.Context, bucket, src, dst string) error {
	if m.mover != nil {
		return m.mover.Move(ctx, bucket, src, dst)
	}
	v, err := m.store.Stat(ctx, bucket, src, "")
	if err != nil {
		return err
	}
	if _, err := m.store.Copy(ctx, storage.CopySource{Bucket: bucket, Key: src, VersionID: v.VersionID}, bucket, dst, storage.PutOptions{Size: -1, Attrs: v.Attrs, Mimetype: v.Mimetype}); err != nil {
		return err
	}
	_, err = m.store.Delete(ctx, bucket, src, storage.DeleteOptions{})
	return err
}

// movePrefix moves every key under src (a prefix ending in "/") to dst.
func (m *mountFS) movePrefix(ctx context.Context, bucket, src, dst string) error {
	if m.mover != nil {
		err := m.mover.Move(ctx, bucket, src, dst)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // only files that are still being written: nothing stored yet
		}
		return err
	}
	// Collect first: moving while paging would skip or repeat keys.
	var keys []string
	after := ""
	for {
		res, err := m.store.List(ctx, bucket, storage.ListOptions{Prefix: src, After: after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			keys = append(keys, o.Key)
		}
		if res.Next == "" || len(res.Objects) == 0 {
			break
		}
		after = res.Next
	}
	for _, k := range keys {
		if err := m.moveKey(ctx, bucket, k, dst+strings.TrimPrefix(k, src)); err != nil {
			return err
		}
	}
	return nil
}
