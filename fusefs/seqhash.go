package fusefs

import (
	"sync"

	"github.com/zeebo/blake3"
)

// seqHash computes the BLAKE3 of a file while it is written in order, on
// its own goroutine, so a big file needs no second pass at close and the
// writer does not wait for the hash (on two cores the hash of one write
// overlaps the next write). The staging that owns it stops feeding it as
// soon as a write lands anywhere but at its end.
type seqHash struct {
	ch   chan []byte
	done chan struct{}
	h    *blake3.Hasher
	n    int64 // bytes sent so far: the hashed prefix is [0, n)
}

// hashBufs recycles the copies handed to hash goroutines (a WRITE is at
// most MaxWrite, 1 MiB).
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

func newSeqHash() *seqHash {
	s := &seqHash{ch: make(chan []byte, 8), done: make(chan struct{}), h: blake3.New()}
	go func() {
		defer close(s.done)
		for b := range s.ch {
			s.h.Write(b)
			if cap(b) == 1<<20 {
				hashBufs.Put(&b)
			}
		}
	}()
	return s
}

// write queues a copy of p (the caller's buffer is reused by go-fuse).
func (s *seqHash) write(p []byte) {
	for len(p) > 0 {
		bp := hashBufs.Get().(*[]byte)
		k := min(len(p), cap(*bp))
		b := append((*bp)[:0], p[:k]...)
		s.ch <- b
		s.n += int64(k)
		p = p[k:]
	}
}

// sum waits for the queued bytes and returns "blake3:<hex>" of [0, n).
func (s *seqHash) sum() string {
	close(s.ch)
	<-s.done
	return "blake3:" + hexString(s.h.Sum(nil))
}

// stop ends the goroutine without a result.
func (s *seqHash) stop() {
	close(s.ch)
}
