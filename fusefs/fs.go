package fusefs

import (
	"context"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"unicode/utf8"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// versionsName is the hidden per-directory entry holding old versions.
const versionsName = ".versions"

// maxNameLen is NAME_MAX: the longest single path component.
const maxNameLen = 255

// mountFS is the state shared by every node of one mount.
type mountFS struct {
	store storage.ObjectStore
	mover storage.Mover      // nil when the store cannot move atomically
	blobs storage.BlobOpener // nil for remote stores
	opts  Options
	log   *slog.Logger
	root  *rootNode
	stage string // staging directory
	// origin stamps the mount's changes; its random Instance lets the
	// event watcher skip exactly the changes the kernel learnt from us.
	origin storage.Origin

	maxSplice int   // largest READ reply spliced from a blob file
	started   int64 // mount time (ns): the root's times

	notify chan func() // kernel notifications, sent off the request path
	// lost is set when a notification could not be queued; the
	// notification goroutine then invalidates everything the kernel knows.
	lost atomic.Bool
	// epoch counts invalidations sent (see settleEntry).
	epoch atomic.Uint64

	gens atomic.Uint64

	memoryState
}

// gen returns a fresh generation for a node of the ordinary tree. go-fuse
// takes (Ino, Gen) as a node's identity and hands back an existing node
// for a known one; the inode number of a path stays stable, but after a
// rename the moved node keeps its number while a new file at the old name
// gets the same number again, and must still be a different node.
func (m *mountFS) gen() uint64 { return m.gens.Add(1) }

func newMountFS(store storage.ObjectStore, opts Options) *mountFS {
	m := &mountFS{
		store:       store,
		opts:        opts,
		log:         opts.Logger,
		origin:      storage.Origin{Kind: "mount", Instance: newInstanceID()},
		notify:      make(chan func(), 4096),
		maxSplice:   maxSpliceSize(),
		started:     now(),
		memoryState: memoryState{release: make(chan struct{}, 1)},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if mv, ok := store.(storage.Mover); ok {
		m.mover = mv
	}
	if bo, ok := store.(storage.BlobOpener); ok {
		m.blobs = bo
	}
	return m
}

// ctx returns the context for a store call made on behalf of a request.
// Interrupts (the kernel's INTERRUPT, caused e.g. by Go's preemption
// signals in the caller) cancel go-fuse's context; aborting a commit or an
// upload half-way because of that would only hurt, so store calls run
// without the request's cancellation and stamped with the mount origin.
// Writes are NoSync: as on a local file system, a change (close, unlink,
// rename, mkdir...) survives a crash of this process at once and power
// loss after fsync(2) or the store's background sync (see syncStore).
func (m *mountFS) ctx(ctx context.Context) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return storage.WithNoSync(storage.WithOrigin(context.WithoutCancel(ctx), m.originFor(ctx)))
}

// inoOf is the stable inode number of an entry: a hash of what identifies
// it, so it is the same in lookup and readdir, across remounts, and for
// every (bucket, key, version). kind separates files, directories,
// symlinks and the virtual folders, so a path whose type changes gets a
// new number (go-fuse needs that).
func inoOf(kind byte, parts ...string) uint64 {
	h := fnv.New64a()
	h.Write([]byte{kind})
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	ino := h.Sum64()
	if ino < 2 || ino == ^uint64(0) {
		ino += 2 // 1 is the root, 0 and ^0 are reserved
	}
	return ino
}

// checkName refuses names that can never be keys.
func checkName(name string) syscall.Errno {
	if len(name) > maxNameLen {
		return syscall.ENAMETOOLONG
	}
	if name == versionsName {
		return syscall.EPERM
	}
	return 0
}

// checkKey refuses keys longer than the store allows (the whole key counts,
// not only the last component).
func checkKey(key string) syscall.Errno {
	if utf8.RuneCountInString(key) > storage.MaxKeyLength {
		return syscall.ENAMETOOLONG
	}
	if !utf8.ValidString(key) {
		return syscall.EINVAL
	}
	return 0
}

// locate returns the bucket and the path below it of a node that lives in
// the ordinary tree ("" for a bucket root), and whether the node is still
// attached to the root (an unlinked node is not).
func locate(n *fs.Inode) (bucket, path string, ok bool) {
	var segs []string
	p := n
	for {
		name, parent := p.Parent()
		if parent == nil {
			if !p.IsRoot() {
				return "", "", false
			}
			break
		}
		segs = append(segs, name)
		p = parent
	}
	if len(segs) == 0 {
		return "", "", true
	}
	// segs is leaf first.
	bucket = segs[len(segs)-1]
	var b strings.Builder
	for i := len(segs) - 2; i >= 0; i-- {
		b.WriteString(segs[i])
		if i > 0 {
			b.WriteByte('/')
		}
	}
	return bucket, b.String(), true
}

// attrs of the POSIX metadata kept in ObjectVersion.Attrs.
const (
	attrMode    = "mode"
	attrUID     = "uid"
	attrGID     = "gid"
	attrMtime   = "mtime" // nanoseconds since the Unix epoch
	attrSymlink = "symlink"
	attrXattr   = "xattr." // prefix, followed by the full xattr name
)

// fileAttr is what a node remembers about its content; kept small because
// the kernel may hold many nodes.
type fileAttr struct {
	size      int64
	mtime     int64 // ns
	ctime     int64 // ns
	mode      uint32
	uid, gid  uint32
	versionID string
}

func (m *mountFS) attrFromVersion(v *storage.ObjectVersion, defMode uint32) fileAttr {
	a := fileAttr{
		size:      v.Size(),
		mtime:     v.Created.UnixNano(),
		ctime:     v.Updated.UnixNano(),
		mode:      defMode,
		uid:       m.opts.UID,
		gid:       m.opts.GID,
		versionID: v.VersionID,
	}
	if a.ctime == 0 || v.Updated.IsZero() {
		a.ctime = a.mtime
	}
	if s, ok := v.Attrs[attrMode]; ok {
		if x, err := strconv.ParseUint(s, 10, 32); err == nil {
			a.mode = uint32(x) & 07777
		}
	}
	if s, ok := v.Attrs[attrUID]; ok {
		if x, err := strconv.ParseUint(s, 10, 32); err == nil {
			a.uid = uint32(x)
		}
	}
	if s, ok := v.Attrs[attrGID]; ok {
		if x, err := strconv.ParseUint(s, 10, 32); err == nil {
			a.gid = uint32(x)
		}
	}
	if s, ok := v.Attrs[attrMtime]; ok {
		if x, err := strconv.ParseInt(s, 10, 64); err == nil {
			a.mtime = x
		}
	}
	if t, ok := v.Attrs[attrSymlink]; ok {
		a.size = int64(len(t))
	}
	return a
}

// fill copies a into a FUSE attribute block.
func (a *fileAttr) fill(out *fuse.Attr, typ uint32) {
	out.Size = uint64(a.size)
	out.Blocks = (uint64(a.size) + 511) / 512
	out.Blksize = 1 << 20
	out.Mode = typ | a.mode
	out.Nlink = 1
	if typ == syscall.S_IFDIR {
		out.Nlink = 2
	}
	out.Uid, out.Gid = a.uid, a.gid
	setTime(&out.Mtime, &out.Mtimensec, a.mtime)
	setTime(&out.Atime, &out.Atimensec, a.mtime)
	setTime(&out.Ctime, &out.Ctimensec, a.ctime)
}

func setTime(sec *uint64, nsec *uint32, ns int64) {
	if ns < 0 {
		ns = 0
	}
	*sec = uint64(ns / 1e9)
	*nsec = uint32(ns % 1e9)
}

// posixAttrs renders a as the Attrs of a version, keeping the keys of old
// that are not POSIX metadata (xattrs, symlink).
func posixAttrs(a fileAttr, old map[string]string) map[string]string {
	out := make(map[string]string, len(old)+4)
	for k, v := range old {
		out[k] = v
	}
	out[attrMode] = strconv.FormatUint(uint64(a.mode&07777), 10)
	out[attrUID] = strconv.FormatUint(uint64(a.uid), 10)
	out[attrGID] = strconv.FormatUint(uint64(a.gid), 10)
	out[attrMtime] = strconv.FormatInt(a.mtime, 10)
	return out
}

// caller returns the uid/gid of the process behind a request.
func (m *mountFS) caller(ctx context.Context) (uint32, uint32) {
	if c, ok := ctx.(*fuse.Context); ok {
		return c.Uid, c.Gid
	}
	return m.opts.UID, m.opts.GID
}

// statfsOf fills out from the staging directory's file system: the space a
// write on this mount will need first.
func (m *mountFS) statfsLocal(out *fuse.StatfsOut) {
	var st syscall.Statfs_t
	dir := m.stage
	if dir == "" {
		dir = os.TempDir()
	}
	if err := syscall.Statfs(dir, &st); err == nil {
		out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
		out.Files, out.Ffree = st.Files, st.Ffree
		out.Bsize = uint32(st.Bsize)
		out.Frsize = uint32(st.Frsize)
	}
	out.NameLen = maxNameLen
}

// statfsBucket reports a bucket's quota as the file system's size.
func (m *mountFS) statfsBucket(ctx context.Context, bucket string, out *fuse.StatfsOut) syscall.Errno {
	m.statfsLocal(out)
	b, err := m.store.GetBucket(m.ctx(ctx), bucket)
	if err != nil {
		return toErrno(err)
	}
	if b.QuotaSize > 0 {
		bs := uint64(4096)
		out.Bsize, out.Frsize = uint32(bs), uint32(bs)
		total := uint64(b.QuotaSize) / bs
		used := uint64(max(b.Size, 0)) / bs
		free := uint64(0)
		if total > used {
			free = total - used
		}
		out.Blocks, out.Bfree, out.Bavail = total, free, free
	}
	return 0
}
