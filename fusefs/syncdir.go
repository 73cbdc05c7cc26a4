package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

var (
	_ fs.NodeFsyncer = (*dirNode)(nil)
	_ fs.NodeFsyncer = (*rootNode)(nil)
)

// Fsync of a directory makes the namespace changes made through the mount
// (creates, unlinks, renames, mkdirs) power-loss durable, as fsync of a
// directory does on a local file system.
func (d *dirNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return toErrno(d.m.syncStore(ctx))
}

// Fsync of the mount root: the same, for bucket creation and removal.
func (r *rootNode) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	return toErrno(r.m.syncStore(ctx))
}
