package fusefs

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// contentReader is random access to one version's bytes.
type contentReader interface {
	io.ReaderAt
	io.Closer
}

// emptyReader is the content of a delete marker or an empty file.
type emptyReader struct{}

func (emptyReader) ReadAt(p []byte, off int64) (int, error) { return 0, io.EOF }
func (emptyReader) Close() error                            { return nil }

// streamReader serves ReadAt from a store without BlobOpener: it keeps one
// ranged Get open and reuses it while reads are sequential (the common
// case, helped by kernel read-ahead), and reopens at the new offset when a
// read jumps. The caller serialises calls.
type streamReader struct {
	m       *mountFS
	bucket  string
	key     string
	version string
	rc      io.ReadCloser
	pos     int64
}

func (r *streamReader) ReadAt(p []byte, off int64) (int, error) {
	if r.rc == nil || off != r.pos {
		if r.rc != nil {
			r.rc.Close()
			r.rc = nil
		}
		rc, _, err := r.m.store.Get(r.m.ctx(context.Background()), r.bucket, r.key, r.version, off, -1)
		if err != nil {
			return 0, err
		}
		r.rc, r.pos = rc, off
	}
	n, err := io.ReadFull(r.rc, p)
	r.pos += int64(n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	if err != nil {
		r.rc.Close()
		r.rc = nil
	}
	return n, err
}

func (r *streamReader) Close() error {
	if r.rc != nil {
		return r.rc.Close()
	}
	return nil
}

// openReader opens v's content for random access: the local blob when the
// store has one, else ranged reads.
func (m *mountFS) openReader(ctx context.Context, bucket string, v *storage.ObjectVersion) (contentReader, error) {
	if v == nil || v.File == nil || v.Size() == 0 {
		return emptyReader{}, nil
	}
	if m.blobs != nil {
		br, err := m.blobs.OpenBlob(m.ctx(ctx), v)
		if err == nil {
			return br, nil
		}
		m.log.Warn("mount: open blob failed, reading through the store", "key", v.Key, "err", err)
	}
	if m.opts.BlockCache != nil {
		return m.opts.BlockCache.Open(m.store, bucket, v), nil
	}
	return &streamReader{m: m, bucket: bucket, key: v.Key, version: v.VersionID}, nil
}

// openStaged opens the write-back engine's not yet uploaded copy of
// bucket/key, if there is one.
func (m *mountFS) openStaged(bucket, key string) (contentReader, int64, bool) {
	if m.opts.WriteBack == nil {
		return nil, 0, false
	}
	p, ok := m.opts.WriteBack.Staged(bucket, key)
	if !ok {
		return nil, 0, false
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, false
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, false
	}
	return f, st.Size(), true
}

// readResult answers a READ of rd at off. A local blob is spliced from its
// file to the kernel (fuse.ReadResultFd semantics: the bytes never pass
// through our memory); anything else is read into dest.
func (m *mountFS) readResult(rd contentReader, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if f, ok := rd.(fileBlob); ok && len(dest) <= m.maxSplice {
		n := min(int64(len(dest)), f.Size()-off)
		if n <= 0 {
			return fuse.ReadResultData(nil), 0
		}
		// The reply is written after this returns, and the handle's
		// reader may be closed meanwhile (a newer version replaced it), so
		// the reply gets its own descriptor.
		if fd, err := syscall.Dup(int(f.Fd())); err == nil {
			return &fdResult{fd: fd, off: off, sz: int(n)}, 0
		}
	}
	k, err := rd.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, toErrno(err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// fileBlob is a content reader backed by an immutable file of known size
// (a local blob).
type fileBlob interface {
	Fd() uintptr
	Size() int64
}

// fdResult is a READ reply read from fd at off; go-fuse splices it into
// /dev/fuse (or preads it when splicing is not possible) and then calls
// Done, which closes the descriptor.
type fdResult struct {
	fd  int
	off int64
	sz  int
}

func (r *fdResult) Seekable() (uintptr, int64, int) { return uintptr(r.fd), r.off, r.sz }
func (r *fdResult) Size() int                       { return r.sz }
func (r *fdResult) Done()                           { syscall.Close(r.fd) }

func (r *fdResult) Bytes(buf []byte) ([]byte, fuse.Status) {
	n, err := syscall.Pread(r.fd, buf[:min(len(buf), r.sz)], r.off)
	if n < 0 {
		n = 0
	}
	if err != nil {
		return buf[:n], fuse.ToStatus(err)
	}
	return buf[:n], fuse.OK
}

// maxSpliceSize is the largest READ reply that can be spliced: go-fuse
// moves a reply through a pipe sized to the reply plus a page, and a pipe
// cannot grow beyond /proc/sys/fs/pipe-max-size (1 MiB by default).
func maxSpliceSize() int {
	b, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return max(n-2*os.Getpagesize(), 0) &^ (os.Getpagesize() - 1)
}
