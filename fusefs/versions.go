package fusefs

import (
	"context"
	"errors"
	"io"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// versionTimeFormat names version entries: UTC, millisecond precision, so
// names sort by time and carry no characters that need quoting.
const versionTimeFormat = "2006-01-02T15:04:05.000Z"

var timeZero time.Time

// versionName is the entry name of v in .versions/<name>/.
func versionName(v *storage.ObjectVersion) string {
	return v.Created.UTC().Format(versionTimeFormat) + "_" + v.VersionID
}

// roDir is what every read-only virtual directory refuses.
type roDir struct{ dirXattrs }

func (roDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EROFS
}
func (roDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EROFS
}
func (roDir) Rmdir(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }
func (roDir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return syscall.EROFS
}
func (roDir) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (m *mountFS) roDirAttr(out *fuse.Attr, ino uint64) {
	out.Mode = syscall.S_IFDIR | 0555
	out.Nlink = 2
	out.Ino = ino
	out.Uid, out.Gid = m.opts.UID, m.opts.GID
}

// versionsNode is the hidden ".versions" folder of a directory: one folder
// per file name that has (or had) versions, and at a bucket root the
// "@<time>" views.
type versionsNode struct {
	fs.Inode
	roDir
	m      *mountFS
	bucket string
	prefix string
}

var (
	_ fs.NodeLookuper  = (*versionsNode)(nil)
	_ fs.NodeReaddirer = (*versionsNode)(nil)
	_ fs.NodeGetattrer = (*versionsNode)(nil)
	_ fs.NodeUnlinker  = (*versionsNode)(nil)
)

func (m *mountFS) versionsDir(ctx context.Context, parent *fs.Inode, bucket, prefix string, out *fuse.EntryOut) *fs.Inode {
	ino := inoOf('v', bucket, prefix)
	m.roDirAttr(&out.Attr, ino)
	if ch := parent.GetChild(versionsName); ch != nil {
		if v, ok := ch.Operations().(*versionsNode); ok && v.bucket == bucket && v.prefix == prefix {
			return ch
		}
	}
	// A fresh generation: after a directory rename the same prefix (and
	// inode number) may belong to another directory.
	return parent.NewInode(ctx, &versionsNode{m: m, bucket: bucket, prefix: prefix}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino, Gen: m.gen()})
}

func (v *versionsNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	v.m.roDirAttr(&out.Attr, v.StableAttr().Ino)
	return 0
}

func (v *versionsNode) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (v *versionsNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	start := v.m.epoch.Load()
	ch, errno := v.lookup(ctx, name, out)
	v.m.settleEntry(start, out)
	return ch, errno
}

func (v *versionsNode) lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	if at, ok := strings.CutPrefix(name, "@"); ok && v.prefix == "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, syscall.ENOENT
		}
		ino := inoOf('@', v.bucket, "", t.String())
		v.m.roDirAttr(&out.Attr, ino)
		return v.NewInode(ctx, &atNode{m: v.m, bucket: v.bucket, at: t}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino}), 0
	}
	key := v.prefix + name
	if checkKey(key) != 0 {
		return nil, syscall.ENOENT
	}
	vs, err := v.m.store.Versions(v.m.ctx(ctx), v.bucket, key)
	if err != nil {
		return nil, toErrno(err)
	}
	if !anyContent(vs) {
		return nil, syscall.ENOENT
	}
	ino := inoOf('V', v.bucket, key)
	v.m.roDirAttr(&out.Attr, ino)
	return v.NewInode(ctx, &versionListNode{m: v.m, bucket: v.bucket, key: key}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino, Gen: v.m.gen()}), 0
}

func anyContent(vs []*storage.ObjectVersion) bool {
	for _, x := range vs {
		if !x.DeleteMarker() {
			return true
		}
	}
	return false
}

// Readdir lists every name under the prefix that has a version with
// content, live or deleted.
func (v *versionsNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	list := []fuse.DirEntry{{Name: ".", Mode: syscall.S_IFDIR, Ino: v.StableAttr().Ino}, {Name: "..", Mode: syscall.S_IFDIR, Ino: 1}}
	seen := map[string]bool{}
	after := ""
	for {
		res, err := v.m.store.List(v.m.ctx(ctx), v.bucket, storage.ListOptions{Prefix: v.prefix, Delimiter: "/", After: after, Limit: 1000, Versions: true})
		if err != nil {
			return nil, toErrno(err)
		}
		for _, o := range res.Objects {
			name := strings.TrimPrefix(o.Key, v.prefix)
			if name == "" || strings.Contains(name, "/") || o.DeleteMarker() || seen[name] {
				continue
			}
			seen[name] = true
			list = append(list, fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: inoOf('V', v.bucket, o.Key)})
		}
		if res.Next == "" || (len(res.Objects) == 0 && len(res.Prefixes) == 0) {
			break
		}
		after = res.Next
	}
	return newSliceStream(list), 0
}

// versionListNode is .versions/<name>/: one read-only file per version
// with content, newest first; removing one removes that version for good.
type versionListNode struct {
	fs.Inode
	roDir
	m      *mountFS
	bucket string
	key    string
}

var (
	_ fs.NodeLookuper  = (*versionListNode)(nil)
	_ fs.NodeReaddirer = (*versionListNode)(nil)
	_ fs.NodeGetattrer = (*versionListNode)(nil)
	_ fs.NodeUnlinker  = (*versionListNode)(nil)
)

func (l *versionListNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.m.roDirAttr(&out.Attr, l.StableAttr().Ino)
	return 0
}

func (l *versionListNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	vs, err := l.m.store.Versions(l.m.ctx(ctx), l.bucket, l.key)
	if err != nil {
		return nil, toErrno(err)
	}
	// Newest first, as the store returns them; sort again in case a store
	// does not (names then still read newest first).
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Created.After(vs[j].Created) })
	list := []fuse.DirEntry{{Name: ".", Mode: syscall.S_IFDIR, Ino: l.StableAttr().Ino}, {Name: "..", Mode: syscall.S_IFDIR, Ino: 1}}
	for _, v := range vs {
		if v.DeleteMarker() {
			continue
		}
		list = append(list, l.m.fileEntry(l.bucket, versionName(v), v, true))
	}
	return newSliceStream(list), 0
}

func parseVersionName(name string) (string, bool) {
	_, vid, ok := strings.Cut(name, "_")
	return vid, ok && vid != ""
}

func (l *versionListNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	vid, ok := parseVersionName(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	v, err := l.m.store.Stat(l.m.ctx(ctx), l.bucket, l.key, vid)
	if err != nil {
		return nil, toErrno(err)
	}
	if v.DeleteMarker() || versionName(v) != name {
		return nil, syscall.ENOENT
	}
	return l.m.versionFile(ctx, &l.Inode, name, l.bucket, v, out), 0
}

// Unlink removes one version permanently.
func (l *versionListNode) Unlink(ctx context.Context, name string) syscall.Errno {
	vid, ok := parseVersionName(name)
	if !ok {
		return syscall.ENOENT
	}
	if err := l.m.store.RemoveVersion(l.m.ctx(ctx), l.bucket, l.key, vid); err != nil {
		return toErrno(err)
	}
	l.m.invalidateKey(l.bucket, l.key)
	return 0
}

// versionFile returns the read-only node of one version.
func (m *mountFS) versionFile(ctx context.Context, parent *fs.Inode, name, bucket string, v *storage.ObjectVersion, out *fuse.EntryOut) *fs.Inode {
	n := &versionFileNode{m: m, bucket: bucket, v: v}
	n.fill(&out.Attr)
	if ch := parent.GetChild(name); ch != nil {
		if old, ok := ch.Operations().(*versionFileNode); ok && old.v.VersionID == v.VersionID {
			return ch
		}
	}
	return parent.NewInode(ctx, n, fs.StableAttr{Mode: n.typ(), Ino: inoOf('F', bucket, v.Key, v.VersionID)})
}

// versionFileNode is one version, read-only: its content never changes,
// so the kernel may cache its pages for as long as it likes.
type versionFileNode struct {
	fs.Inode
	m      *mountFS
	bucket string
	v      *storage.ObjectVersion
}

var (
	_ fs.NodeGetattrer   = (*versionFileNode)(nil)
	_ fs.NodeSetattrer   = (*versionFileNode)(nil)
	_ fs.NodeOpener      = (*versionFileNode)(nil)
	_ fs.NodeReadlinker  = (*versionFileNode)(nil)
	_ fs.NodeGetxattrer  = (*versionFileNode)(nil)
	_ fs.NodeListxattrer = (*versionFileNode)(nil)
	_ fs.NodeSetxattrer  = (*versionFileNode)(nil)
)

func (n *versionFileNode) typ() uint32 {
	if _, ok := n.v.Attrs[attrSymlink]; ok {
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

func (n *versionFileNode) fill(out *fuse.Attr) {
	a := n.m.attrFromVersion(n.v, 0644)
	if n.typ() == syscall.S_IFREG {
		a.mode &^= 0222
	}
	a.fill(out, n.typ())
}

func (n *versionFileNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	return 0
}

func (n *versionFileNode) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func (n *versionFileNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, ok := n.v.Attrs[attrSymlink]
	if !ok {
		return nil, syscall.EINVAL
	}
	return []byte(t), 0
}

func (n *versionFileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	val, ok := getXattr(n.v.Attrs, n.v, attr)
	if !ok {
		return 0, syscall.ENODATA
	}
	return copyXattr(dest, val)
}

func (n *versionFileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return copyXattr(dest, listXattrs(n.v.Attrs))
}

func (n *versionFileNode) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.EROFS
}

func (n *versionFileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	rd, err := n.m.openReader(ctx, n.bucket, n.v)
	if err != nil {
		return nil, 0, toErrno(err)
	}
	return &roHandle{rd: rd}, fuse.FOPEN_KEEP_CACHE, 0
}

// roHandle reads one immutable version.
type roHandle struct {
	mu sync.Mutex
	rd contentReader
}

func (h *roHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k, err := h.rd.ReadAt(dest, off)
	if err != nil && k == 0 && !errors.Is(err, io.EOF) {
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

func (h *roHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rd.Close()
	return 0
}

// atNode is a directory of a bucket as it was at a point in time.
type atNode struct {
	fs.Inode
	roDir
	m      *mountFS
	bucket string
	prefix string
	at     time.Time
}

var (
	_ fs.NodeLookuper  = (*atNode)(nil)
	_ fs.NodeReaddirer = (*atNode)(nil)
	_ fs.NodeGetattrer = (*atNode)(nil)
	_ fs.NodeUnlinker  = (*atNode)(nil)
)

func (a *atNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a.m.roDirAttr(&out.Attr, a.StableAttr().Ino)
	setTime(&out.Mtime, &out.Mtimensec, a.at.UnixNano())
	return 0
}

func (a *atNode) Unlink(ctx context.Context, name string) syscall.Errno { return syscall.EROFS }

func (a *atNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if len(name) > maxNameLen {
		return nil, syscall.ENAMETOOLONG
	}
	key := a.prefix + name
	if checkKey(key) != 0 || name == versionsName {
		return nil, syscall.ENOENT
	}
	ctx2 := a.m.ctx(ctx)
	res, err := a.m.store.List(ctx2, a.bucket, storage.ListOptions{Prefix: key, Delimiter: "/", Limit: 1, At: a.at})
	if err != nil {
		return nil, toErrno(err)
	}
	if len(res.Objects) > 0 && res.Objects[0].Key == key && !res.Objects[0].DeleteMarker() {
		return a.m.versionFile(ctx, &a.Inode, name, a.bucket, res.Objects[0], out), 0
	}
	res, err = a.m.store.List(ctx2, a.bucket, storage.ListOptions{Prefix: key + "/", Limit: 1, At: a.at})
	if err != nil {
		return nil, toErrno(err)
	}
	if len(res.Objects) == 0 && len(res.Prefixes) == 0 {
		return nil, syscall.ENOENT
	}
	ino := inoOf('@', a.bucket, key+"/", a.at.String())
	a.m.roDirAttr(&out.Attr, ino)
	if ch := a.GetChild(name); ch != nil {
		if _, ok := ch.Operations().(*atNode); ok {
			return ch, 0
		}
	}
	return a.NewInode(ctx, &atNode{m: a.m, bucket: a.bucket, prefix: key + "/", at: a.at}, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino}), 0
}

func (a *atNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	head := []fuse.DirEntry{{Name: ".", Mode: syscall.S_IFDIR, Ino: a.StableAttr().Ino}, {Name: "..", Mode: syscall.S_IFDIR, Ino: 1}}
	return a.m.newListStream(ctx, a.bucket, a.prefix, a.at, head, nil), 0
}
