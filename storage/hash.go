package storage

import (
	"crypto/md5"
	"encoding/hex"
	"hash"
	"io"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
)

// hasher computes BLAKE3 (the store's integrity and dedup hash, always) and
// MD5 (Invenio's checksum, when md5 is set) of one stream in a single pass.
type hasher struct {
	b3  *blake3.Hasher
	md5 hash.Hash // nil: MD5 is left to the background checksummer
	n   int64
	// md5buf is the MD5 state a pooled hasher keeps between uses.
	md5buf hash.Hash
	// md5Limit, when > 0, drops MD5 once the stream passes it (a put of
	// unknown size starts hashing MD5 and gives up if the object is large).
	md5Limit int64
}

func newHasher() *hasher { return &hasher{b3: blake3.New(), md5: md5.New()} }

// newHasherMD5 is newHasher, with MD5 only if withMD5, taken from a pool:
// a BLAKE3 hasher is ~10 KiB, too much to allocate for every small put.
// Give it back with release once its sums are read.
func newHasherMD5(withMD5 bool) *hasher {
	h := hasherPool.Get().(*hasher)
	h.b3.Reset()
	h.n, h.md5Limit, h.md5 = 0, 0, nil
	if withMD5 {
		h.md5buf.Reset()
		h.md5 = h.md5buf
	}
	return h
}

var hasherPool = sync.Pool{New: func() any { return &hasher{b3: blake3.New(), md5buf: md5.New()} }}

// release returns a hasher from newHasherMD5 to the pool.
func (h *hasher) release() {
	if h.md5buf != nil {
		hasherPool.Put(h)
	}
}

func (h *hasher) Write(p []byte) (int, error) {
	h.b3.Write(p)
	if h.md5 != nil {
		h.md5.Write(p)
	}
	h.n += int64(len(p))
	return len(p), nil
}

// sums returns the checksums; md5sum is "" when MD5 was not computed.
func (h *hasher) sums() (md5sum, b3sum string) {
	if h.md5 != nil {
		md5sum = "md5:" + hex.EncodeToString(h.md5.Sum(nil))
	}
	return md5sum, "blake3:" + hex.EncodeToString(h.b3.Sum(nil))
}

// hashReaderAt hashes bytes [0, size) of r.
func hashReaderAt(r io.ReaderAt, size int64) (md5sum, b3sum string, err error) {
	h := newHasher()
	if _, err := hashCopy(io.Discard, io.NewSectionReader(r, 0, size), h); err != nil {
		return "", "", err
	}
	if h.n != size {
		return "", "", io.ErrUnexpectedEOF
	}
	md5sum, b3sum = h.sums()
	return md5sum, b3sum, nil
}

// chunkSize is the unit of the copy pipeline: large enough for few
// syscalls and for BLAKE3's wide SIMD path, small enough to keep a few
// per put.
const chunkSize = 1 << 20

// freeChunks keeps a few buffers between puts (a channel rather than a
// sync.Pool: it survives GCs and holds at most 8 MiB).
var freeChunks = make(chan *[]byte, 8)

func getChunk() *[]byte {
	select {
	case b := <-freeChunks:
		return b
	default:
		b := make([]byte, chunkSize)
		return &b
	}
}

func putChunk(b *[]byte) {
	select {
	case freeChunks <- b:
	default:
	}
}

// hashCopy copies src to dst while h hashes the bytes: one goroutine reads
// the source into 1 MiB buffers and hands each buffer, without copying, to
// a writer goroutine, a BLAKE3 goroutine and (if h has one) an MD5
// goroutine, so the put runs at the speed of the slowest of them instead of
// their sum. Up to maxChunks buffers are in flight.
func hashCopy(dst io.Writer, src io.Reader, h *hasher) (int64, error) {
	const maxChunks = 4
	type chunk struct {
		b    *[]byte
		n    int
		refs atomic.Int32
	}
	free := make(chan *chunk, maxChunks)
	allocated := 0
	var all []*chunk
	release := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			free <- c
		}
	}
	var (
		wg       sync.WaitGroup
		writeErr atomic.Pointer[error]
		consumer []chan *chunk
	)
	run := func(f func(p []byte)) {
		ch := make(chan *chunk, maxChunks)
		consumer = append(consumer, ch)
		wg.Go(func() {
			for c := range ch {
				f((*c.b)[:c.n])
				release(c)
			}
		})
	}
	if dst != io.Discard {
		run(func(p []byte) {
			if writeErr.Load() != nil {
				return
			}
			if _, err := dst.Write(p); err != nil {
				writeErr.Store(&err)
			}
		})
	}
	run(func(p []byte) { h.b3.Write(p) })
	var md5ch chan *chunk
	if h.md5 != nil {
		m := h.md5
		run(func(p []byte) { m.Write(p) })
		md5ch = consumer[len(consumer)-1]
	}
	var (
		total int64
		err   error
	)
	for {
		if p := writeErr.Load(); p != nil {
			err = *p
			break
		}
		var c *chunk
		select {
		case c = <-free:
		default:
			if allocated < maxChunks {
				c = &chunk{b: getChunk()}
				all = append(all, c)
				allocated++
			} else {
				c = <-free
			}
		}
		n, rerr := io.ReadFull(src, *c.b)
		if n > 0 {
			c.n = n
			total += int64(n)
			if md5ch != nil && h.md5Limit > 0 && total > h.md5Limit {
				// Too big for MD5 in the pass: drop it, the background
				// checksummer computes it from the blob.
				close(md5ch)
				consumer = consumer[:len(consumer)-1]
				md5ch = nil
				h.md5 = nil
			}
			c.refs.Store(int32(len(consumer)))
			for _, ch := range consumer {
				ch <- c
			}
		} else {
			free <- c
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	for _, ch := range consumer {
		close(ch)
	}
	wg.Wait()
	if p := writeErr.Load(); p != nil && err == nil {
		err = *p
	}
	for _, c := range all {
		putChunk(c.b)
	}
	h.n += total
	return total, err
}
