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

// hasher computes BLAKE3 and MD5 of one stream in a single pass.
type hasher struct {
	b3  *blake3.Hasher
	md5 hash.Hash
	n   int64
}

func newHasher() *hasher { return &hasher{b3: blake3.New(), md5: md5.New()} }

func (h *hasher) Write(p []byte) (int, error) {
	h.b3.Write(p)
	h.md5.Write(p)
	h.n += int64(len(p))
	return len(p), nil
}

func (h *hasher) sums() (md5sum, b3sum string) {
	return "md5:" + hex.EncodeToString(h.md5.Sum(nil)), "blake3:" + hex.EncodeToString(h.b3.Sum(nil))
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

// hashCopy copies src to dst while h hashes the bytes. MD5 and BLAKE3 run
// in their own goroutines on a ring of buffers, overlapping each other and
// the writes, so a large put is limited by the disk rather than by MD5.
func hashCopy(dst io.Writer, src io.Reader, h *hasher) (int64, error) {
	const nbuf, bufSize = 4, 256 << 10
	type chunk struct {
		b       []byte
		pending atomic.Int32
	}
	free := make(chan *chunk, nbuf)
	for range nbuf {
		free <- &chunk{b: make([]byte, bufSize)}
	}
	release := func(c *chunk) {
		if c.pending.Add(-1) == 0 {
			free <- c
		}
	}
	md5In, b3In := make(chan *chunk, nbuf), make(chan *chunk, nbuf)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for c := range md5In {
			h.md5.Write(c.b)
			release(c)
		}
	}()
	go func() {
		defer wg.Done()
		for c := range b3In {
			h.b3.Write(c.b)
			release(c)
		}
	}()
	var (
		total int64
		err   error
	)
	for {
		c := <-free
		c.b = c.b[:cap(c.b)]
		n, rerr := io.ReadFull(src, c.b)
		if n > 0 {
			c.b = c.b[:n]
			if _, werr := dst.Write(c.b); werr != nil {
				err = werr
				free <- c
				break
			}
			total += int64(n)
			c.pending.Store(2)
			md5In <- c
			b3In <- c
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
	close(md5In)
	close(b3In)
	wg.Wait()
	h.n += total
	return total, err
}
