package fusefs

import (
	"io"
	"os"
	"sync"

	"github.com/bucketfs/bucketfs/storage"
)

// blockReader serves ReadAt of one remote version from a BlockCache. It
// keeps the block it read last open, so the many FUSE reads that fall into
// one block cost one open. Reads that move forward block by block start
// the cache's read-ahead; a read that jumps fetches only its own blocks.
type blockReader struct {
	c *BlockCache
	s blockSource

	mu      sync.Mutex
	cur     *os.File
	curIdx  int64
	lastIdx int64 // block of the previous read (-1 first: block 0 starts a sequential read)
}

var _ contentReader = (*blockReader)(nil)

// Open returns random access to v's content through the cache.
func (c *BlockCache) Open(store storage.ObjectStore, bucket string, v *storage.ObjectVersion) contentReader {
	return &blockReader{c: c, s: blockSource{store: store, bucket: bucket, key: v.Key, version: v.VersionID,
		id: contentID(v), size: v.Size()}, curIdx: -1, lastIdx: -1}
}

func (r *blockReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off >= r.s.size {
		return 0, io.EOF
	}
	bs := r.c.o.BlockSize
	n := 0
	for n < len(p) && off+int64(n) < r.s.size {
		pos := off + int64(n)
		idx := pos / bs
		seq := idx == r.lastIdx || idx == r.lastIdx+1
		if err := r.open(idx, seq); err != nil {
			return n, err
		}
		if seq && idx != r.lastIdx {
			r.c.readAhead(&r.s, idx)
		}
		r.lastIdx = idx
		in := pos - idx*bs
		want := min(int64(len(p)-n), r.c.blockLen(&r.s, idx)-in)
		k, err := r.cur.ReadAt(p[n:n+int(want)], in)
		n += k
		if err != nil && int64(k) < want {
			r.closeCur()
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// open makes block idx the current one. A sequential reader that misses
// fetches the whole read-ahead window in the same request.
func (r *blockReader) open(idx int64, seq bool) error {
	if r.cur != nil && r.curIdx == idx {
		return nil
	}
	r.closeCur()
	run := 1
	if seq {
		run = 1 + r.c.o.ReadAhead
	}
	f, err := r.c.openBlock(&r.s, idx, run)
	if err != nil {
		return err
	}
	r.cur, r.curIdx = f, idx
	return nil
}

func (r *blockReader) closeCur() {
	if r.cur != nil {
		r.cur.Close()
		r.cur, r.curIdx = nil, -1
	}
}

func (r *blockReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeCur()
	return nil
}
