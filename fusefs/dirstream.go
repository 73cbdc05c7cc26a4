package fusefs

import (
	"context"
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

// listStream pages through a store listing with the "/" delimiter, so a
// directory of any size is listed with bounded memory: one page of the
// store's listing at a time (plus the set of names already returned, to
// hide a file and a directory of the same name).
type listStream struct {
	m      *mountFS
	ctx    context.Context
	bucket string
	prefix string
	at     time.Time // zero = the heads now
	head   []fuse.DirEntry
	tail   []fuse.DirEntry // pending files not yet in the store

	buf   []fuse.DirEntry
	after string
	done  bool
	err   syscall.Errno
	off   uint64
	seen  map[string]struct{}
	phase int // 0 head, 1 store pages, 2 tail
}

var _ fs.FileSeekdirer = (*listStream)(nil)

func (m *mountFS) newListStream(ctx context.Context, bucket, prefix string, at time.Time, head, tail []fuse.DirEntry) *listStream {
	s := &listStream{m: m, ctx: m.ctx(ctx), bucket: bucket, prefix: prefix, at: at, head: head, tail: tail}
	s.reset()
	return s
}

func (s *listStream) reset() {
	s.buf = s.buf[:0]
	s.after, s.done, s.err, s.off, s.phase = "", false, 0, 0, 0
	s.seen = make(map[string]struct{})
	s.buf = append(s.buf, s.head...)
}

func (s *listStream) fill() {
	for len(s.buf) == 0 && s.err == 0 {
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
			for _, e := range s.tail {
				if _, dup := s.seen[e.Name]; !dup {
					s.buf = append(s.buf, e)
				}
			}
			s.phase = 3
			return
		default:
			return
		}
	}
}

func (s *listStream) page() {
	res, err := s.m.store.List(s.ctx, s.bucket, storage.ListOptions{
		Prefix: s.prefix, Delimiter: "/", After: s.after, Limit: 1000, At: s.at,
	})
	if err != nil {
		s.err = toErrno(err)
		return
	}
	if res.Next == "" {
		s.done = true
	}
	s.after = res.Next
	oi, pi := 0, 0
	// Merge objects and prefixes so the listing is in key order.
	for oi < len(res.Objects) || pi < len(res.Prefixes) {
		if pi >= len(res.Prefixes) || (oi < len(res.Objects) && res.Objects[oi].Key < res.Prefixes[pi]) {
			v := res.Objects[oi]
			oi++
			name := strings.TrimPrefix(v.Key, s.prefix)
			if name == "" || strings.Contains(name, "/") || name == versionsName {
				continue // the directory's own marker, or a hidden name
			}
			if v.DeleteMarker() {
				continue
			}
			s.add(s.m.fileEntry(s.bucket, name, v, !s.at.IsZero()))
			continue
		}
		p := res.Prefixes[pi]
		pi++
		name := strings.TrimSuffix(strings.TrimPrefix(p, s.prefix), "/")
		if name == "" || name == versionsName {
			continue
		}
		e := fuse.DirEntry{Name: name, Mode: syscall.S_IFDIR, Ino: inoOf('d', s.bucket, p)}
		if !s.at.IsZero() {
			e.Ino = inoOf('@', s.bucket, p, s.at.String())
		}
		s.add(e)
	}
	if len(res.Objects) == 0 && len(res.Prefixes) == 0 {
		s.done = true
	}
}

func (s *listStream) add(e fuse.DirEntry) {
	if _, dup := s.seen[e.Name]; dup {
		return
	}
	s.seen[e.Name] = struct{}{}
	s.buf = append(s.buf, e)
}

func (s *listStream) HasNext() bool {
	s.fill()
	return len(s.buf) > 0 || s.err != 0
}

func (s *listStream) Next() (fuse.DirEntry, syscall.Errno) {
	if s.err != 0 && len(s.buf) == 0 {
		errno := s.err
		s.err = 0
		s.phase = 3
		return fuse.DirEntry{}, errno
	}
	e := s.buf[0]
	s.buf = s.buf[1:]
	s.off++
	e.Off = s.off
	return e, 0
}

func (s *listStream) Close() { s.seen = nil }

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
	if pinned {
		mode := uint32(syscall.S_IFREG)
		if _, ok := v.Attrs[attrSymlink]; ok {
			mode = syscall.S_IFLNK
		}
		return fuse.DirEntry{Name: name, Mode: mode, Ino: inoOf('F', bucket, v.Key, v.VersionID)}
	}
	if _, ok := v.Attrs[attrSymlink]; ok {
		return fuse.DirEntry{Name: name, Mode: syscall.S_IFLNK, Ino: inoOf('l', bucket, v.Key)}
	}
	return fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: inoOf('f', bucket, v.Key)}
}
