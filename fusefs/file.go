package fusefs

import (
	"context"
	"errors"
	"maps"
	"sync"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fileNode is a regular file or a symlink in the ordinary tree: the head
// version of a key. Its bucket and key are not stored but derived from its
// place in the tree, so a rename of any parent directory needs no fix-up.
type fileNode struct {
	fs.Inode
	m *mountFS

	mu       sync.Mutex
	attr     fileAttr
	symlink  string
	unlinked bool
	// goneBucket, goneKey: where the file was when it was unlinked or
	// replaced, so an open that raced with that still finds its version.
	goneBucket, goneKey string
	st                  *openState // nil while no handle is open
	cacheVer            string     // version whose pages the kernel may keep cached
	gen                 uint64     // bumped when the content source changes under open handles
}

// openState is shared by every open handle of one file node, so all
// writers write into one staging copy and readers see their writes.
type openState struct {
	handles, writers int
	// active counts writable handles not flushed since their last write.
	// close(2) returns after FLUSH but RELEASE comes later, so a writer
	// that just closed still counts in writers for a while; active does
	// not count it, so the next writer's close commits at once.
	active    int
	data      *staging // nil: the content is base (or the write-back copy)
	dirty     bool     // content changed since the last commit
	attrDirty bool     // POSIX attributes or xattrs changed since the last commit
	// written: write(2) since the last commit. Only then does
	// a close(2) commit; otherwise the commit waits for RELEASE, so a shell
	// redirection (open, dup2, close of the first descriptor, then write)
	// makes one version, not an empty one first.
	written bool
	exists  bool // the key has a version in the store (else created here, not yet committed)
	base    *storage.ObjectVersion
	attrs   map[string]string // Attrs of the version being built (xattrs, symlink)
}

var (
	_ fs.NodeGetattrer     = (*fileNode)(nil)
	_ fs.NodeSetattrer     = (*fileNode)(nil)
	_ fs.NodeOpener        = (*fileNode)(nil)
	_ fs.NodeReadlinker    = (*fileNode)(nil)
	_ fs.NodeGetxattrer    = (*fileNode)(nil)
	_ fs.NodeSetxattrer    = (*fileNode)(nil)
	_ fs.NodeRemovexattrer = (*fileNode)(nil)
	_ fs.NodeListxattrer   = (*fileNode)(nil)
	_ fs.NodeStatfser      = (*fileNode)(nil)
)

func (n *fileNode) typ() uint32 {
	if n.symlink != "" {
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

// pending reports whether the file exists only in this mount so far.
func (n *fileNode) pending() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st != nil && !n.st.exists && !n.unlinked
}

// commitClosed commits a file whose writers have all closed but whose
// RELEASE (which would commit it) has not arrived yet, so that a rename
// right after close(2) moves what was closed.
func (n *fileNode) commitClosed(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st == nil || n.st.active > 0 {
		return nil
	}
	return n.commitLocked(ctx)
}

func (n *fileNode) markUnlinked() {
	b, k, ok := n.where()
	n.mu.Lock()
	n.unlinked = true
	if ok {
		n.goneBucket, n.goneKey = b, k
	}
	n.mu.Unlock()
}

// openGoneLocked opens, read-only, the version an unlinked (or replaced)
// node showed: on a local file system an open that resolved the name
// before the unlink or rename still opens that file. It fails with ESTALE
// (the kernel then looks the name up again) when the version is unknown.
func (n *fileNode) openGoneLocked(ctx context.Context) (*openState, syscall.Errno) {
	if n.goneKey == "" || n.attr.versionID == "" {
		return nil, syscall.ESTALE
	}
	v, err := n.m.store.Stat(n.m.ctx(ctx), n.goneBucket, n.goneKey, n.attr.versionID)
	if err != nil {
		return nil, syscall.ESTALE
	}
	st := &openState{exists: true, base: v, attrs: map[string]string{}}
	maps.Copy(st.attrs, v.Attrs)
	n.st = st
	return st, 0
}

// where returns the bucket and key of the node, or ok=false once unlinked.
func (n *fileNode) where() (bucket, key string, ok bool) {
	b, k, ok := locate(&n.Inode)
	if !ok || b == "" || k == "" {
		return "", "", false
	}
	return b, k, true
}

func (n *fileNode) fillLocked(out *fuse.Attr) {
	a := n.attr
	if n.st != nil && n.st.data != nil {
		a.size = n.st.data.size
	}
	a.fill(out, n.typ())
	if n.unlinked {
		out.Nlink = 0
	}
}

// refreshLocked reloads the head's attributes unless the node has local
// state that is newer than the store.
func (n *fileNode) refreshLocked(ctx context.Context) syscall.Errno {
	if n.st != nil || n.unlinked {
		return 0
	}
	bucket, key, ok := n.where()
	if !ok {
		return 0
	}
	if f, size, ok := n.m.openStaged(bucket, key); ok {
		f.Close()
		n.attr.size = size
		return 0
	}
	v, err := n.m.store.Stat(n.m.ctx(ctx), bucket, key, "")
	if err != nil {
		return staleErrno(err)
	}
	if typeOf(v) != n.typ() {
		// The name now holds another kind of entry (a file replaced by
		// a symlink...): this node is stale. ESTALE makes the kernel
		// walk the path again.
		return syscall.ESTALE
	}
	n.setVersionLocked(v)
	return 0
}

// typeOf is the file type a version is shown as.
func typeOf(v *storage.ObjectVersion) uint32 {
	if _, ok := v.Attrs[attrSymlink]; ok {
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

func (n *fileNode) setVersionLocked(v *storage.ObjectVersion) {
	def := uint32(0644)
	if t, ok := v.Attrs[attrSymlink]; ok {
		n.symlink = t
		def = 0777
	}
	n.attr = n.m.attrFromVersion(v, def)
}

func (n *fileNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	defer n.m.settleAttr(n.m.epoch.Load(), out)
	n.mu.Lock()
	defer n.mu.Unlock()
	if errno := n.refreshLocked(ctx); errno != 0 && !(errno == syscall.ENOENT && f != nil) {
		return errno
	}
	n.fillLocked(&out.Attr)
	return 0
}

func (n *fileNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	bucket, _, ok := locate(&n.Inode)
	if !ok || bucket == "" {
		n.m.statfsLocal(out)
		return 0
	}
	return n.m.statfsBucket(ctx, bucket, out)
}

func (n *fileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.symlink == "" {
		return nil, syscall.EINVAL
	}
	return []byte(n.symlink), 0
}

// stateLocked returns the open state, creating a transient one (no
// handles) for operations on a closed file such as truncate(2).
func (n *fileNode) stateLocked(ctx context.Context) (*openState, syscall.Errno) {
	if n.st != nil {
		return n.st, 0
	}
	bucket, key, ok := n.where()
	if !ok {
		return nil, syscall.ENOENT
	}
	v, err := n.m.store.Stat(n.m.ctx(ctx), bucket, key, "")
	if err != nil && !(errors.Is(err, storage.ErrNotFound) && n.m.opts.WriteBack != nil) {
		return nil, staleErrno(err)
	}
	if v != nil && typeOf(v) != n.typ() {
		return nil, syscall.ESTALE
	}
	st := &openState{exists: true, base: v, attrs: map[string]string{}}
	if v != nil {
		maps.Copy(st.attrs, v.Attrs)
		if n.m.opts.WriteBack == nil {
			n.setVersionLocked(v)
		}
	}
	n.st = st
	return st, 0
}

// refreshBaseLocked moves an open state that holds nothing of its own
// (another handle keeps it alive) to the store's current head, so a new
// open sees a change made underneath instead of the version the first
// open found. Handles already open read the new head too (gen moves), as
// after a write through this mount: the kernel's page cache is one per
// inode, and two versions must not meet in it. On any doubt (an error, a
// changed type) the state is left as it is.
func (n *fileNode) refreshBaseLocked(ctx context.Context) {
	bucket, key, ok := n.where()
	if !ok {
		return
	}
	v, err := n.m.store.Stat(n.m.ctx(ctx), bucket, key, "")
	if err != nil || typeOf(v) != n.typ() {
		return
	}
	if st := n.st; st.base == nil || st.base.VersionID != v.VersionID {
		st.base, st.exists = v, true
		st.attrs = maps.Clone(v.Attrs)
		if st.attrs == nil {
			st.attrs = map[string]string{}
		}
		n.setVersionLocked(v)
		n.gen++
	}
}

// dataLocked makes sure the open state has a staging copy to write into,
// copying the current content first unless keep is 0 bytes.
func (n *fileNode) dataLocked(ctx context.Context, st *openState, keep int64) error {
	if st.data != nil {
		return nil
	}
	d := newStaging(n.m.stage, n.m.opts.MemoryStaging)
	if keep != 0 && st.exists {
		bucket, key, _ := n.where()
		var src contentReader
		var size int64
		if f, sz, ok := n.m.openStaged(bucket, key); ok {
			src, size = f, sz
		} else if st.base != nil {
			r, err := n.m.openReader(ctx, bucket, st.base)
			if err != nil {
				return err
			}
			src, size = r, st.base.Size()
		}
		if src != nil {
			if keep > 0 && keep < size {
				size = keep
			}
			err := copyInto(d, src, size)
			src.Close()
			if err != nil {
				d.Close()
				return err
			}
		}
	}
	st.data = d
	return nil
}

func copyInto(d *staging, src contentReader, size int64) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; {
		k, err := src.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if k > 0 {
			if _, werr := d.WriteAt(buf[:k], off); werr != nil {
				return werr
			}
			off += int64(k)
		}
		if err != nil {
			if off >= size {
				break
			}
			return err
		}
	}
	return nil
}

// commitLocked turns the staged content (and changed attributes) into one
// new version. Like every change through the mount it is a NoSync write:
// it survives a crash of this process when it returns and becomes power-loss
// durable with the store's next sync (fsync(2) asks for one). The caller
// holds n.mu.
func (n *fileNode) commitLocked(ctx context.Context) (err error) {
	st := n.st
	if st == nil || (!st.dirty && !st.attrDirty) {
		return nil
	}
	defer func() {
		if err == nil {
			st.written = false
		}
	}()
	bucket, key, ok := n.where()
	if !ok || n.unlinked {
		// Writes to an unlinked file vanish with its last handle, as on
		// any POSIX file system.
		st.dirty, st.attrDirty = false, false
		return nil
	}
	ctx = n.m.ctx(ctx)
	attrs := posixAttrs(n.attr, st.attrs)
	if n.symlink != "" {
		attrs[attrSymlink] = n.symlink
	}
	if !st.dirty || st.data == nil {
		if !st.exists {
			// A new file never written: commit it empty.
			st.data = newStaging(n.m.stage, n.m.opts.MemoryStaging)
		} else {
			return n.setAttrsLocked(ctx, bucket, key, attrs)
		}
	}
	// An unchanged save makes no version (only the attributes move).
	if st.exists && st.base != nil && st.base.File != nil && st.base.File.BLAKE3 != "" &&
		st.data.size == st.base.Size() && n.m.opts.WriteBack == nil {
		if sum, err := st.data.BLAKE3(); err == nil && sum == st.base.File.BLAKE3 {
			st.dirty = false
			if maps.Equal(attrs, st.base.Attrs) {
				st.attrDirty = false
				return nil
			}
			return n.setAttrsLocked(ctx, bucket, key, attrs)
		}
	}
	if wb := n.m.opts.WriteBack; wb != nil {
		if err := checkWriteBack(ctx, wb, bucket, key, st.data.size); err != nil {
			return err
		}
		path, err := st.data.Detach()
		if err != nil {
			return err
		}
		st.data = nil
		size := n.attr.size
		if err := wb.Stage(ctx, bucket, key, path, attrs); err != nil {
			return err
		}
		n.attr.size = size
		st.dirty, st.attrDirty, st.exists = false, false, true
		st.base = nil
		n.gen++
		n.cacheVer = ""
		return nil
	}
	v, err := n.putContentLocked(ctx, bucket, key, st, attrs)
	if err != nil {
		return err
	}
	st.dirty, st.attrDirty, st.exists = false, false, true
	st.base = v
	keep := n.attr
	n.setVersionLocked(v)
	n.attr.mtime = keep.mtime
	n.cacheVer = ""
	return nil
}

// setAttrsLocked replaces the head version's Attrs in place.
func (n *fileNode) setAttrsLocked(ctx context.Context, bucket, key string, attrs map[string]string) error {
	vid := n.attr.versionID
	if n.st != nil && n.st.base != nil {
		vid = n.st.base.VersionID
	}
	if vid == "" {
		v, err := n.m.store.Stat(ctx, bucket, key, "")
		if err != nil {
			return err
		}
		vid = v.VersionID
	}
	v, err := n.m.store.SetAttrs(ctx, bucket, key, vid, attrs)
	if err != nil {
		return err
	}
	if n.st != nil {
		n.st.attrDirty = false
		n.st.base = v
	}
	return nil
}

func (n *fileNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	transient := n.st == nil
	st, errno := n.stateLocked(ctx)
	if errno != 0 {
		return errno
	}
	defer func() {
		if transient && n.st == st && st.handles == 0 {
			if st.data != nil {
				st.data.Close()
			}
			n.st = nil
		}
	}()
	t := now()
	if sz, ok := in.GetSize(); ok {
		if n.symlink != "" {
			return syscall.EINVAL
		}
		if err := n.dataLocked(ctx, st, int64(sz)); err != nil {
			return toErrno(err)
		}
		if err := st.data.Truncate(int64(sz)); err != nil {
			return toErrno(err)
		}
		// Not marked written: open(O_TRUNC) arrives as this SETATTR, and the
		// truncation alone must not make a version at the first close.
		st.dirty = true
		n.attr.size = int64(sz)
		n.attr.mtime, n.attr.ctime = t, t
	}
	if mode, ok := in.GetMode(); ok {
		n.attr.mode = mode & 07777
		st.attrDirty = true
	}
	if uid, ok := in.GetUID(); ok {
		n.attr.uid = uid
		st.attrDirty = true
	}
	if gid, ok := in.GetGID(); ok {
		n.attr.gid = gid
		st.attrDirty = true
	}
	if mt, ok := in.GetMTime(); ok {
		n.attr.mtime = mt.UnixNano()
		st.attrDirty = true
	}
	if st.attrDirty || st.dirty {
		n.attr.ctime = t
	}
	// A change to a file nobody is writing is committed now; otherwise it
	// travels with the content when the last writer closes.
	if st.active == 0 && st.exists {
		if err := n.commitLocked(ctx); err != nil {
			return toErrno(err)
		}
	}
	n.fillLocked(&out.Attr)
	return 0
}

func (n *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	var st *openState
	var errno syscall.Errno
	if n.unlinked && n.st == nil {
		if writable {
			return nil, 0, syscall.ESTALE
		}
		st, errno = n.openGoneLocked(ctx)
	} else {
		if n.st != nil && !n.localNewerLocked() && n.m.opts.WriteBack == nil {
			n.refreshBaseLocked(ctx)
		}
		st, errno = n.stateLocked(ctx)
	}
	if errno != 0 {
		return nil, 0, errno
	}
	h := &handle{n: n, writable: writable, ver: st.base, openGen: n.gen, origin: n.m.openerOrigin(ctx, writable)}
	st.handles++
	if writable {
		st.writers++
		st.active++
	}
	if writable && flags&syscall.O_TRUNC != 0 {
		if err := n.dataLocked(ctx, st, 0); err != nil {
			h.release()
			return nil, 0, toErrno(err)
		}
		if st.data.size != 0 {
			if err := st.data.Truncate(0); err != nil {
				h.release()
				return nil, 0, toErrno(err)
			}
		}
		st.dirty = true
		n.attr.size = 0
		n.attr.mtime = now()
		n.attr.ctime = n.attr.mtime
	}
	var fuseFlags uint32
	// Keep the kernel's page cache across opens while the version is the
	// one it cached: warm reads then never reach us.
	if st.data == nil && st.base != nil && st.base.VersionID != "" {
		if n.cacheVer == st.base.VersionID {
			fuseFlags |= fuse.FOPEN_KEEP_CACHE
		}
		n.cacheVer = st.base.VersionID
	} else {
		n.cacheVer = ""
	}
	return h, fuseFlags, 0
}

// Xattrs. user.* names are stored in the version's Attrs as
// "xattr.user.<name>"; user.bucketfs.* are read-only facts of the head.

func (n *fileNode) currentAttrs(ctx context.Context) (map[string]string, *storage.ObjectVersion, syscall.Errno) {
	if n.st != nil {
		return n.st.attrs, n.st.base, 0
	}
	bucket, key, ok := n.where()
	if !ok {
		return nil, nil, syscall.ENOENT
	}
	v, err := n.m.store.Stat(n.m.ctx(ctx), bucket, key, "")
	if err != nil {
		return nil, nil, toErrno(err)
	}
	return v.Attrs, v, 0
}

func (n *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if !isUserXattr(attr) {
		return 0, syscall.EOPNOTSUPP // only user.* is stored (xattr.go)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	attrs, v, errno := n.currentAttrs(ctx)
	if errno != 0 {
		return 0, errno
	}
	if attr == bucketfsXattr+"md5" && v != nil && v.File != nil && v.File.MD5 == "" {
		// A big file's MD5 is computed after its commit; wait for it.
		if me, ok := n.m.store.(storage.MD5Ensurer); ok {
			if err := me.EnsureMD5(n.m.ctx(ctx), v); err != nil {
				return 0, toErrno(err)
			}
		}
	}
	val, ok := getXattr(attrs, v, attr)
	if !ok {
		return 0, syscall.ENODATA
	}
	return copyXattr(dest, val)
}

func (n *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	attrs, _, errno := n.currentAttrs(ctx)
	if errno != 0 {
		return 0, errno
	}
	return copyXattr(dest, listXattrs(attrs))
}

func (n *fileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return n.changeXattr(ctx, attr, data, flags, false)
}

func (n *fileNode) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return n.changeXattr(ctx, attr, nil, 0, true)
}

func (n *fileNode) changeXattr(ctx context.Context, attr string, data []byte, flags uint32, remove bool) syscall.Errno {
	if errno := checkXattrWrite(attr); errno != 0 {
		return errno
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	transient := n.st == nil
	st, errno := n.stateLocked(ctx)
	if errno != 0 {
		return errno
	}
	defer func() {
		if transient && n.st == st && st.handles == 0 {
			n.st = nil
		}
	}()
	k := attrXattr + attr
	_, exists := st.attrs[k]
	switch {
	case remove && !exists:
		return syscall.ENODATA
	case flags&xattrCreate != 0 && exists:
		return syscall.EEXIST
	case flags&xattrReplace != 0 && !exists:
		return syscall.ENODATA
	}
	if remove {
		delete(st.attrs, k)
	} else {
		st.attrs[k] = encodeXattr(data)
	}
	st.attrDirty = true
	n.attr.ctime = now()
	if st.active == 0 && st.exists {
		if err := n.commitLocked(ctx); err != nil {
			return toErrno(err)
		}
	}
	return 0
}

// staleErrno maps a missing key under a node the kernel still knows to
// ESTALE: the kernel then walks the path again (LOOKUP_REVAL) instead of
// failing an open(O_CREAT) or stat on a name whose file went away behind
// its dentry cache.
func staleErrno(err error) syscall.Errno {
	if errors.Is(err, storage.ErrNotFound) {
		return syscall.ESTALE
	}
	return toErrno(err)
}
