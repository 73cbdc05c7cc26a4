package fusefs

import (
	"io"
	"sync"

	"github.com/bucketfs/bucketfs/storage"
	"golang.org/x/sys/unix"
)

// blockReader serves ReadAt of one remote version from a BlockCache. It is
// safe for concurrent use: the kernel sends the READs of its read-ahead
// in parallel, and a reader that served them one at a time would leave
// the second core idle. Each call takes the block files it needs from the
// cache's set of open blocks. Reads that move forward
// block by block start the cache's read-ahead; a read that jumps fetches
// only its own blocks.
type blockReader struct {
	c *BlockCache
	s blockSource

	mu      sync.Mutex
	lastIdx int64 // block of the previous read (-1 first: block 0 starts a sequential read)
}

var (
	_ contentReader    = (*blockReader)(nil)
	_ concurrentReader = (*blockReader)(nil)
)

// concurrentReader is a contentReader whose ReadAt may run in parallel
// with itself and with Close (the handle then reads without its lock).
type concurrentReader interface {
	contentReader
	concurrentReads()
}

func (r *blockReader) concurrentReads() {}

// Open returns random access to v's content through the cache.
func (c *BlockCache) Open(store storage.ObjectStore, bucket string, v *storage.ObjectVersion) contentReader {
	return &blockReader{c: c, s: blockSource{store: store, bucket: bucket, key: v.Key, version: v.VersionID,
		id: contentID(v), size: v.Size()}, lastIdx: -1}
}

func (r *blockReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.s.size {
		return 0, io.EOF
	}
	bs := r.c.o.BlockSize
	n := 0
	for n < len(p) && off+int64(n) < r.s.size {
		pos := off + int64(n)
		idx := pos / bs
		r.mu.Lock()
		seq := idx == r.lastIdx || idx == r.lastIdx+1
		moved := idx != r.lastIdx
		if seq || idx > r.lastIdx {
			r.lastIdx = idx
		}
		r.mu.Unlock()
		run := 1
		if seq {
			run = 1 + r.c.o.ReadAhead
		}
		b, err := r.c.openBlock(&r.s, idx, run)
		if err != nil {
			return n, err
		}
		f := b.f
		if seq && moved {
			// The whole block in one disk read rather than the
			// kernel's growing read-ahead window, when it left the
			// page cache.
			_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_WILLNEED)
			r.c.readAhead(&r.s, idx)
		}
		in := pos - idx*bs
		want := min(int64(len(p)-n), r.c.blockLen(&r.s, idx)-in)
		k, err := f.ReadAt(p[n:n+int(want)], in)
		r.c.open.release(b)
		n += k
		if err != nil && int64(k) < want {
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close releases nothing: every ReadAt gives back what it took.
func (r *blockReader) Close() error { return nil }
