package fusefs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirNode is a bucket root or a directory below it (a key prefix).
type dirNode struct {
	fs.Inode
	dirXattrs
	m *mountFS

	mu        sync.Mutex
	attr      fileAttr
	hasMarker bool // an explicit directory marker object exists
}

var (
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeSetattrer = (*dirNode)(nil)
	_ fs.NodeCreater   = (*dirNode)(nil)
	_ fs.NodeMkdirer   = (*dirNode)(nil)
	_ fs.NodeUnlinker  = (*dirNode)(nil)
	_ fs.NodeRmdirer   = (*dirNode)(nil)
	_ fs.NodeRenamer   = (*dirNode)(nil)
	_ fs.NodeSymlinker = (*dirNode)(nil)
	_ fs.NodeLinker    = (*dirNode)(nil)
	_ fs.NodeMknoder   = (*dirNode)(nil)
	_ fs.NodeStatfser  = (*dirNode)(nil)
	_ fs.NodeTmpfiler  = (*dirNode)(nil)
)

func (d *dirNode) setAttr(a fileAttr) {
	d.mu.Lock()
	d.attr = a
	d.mu.Unlock()
}

// where returns the bucket and the key prefix ("" at a bucket root, else
// ending in "/").
func (d *dirNode) where() (bucket, prefix string, ok bool) {
	bucket, path, ok := locate(&d.Inode)
	if !ok || bucket == "" {
		return "", "", false
	}
	if path != "" {
		path += "/"
	}
	return bucket, path, true
}

func (d *dirNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.mu.Lock()
	d.attr.fill(&out.Attr, syscall.S_IFDIR)
	d.mu.Unlock()
	return 0
}

func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	bucket, _, ok := d.where()
	if !ok {
		d.m.statfsLocal(out)
		return 0
	}
	return d.m.statfsBucket(ctx, bucket, out)
}

// Setattr keeps mode, owner and mtime of a directory in its marker object
// (creating the marker for an implied directory). A bucket root has no
// marker: its attributes live only as long as the mount.
func (d *dirNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetSize(); ok {
		return syscall.EISDIR
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.attr
	if mode, ok := in.GetMode(); ok {
		a.mode = mode & 07777
	}
	if uid, ok := in.GetUID(); ok {
		a.uid = uid
	}
	if gid, ok := in.GetGID(); ok {
		a.gid = gid
	}
	if mt, ok := in.GetMTime(); ok {
		a.mtime = mt.UnixNano()
	}
	a.ctime = now()
	bucket, prefix, ok := d.where()
	if ok && prefix != "" {
		if err := d.m.putMarker(ctx, bucket, prefix, a); err != nil {
			return toErrno(err)
		}
		d.hasMarker = true
	}
	d.attr = a
	d.attr.fill(&out.Attr, syscall.S_IFDIR)
	return 0
}

// putMarker writes (or updates in place) the marker of an explicit
// directory with the attributes a.
func (m *mountFS) putMarker(ctx context.Context, bucket, prefix string, a fileAttr) error {
	ctx = m.ctx(ctx)
	v, err := m.store.Stat(ctx, bucket, prefix, "")
	if err == nil {
		_, err = m.store.SetAttrs(ctx, bucket, prefix, v.VersionID, posixAttrs(a, v.Attrs))
	} else if errors.Is(err, storage.ErrNotFound) {
		_, err = m.store.Put(ctx, bucket, prefix, strings.NewReader(""), storage.PutOptions{Size: 0, Attrs: posixAttrs(a, nil)})
	}
	return err
}

func (d *dirNode) defaultAttr(mode uint32) fileAttr {
	t := now()
	return fileAttr{mode: mode, uid: d.m.opts.UID, gid: d.m.opts.GID, mtime: t, ctime: t}
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	start := d.m.epoch.Load()
	ch, errno := d.lookup(ctx, name, out)
	d.m.settleEntry(start, out)
	return ch, errno
}

func (d *dirNode) lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	bucket, prefix, ok := d.where()
	if !ok {
		return nil, syscall.ENOENT
	}
	if name == versionsName {
		return d.m.versionsDir(ctx, &d.Inode, bucket, prefix, out), 0
	}
	key := prefix + name
	if errno := checkKey(key); errno != 0 {
		return nil, errno
	}
	existing := d.GetChild(name)
	if fn, ok := opsOf(existing).(*fileNode); ok {
		fn.mu.Lock()
		if fn.st != nil {
			// Open here: the node's state is what this mount shows (a
			// reader's snapshot, or a writer's newer content).
			fn.fillLocked(&out.Attr)
			fn.mu.Unlock()
			return existing, 0
		}
		fn.mu.Unlock()
	}
	ctx2 := d.m.ctx(ctx)
	if f, size, ok := d.m.openStaged(bucket, key); ok {
		f.Close()
		return d.fileChild(ctx, existing, bucket, key, nil, size, out), 0
	}
	v, err := d.m.store.Stat(ctx2, bucket, key, "")
	if err == nil {
		return d.fileChild(ctx, existing, bucket, key, v, 0, out), 0
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return nil, toErrno(err)
	}
	res, err := d.m.store.List(ctx2, bucket, storage.ListOptions{Prefix: key + "/", Limit: 1})
	if err != nil {
		return nil, toErrno(err)
	}
	if len(res.Objects) == 0 && len(res.Prefixes) == 0 {
		return nil, syscall.ENOENT
	}
	a := d.defaultAttr(0755)
	marker := false
	if len(res.Objects) > 0 && res.Objects[0].Key == key+"/" {
		marker = true
		a = d.m.attrFromVersion(res.Objects[0], 0755)
	} else if len(res.Objects) > 0 {
		a.mtime = res.Objects[0].Created.UnixNano()
		a.ctime = a.mtime
	}
	a.fill(&out.Attr, syscall.S_IFDIR)
	if dn, ok := opsOf(existing).(*dirNode); ok {
		dn.mu.Lock()
		dn.attr, dn.hasMarker = a, marker
		dn.mu.Unlock()
		return existing, 0
	}
	dn := &dirNode{m: d.m, attr: a, hasMarker: marker}
	return d.NewInode(ctx, dn, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoOf('d', bucket, key+"/"), Gen: d.m.gen()}), 0
}

// fileChild returns the node of a file (reusing the one the kernel knows
// when its type still matches) with fresh attributes in out.
func (d *dirNode) fileChild(ctx context.Context, existing *fs.Inode, bucket, key string, v *storage.ObjectVersion, stagedSize int64, out *fuse.EntryOut) *fs.Inode {
	var fn *fileNode
	if existing != nil {
		fn, _ = existing.Operations().(*fileNode)
	}
	fresh := &fileNode{m: d.m}
	if v != nil {
		fresh.setVersionLocked(v)
	} else if fn != nil {
		fn.mu.Lock()
		fresh.attr, fresh.symlink = fn.attr, fn.symlink
		fn.mu.Unlock()
		fresh.attr.size = stagedSize
	} else {
		fresh.attr = d.defaultAttr(0644)
		fresh.attr.size = stagedSize
	}
	if fn != nil {
		// typ reads symlink, which concurrent lookups of the same node
		// write: compare under the node's lock.
		fn.mu.Lock()
		if fn.typ() == fresh.typ() {
			if !fn.localNewerLocked() {
				fn.attr, fn.symlink = fresh.attr, fresh.symlink
			}
			fn.fillLocked(&out.Attr)
			fn.mu.Unlock()
			return existing
		}
		fn.mu.Unlock()
	}
	fresh.fillLocked(&out.Attr)
	kind := byte('f')
	if fresh.symlink != "" {
		kind = 'l'
	}
	return d.NewInode(ctx, fresh, fs.StableAttr{Mode: fresh.typ(), Ino: inoOf(kind, bucket, key), Gen: d.m.gen()})
}

// target returns bucket and key for a new child name.
func (d *dirNode) target(name string) (bucket, key string, errno syscall.Errno) {
	if errno := checkName(name); errno != 0 {
		return "", "", errno
	}
	bucket, prefix, ok := d.where()
	if !ok {
		return "", "", syscall.ENOENT
	}
	key = prefix + name
	if errno := checkKey(key + "/"); errno != 0 {
		return "", "", errno
	}
	return bucket, key, 0
}

func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	bucket, key, errno := d.target(name)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	uid, gid := d.m.caller(ctx)
	t := now()
	fn := &fileNode{m: d.m, attr: fileAttr{mode: mode & 07777, uid: uid, gid: gid, mtime: t, ctime: t}}
	st := &openState{attrs: map[string]string{}, dirty: true, handles: 1}
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if writable {
		st.writers, st.active = 1, 1
	}
	st.data = newStaging(d.m.stage, d.m.opts.MemoryStaging)
	fn.st = st
	fn.fillLocked(&out.Attr)
	ch := d.NewInode(ctx, fn, fs.StableAttr{Mode: syscall.S_IFREG, Ino: inoOf('f', bucket, key), Gen: d.m.gen()})
	return ch, &handle{n: fn, writable: writable, origin: fn.m.openerOrigin(ctx, writable)}, 0, 0
}

func (d *dirNode) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if mode&syscall.S_IFMT != syscall.S_IFREG {
		// Devices, FIFOs and sockets have no object to be.
		return nil, syscall.EPERM
	}
	bucket, key, errno := d.target(name)
	if errno != 0 {
		return nil, errno
	}
	uid, gid := d.m.caller(ctx)
	t := now()
	a := fileAttr{mode: mode & 07777, uid: uid, gid: gid, mtime: t, ctime: t}
	v, err := d.m.store.Put(d.m.ctx(ctx), bucket, key, strings.NewReader(""), storage.PutOptions{Size: 0, Attrs: posixAttrs(a, nil)})
	if err != nil {
		return nil, toErrno(err)
	}
	return d.fileChild(ctx, nil, bucket, key, v, 0, out), 0
}

func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	bucket, key, errno := d.target(name)
	if errno != 0 {
		return nil, errno
	}
	uid, gid := d.m.caller(ctx)
	t := now()
	attrs := posixAttrs(fileAttr{mode: 0777, uid: uid, gid: gid, mtime: t}, nil)
	attrs[attrSymlink] = target
	v, err := d.m.store.Put(d.m.ctx(ctx), bucket, key, strings.NewReader(""), storage.PutOptions{Size: 0, Attrs: attrs})
	if err != nil {
		return nil, toErrno(err)
	}
	return d.fileChild(ctx, nil, bucket, key, v, 0, out), 0
}

// Link is refused: a key has one name, and a second name that shares the
// version history is not something the object model can express.
func (d *dirNode) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	bucket, key, errno := d.target(name)
	if errno != 0 {
		return nil, errno
	}
	uid, gid := d.m.caller(ctx)
	t := now()
	a := fileAttr{mode: mode & 07777, uid: uid, gid: gid, mtime: t, ctime: t}
	if _, err := d.m.store.Put(d.m.ctx(ctx), bucket, key+"/", strings.NewReader(""), storage.PutOptions{Size: 0, Attrs: posixAttrs(a, nil)}); err != nil {
		return nil, toErrno(err)
	}
	a.fill(&out.Attr, syscall.S_IFDIR)
	dn := &dirNode{m: d.m, attr: a, hasMarker: true}
	return d.NewInode(ctx, dn, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoOf('d', bucket, key+"/"), Gen: d.m.gen()}), 0
}

// keepDir makes an implied directory explicit when its last entry goes,
// so it does not vanish under a process that is still in it.
func (d *dirNode) keepDir(ctx context.Context, bucket, prefix string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if prefix == "" || d.hasMarker {
		return
	}
	ctx = d.m.ctx(ctx)
	res, err := d.m.store.List(ctx, bucket, storage.ListOptions{Prefix: prefix, Limit: 1})
	if err != nil || len(res.Objects) > 0 || len(res.Prefixes) > 0 {
		return
	}
	if err := d.m.putMarker(ctx, bucket, prefix, d.attr); err == nil {
		d.hasMarker = true
	}
}

func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	bucket, prefix, ok := d.where()
	if !ok {
		return syscall.ENOENT
	}
	if name == versionsName {
		return syscall.EPERM
	}
	key := prefix + name
	var fn *fileNode
	if ch := d.GetChild(name); ch != nil {
		fn, _ = ch.Operations().(*fileNode)
	}
	if fn != nil && fn.pending() {
		fn.markUnlinked()
		return 0
	}
	if err := d.m.deleteKeyQueued(d.m.ctx(ctx), bucket, key); err != nil {
		return toErrno(err)
	}
	if fn != nil {
		fn.markUnlinked()
	}
	d.keepDir(ctx, bucket, prefix)
	return 0
}

func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	bucket, prefix, ok := d.where()
	if !ok {
		return syscall.ENOENT
	}
	if name == versionsName {
		return syscall.EPERM
	}
	p := prefix + name + "/"
	if ch := d.GetChild(name); ch != nil && hasPending(ch) {
		return syscall.ENOTEMPTY
	}
	ctx2 := d.m.ctx(ctx)
	res, err := d.m.store.List(ctx2, bucket, storage.ListOptions{Prefix: p, Limit: 2})
	if err != nil {
		return toErrno(err)
	}
	marker := false
	for _, o := range res.Objects {
		if o.Key != p {
			return syscall.ENOTEMPTY
		}
		marker = true
	}
	if len(res.Prefixes) > 0 {
		return syscall.ENOTEMPTY
	}
	if !marker {
		return syscall.ENOENT
	}
	if _, err := d.m.store.Delete(ctx2, bucket, p, storage.DeleteOptions{}); err != nil {
		return toErrno(err)
	}
	d.keepDir(ctx, bucket, prefix)
	return 0
}

// opsOf returns the node implementation of an Inode, nil for nil.
func opsOf(n *fs.Inode) fs.InodeEmbedder {
	if n == nil {
		return nil
	}
	return n.Operations()
}

// Tmpfile (O_TMPFILE) gives an unnamed file: it lives in staging only and
// vanishes with its last handle (linkat to name it is refused like every
// hard link).
func (d *dirNode) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	uid, gid := d.m.caller(ctx)
	t := now()
	fn := &fileNode{m: d.m, unlinked: true, attr: fileAttr{mode: mode & 07777, uid: uid, gid: gid, mtime: t, ctime: t}}
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	st := &openState{attrs: map[string]string{}, handles: 1}
	if writable {
		st.writers, st.active = 1, 1
	}
	st.data = newStaging(d.m.stage, d.m.opts.MemoryStaging)
	fn.st = st
	fn.fillLocked(&out.Attr)
	ch := d.NewInode(ctx, fn, fs.StableAttr{Mode: syscall.S_IFREG})
	return ch, &handle{n: fn, writable: writable, origin: fn.m.openerOrigin(ctx, writable)}, 0, 0
}

// localNewerLocked reports whether the node holds changes the store has
// not seen (written or truncated content, changed attributes, a file not
// yet created there): then its attributes come from the node, not from
// the store or a listing. A file merely open for reading shows the store's.
// The caller holds n.mu.
func (n *fileNode) localNewerLocked() bool {
	st := n.st
	return st != nil && (st.data != nil || st.dirty || st.attrDirty || !st.exists)
}
