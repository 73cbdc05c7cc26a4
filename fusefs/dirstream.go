package fusefs

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// sliceStream serves a listing that is known in full; it supports seekdir
// by position (offsets are index+1).
type sliceStream struct {
	list []fuse.DirEntry
	i    int
}

var _ fs.FileSeekdirer = (*sliceStream)(nil)

func newSliceStream(list []fuse.DirEntry) *sliceStream {
	for i := range list {
		list[i].Off = uint64(i + 1)
	}
	return &sliceStream{list: list}
}

func (s *sliceStream) HasNext() bool { return s.i < len(s.list) }
func (s *sliceStream) Next() (fuse.DirEntry, syscall.Errno) {
	e := s.list[s.i]
	s.i++
	return e, 0
}
func (s *sliceStream) Close() {}
func (s *sliceStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	s.i = min(int(off), len(s.list))
	return 0
}

// listPage is the store's page size for directory listings: large enough
// that a big directory costs few store calls, small enough that a listing
// holds little memory at a time.
const listPage = 1000

// listEntry is one entry of a listing with the version it was made from
// (nil for directories and virtual entries), so READDIRPLUS can answer
// attributes from the listing instead of a lookup per entry.
type listEntry struct {
	fuse.DirEntry
	v *storage.ObjectVersion
}

// listStream pages through a store listing with the "/" delimiter, so a
// directory of any size is listed with bounded memory: one page of the
// store's listing at a time. It keeps no per-entry state beyond the page:
// a file and a directory of the same name (possible only through the API)
// are told apart with a small stack of the file names the listing has not
// yet moved past (see dedup), not with a set of every name returned.
type listStream struct {
	m      *mountFS
	ctx    context.Context
	bucket string
	prefix string
	at     time.Time // zero = the heads now
	head   []fuse.DirEntry
	// pending are files created here and still open, not in the store yet,
	// sorted by name. They are listed where their key sorts among the
	// store's entries, so a listing's order (and a seekdir offset) stays
	// the same when one of them reaches the store between two reads.
	pending []fuse.DirEntry

	buf   []listEntry
	bi    int // next entry of buf
	after string
	done  bool
	err   syscall.Errno
	off   uint64
	phase int        // 0 head, 1 store pages, 2 rest of pending, 3 end
	files []string   // dedup stack: file names that a later "name/" may repeat
	got   []bool     // pending[i] was listed (by itself or by the store)
	pi    int        // next pending entry to consider
	cur   *listEntry // the entry Next returned last
	epoch uint64     // the mount's invalidation epoch when the page was read
}

var _ fs.FileSeekdirer = (*listStream)(nil)

func (m *mountFS) newListStream(ctx context.Context, bucket, prefix string, at time.Time, head, pending []fuse.DirEntry) *listStream {
	slices.SortFunc(pending, func(a, b fuse.DirEntry) int { return strings.Compare(a.Name, b.Name) })
	s := &listStream{m: m, ctx: m.ctx(ctx), bucket: bucket, prefix: prefix, at: at, head: head, pending: pending}
	s.reset()
	return s
}

func (s *listStream) reset() {
	s.buf, s.bi = s.buf[:0], 0
	s.after, s.done, s.err, s.off, s.phase = "", false, 0, 0, 0
	s.files = s.files[:0]
	s.got = make([]bool, len(s.pending))
	s.pi = 0
	s.cur = nil
	for _, e := range s.head {
		s.buf = append(s.buf, listEntry{DirEntry: e})
	}
}

func (s *listStream) fill() {
	for s.bi == len(s.buf) && s.err == 0 {
		s.buf, s.bi = s.buf[:0], 0
		switch s.phase {
		case 0:
			s.phase = 1
		case 1:
			if s.done {
				s.phase = 2
				continue
			}
			s.page()
		case 2:
			s.emitPending("")
			s.phase = 3
			return
		default:
			return
		}
	}
}

func (s *listStream) page() {
	s.epoch = s.m.epoch.Load()
	res, err := s.m.store.List(s.ctx, s.bucket, storage.ListOptions{
		Prefix: s.prefix, Delimiter: "/", After: s.after, Limit: listPage, At: s.at,
	})
	if err != nil {
		s.err = toErrno(err)
		return
	}
	if res.Next == "" || len(res.Objects) == 0 && len(res.Prefixes) == 0 {
		s.done = true
	}
	s.after = res.Next
	oi, pi := 0, 0
	// Merge objects and prefixes so the listing is in key order.
	for oi < len(res.Objects) || pi < len(res.Prefixes) {
		if pi >= len(res.Prefixes) || (oi < len(res.Objects) && res.Objects[oi].Key < res.Prefixes[pi]) {
			v := res.Objects[oi]
			oi++
			name := v.Key[min(len(s.prefix), len(v.Key)):]
			s.emitPending(name)
			if name == "" || strings.Contains(name, "/") || name == versionsName || v.DeleteMarker() {
				continue // the directory's own marker, a hidden name, a marker
			}
			if !s.dedup(name, false) {
				continue
			}
			s.buf = append(s.buf, listEntry{DirEntry: s.m.fileEntry(s.bucket, name, v, !s.at.IsZero()), v: v})
			continue
		}
		p := res.Prefixes[pi]
		pi++
		s.emitPending(p[min(len(s.prefix), len(p)):])
		name := strings.TrimSuffix(p[min(len(s.prefix), len(p)):], "/")
		if name == "" || name == versionsName || !s.dedup(name, true) {
			continue
		}
		e := fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: inoOf('d', s.bucket, p)}
		if !s.at.IsZero() {
			e.Ino = inoOf('@', s.bucket, p, s.at.String())
		}
		s.buf = append(s.buf, listEntry{DirEntry: e})
	}
}

// dedup reports whether name (a directory when dir) is new in this listing.
// Names arrive in key order, where the directory "x/" sorts after the file
// "x" with only keys starting with "x" and a byte below '/' in between. So
// a file name can be repeated only while every later name still extends
// it that way: those file names form a stack of prefixes of each other,
// and everything else is popped. A name listed for a pending file is not
// listed again when the store has it.
func (s *listStream) dedup(name string, dir bool) bool {
	if !dir {
		if i, ok := slices.BinarySearchFunc(s.pending, name, func(e fuse.DirEntry, n string) int { return strings.Compare(e.Name, n) }); ok {
			if s.got[i] {
				return false // listed already as a pending file
			}
			s.got[i] = true
		}
	}
	for len(s.files) > 0 {
		top := s.files[len(s.files)-1]
		if dir && name == top {
			s.files = s.files[:len(s.files)-1]
			return false // the file is shown, the directory is not
		}
		if len(name) > len(top) && strings.HasPrefix(name, top) && name[len(top)] < '/' {
			break // "x-1" after "x": "x/" may still come
		}
		s.files = s.files[:len(s.files)-1]
	}
	if !dir {
		s.files = append(s.files, name)
	}
	return true
}

// emitPending lists the pending files whose names sort before key (every
// remaining one when key is "").
func (s *listStream) emitPending(key string) {
	for s.pi < len(s.pending) && (key == "" || s.pending[s.pi].Name < key) {
		e := s.pending[s.pi]
		s.pi++
		if s.dedup(e.Name, false) {
			s.buf = append(s.buf, listEntry{DirEntry: e})
		}
	}
}

func (s *listStream) HasNext() bool {
	s.fill()
	return s.bi < len(s.buf) || s.err != 0
}

func (s *listStream) Next() (fuse.DirEntry, syscall.Errno) {
	if s.err != 0 && s.bi == len(s.buf) {
		errno := s.err
		s.err = 0
		s.phase = 3
		s.cur = nil
		return fuse.DirEntry{}, errno
	}
	s.cur = &s.buf[s.bi]
	s.bi++
	s.off++
	s.cur.Off = s.off
	return s.cur.DirEntry, 0
}

// listed returns the version the entry called name was listed with, if
// it is the entry Next returned last (READDIRPLUS asks right after it).
func (s *listStream) listed(name string) *storage.ObjectVersion {
	if s.cur == nil || s.cur.Name != name {
		return nil
	}
	return s.cur.v
}

func (s *listStream) Close() {
	s.buf, s.files, s.cur = nil, nil, nil
}

// Seekdir restarts the listing and skips to entry off.
func (s *listStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	s.reset()
	for s.off < off && s.HasNext() {
		if _, errno := s.Next(); errno != 0 {
			return errno
		}
	}
	return 0
}

// fileEntry is the readdir entry of a version listed under name.
func (m *mountFS) fileEntry(bucket, name string, v *storage.ObjectVersion, pinned bool) fuse.DirEntry {
	_, link := v.Attrs[attrSymlink]
	mode := uint32(syscall.S_IFREG)
	if link {
		mode = syscall.S_IFLNK
	}
	if pinned {
		return fuse.DirEntry{Name: name, Mode: mode, Ino: inoOf('F', bucket, v.Key, v.VersionID)}
	}
	kind := byte('f')
	if link {
		kind = 'l'
	}
	return fuse.DirEntry{Name: name, Mode: mode, Ino: inoOf(kind, bucket, v.Key)}
}
