package fusefs

import (
	"context"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// rootNode is the mount root: one directory per bucket. Files cannot live
// here (a key needs a bucket), so create, symlink and mknod are refused.
type rootNode struct {
	fs.Inode
	dirXattrs
	m *mountFS
}

var (
	_ fs.NodeLookuper  = (*rootNode)(nil)
	_ fs.NodeReaddirer = (*rootNode)(nil)
	_ fs.NodeMkdirer   = (*rootNode)(nil)
	_ fs.NodeRmdirer   = (*rootNode)(nil)
	_ fs.NodeGetattrer = (*rootNode)(nil)
	_ fs.NodeStatfser  = (*rootNode)(nil)
	_ fs.NodeCreater   = (*rootNode)(nil)
	_ fs.NodeRenamer   = (*rootNode)(nil)
	_ fs.NodeSymlinker = (*rootNode)(nil)
	_ fs.NodeMknoder   = (*rootNode)(nil)
	_ fs.NodeLinker    = (*rootNode)(nil)
)

// bucketDirName is the directory name of a bucket: its name, or its id.
func bucketDirName(b *storage.Bucket) string {
	if b.Name != "" {
		return b.Name
	}
	return b.ID
}

func (r *rootNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0755
	out.Nlink = 2
	out.Uid, out.Gid = r.m.opts.UID, r.m.opts.GID
	// The root has no record of its own: it shows the mount's start.
	setTime(&out.Mtime, &out.Mtimensec, r.m.started)
	setTime(&out.Atime, &out.Atimensec, r.m.started)
	setTime(&out.Ctime, &out.Ctimensec, r.m.started)
	return 0
}

func (r *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	r.m.statfsLocal(out)
	return 0
}

func (r *rootNode) bucketNode(ctx context.Context, b *storage.Bucket, out *fuse.EntryOut) *fs.Inode {
	name := bucketDirName(b)
	a := fileAttr{mode: 0755, uid: r.m.opts.UID, gid: r.m.opts.GID, mtime: b.Created.UnixNano(), ctime: b.Updated.UnixNano()}
	if a.ctime == 0 {
		a.ctime = a.mtime
	}
	a.fill(&out.Attr, syscall.S_IFDIR)
	if ch := r.GetChild(name); ch != nil {
		if d, ok := ch.Operations().(*dirNode); ok {
			d.setAttr(a)
			return ch
		}
	}
	d := &dirNode{m: r.m, attr: a}
	return r.NewInode(ctx, d, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoOf('b', b.ID), Gen: r.m.gen()})
}

func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	start := r.m.epoch.Load()
	ch, errno := r.lookup(ctx, name, out)
	r.m.settleEntry(start, out)
	return ch, errno
}

func (r *rootNode) lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	b, err := r.m.store.GetBucket(r.m.ctx(ctx), name)
	if err != nil {
		return nil, toErrno(err)
	}
	if b.Deleted || bucketDirName(b) != name {
		// A bucket with a name is shown only under its name, so one
		// bucket never appears as two directories.
		return nil, syscall.ENOENT
	}
	return r.bucketNode(ctx, b, out), 0
}

func (r *rootNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	bs, err := r.m.store.ListBuckets(r.m.ctx(ctx))
	if err != nil {
		return nil, toErrno(err)
	}
	list := make([]fuse.DirEntry, 0, len(bs)+2)
	list = append(list, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: 1}, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: 1})
	for _, b := range bs {
		if b.Deleted {
			continue
		}
		list = append(list, fuse.DirEntry{Name: bucketDirName(b), Mode: syscall.S_IFDIR, Ino: inoOf('b', b.ID)})
	}
	return newSliceStream(list), 0
}

// Mkdir at the root creates a bucket named name.
func (r *rootNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if errno := checkName(name); errno != 0 {
		return nil, errno
	}
	b, err := r.m.store.CreateBucket(r.m.ctx(ctx), storage.BucketOptions{Name: name})
	if err != nil {
		return nil, toErrno(err)
	}
	return r.bucketNode(ctx, b, out), 0
}

// Rmdir at the root removes an empty bucket (a soft delete in the store,
// like the API's).
func (r *rootNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	if ch := r.GetChild(name); ch != nil && hasPending(ch) {
		return syscall.ENOTEMPTY
	}
	return toErrno(r.m.store.DeleteBucket(r.m.ctx(ctx), name, true))
}

func (r *rootNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EPERM // only buckets (directories) live at the root
}

func (r *rootNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (r *rootNode) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (r *rootNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// Rename of a bucket is refused with EXDEV: buckets cannot be renamed in
// the store, and EXDEV makes mv(1) fall back to copy + delete.
func (r *rootNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EXDEV
}

// hasPending reports whether n's subtree holds a file that is open and not
// yet in the store (so the directory is not empty although the store says so).
func hasPending(n *fs.Inode) bool {
	for _, ch := range n.Children() {
		switch op := ch.Operations().(type) {
		case *fileNode:
			if op.pending() {
				return true
			}
		case *dirNode:
			if hasPending(ch) {
				return true
			}
		}
	}
	return false
}

// now is the time stamp of a change made through the mount.
func now() int64 { return time.Now().UnixNano() }
