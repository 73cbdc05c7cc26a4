package storage

import (
	"context"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/storage/blob"
)

// maxRunningHashes bounds the uploads hashed ahead at a time (each holds a
// hasher and, while it feeds, 1 MiB of buffers); past it, the upload idle
// the longest is forgotten and hashes whole at complete.
const maxRunningHashes = 64

// uploadHashes hashes the blob of each open upload front to back while its
// parts arrive, so that complete, instead of reading and hashing the whole
// object after the last part (seconds for a GiB), only finishes the tail.
// The state lives in memory: after a restart, complete hashes everything.
type uploadHashes struct {
	mu sync.Mutex
	m  map[string]*runningHash
}

// runningHash is the state of one upload. Parts are fed in order once
// recorded (durable); a part written again after it was fed spoils the
// state, and complete then hashes the blob from scratch.
type runningHash struct {
	mu       sync.Mutex
	idle     *sync.Cond // signalled when feeding stops
	size     int64
	partSize int64
	open     func() (blob.Reader, error)
	used     time.Time // last part written (guarded by uploadHashes.mu)

	h       *hasher
	next    int          // first part not fed yet
	acked   map[int]bool // recorded parts ahead of next
	feeding int          // part being fed, -1 none
	spoiled bool
}

func (u *uploadHashes) get(m *Multipart, be blob.Backend) *runningHash {
	u.mu.Lock()
	defer u.mu.Unlock()
	if rh := u.m[m.UploadID]; rh != nil {
		rh.used = time.Now()
		return rh
	}
	if len(u.m) >= maxRunningHashes {
		// Make room by forgetting the upload idle the longest (likely
		// abandoned); it will be hashed whole if it ever completes.
		var oldID string
		var old *runningHash
		for id, rh := range u.m {
			if old == nil || rh.used.Before(old.used) {
				oldID, old = id, rh
			}
		}
		delete(u.m, oldID)
		old.mu.Lock()
		old.spoiled = true
		old.mu.Unlock()
	}
	if u.m == nil {
		u.m = map[string]*runningHash{}
	}
	fileID := m.FileID
	rh := &runningHash{size: m.Size, partSize: m.PartSize, h: newHasher(), acked: map[int]bool{}, feeding: -1,
		open: func() (blob.Reader, error) { return be.Open(context.Background(), fileID) }}
	rh.idle = sync.NewCond(&rh.mu)
	rh.used = time.Now()
	u.m[m.UploadID] = rh
	return rh
}

// take removes upload id's state and returns it (nil if there is none).
func (u *uploadHashes) take(id string) *runningHash {
	u.mu.Lock()
	defer u.mu.Unlock()
	rh := u.m[id]
	delete(u.m, id)
	return rh
}

// writing is called before part n's bytes are (re)written.
func (rh *runningHash) writing(n int) {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if n < rh.next || n == rh.feeding {
		rh.spoiled = true
	}
	delete(rh.acked, n)
}

// recorded is called once part n is durable and recorded: it starts feeding
// when n continues the hashed prefix.
func (rh *runningHash) recorded(n int) {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if rh.spoiled || n < rh.next {
		return
	}
	rh.acked[n] = true
	if rh.feeding < 0 && rh.acked[rh.next] {
		rh.feeding = rh.next
		go rh.feed()
	}
}

// feed hashes recorded parts in order until it reaches one not recorded.
func (rh *runningHash) feed() {
	r, err := rh.open()
	rh.mu.Lock()
	defer rh.mu.Unlock()
	if err == nil {
		defer r.Close()
	}
	for err == nil && !rh.spoiled && rh.acked[rh.next] {
		n := rh.next
		rh.feeding = n
		delete(rh.acked, n)
		rh.mu.Unlock()
		err = rh.feedPart(r, n)
		rh.mu.Lock()
		rh.next = n + 1
	}
	if err != nil {
		rh.spoiled = true
	}
	rh.feeding = -1
	rh.idle.Broadcast()
}

func (rh *runningHash) feedPart(r io.ReaderAt, n int) error {
	start := int64(n) * rh.partSize
	end := min(start+rh.partSize, rh.size)
	got, err := hashCopy(io.Discard, io.NewSectionReader(r, start, end-start), rh.h)
	if err == nil && got != end-start {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// finish waits for feeding to stop and hashes the parts not fed yet. It is
// called under the upload's exclusive lock, so no part is being written.
// ok is false when the state cannot be used (complete must hash it all).
func (rh *runningHash) finish(r io.ReaderAt) (md5sum, b3sum string, ok bool, err error) {
	rh.mu.Lock()
	for rh.feeding >= 0 {
		rh.idle.Wait()
	}
	spoiled, next := rh.spoiled, rh.next
	rh.spoiled = true // single use
	rh.mu.Unlock()
	if spoiled {
		return "", "", false, nil
	}
	if start := int64(next) * rh.partSize; start < rh.size {
		got, err := hashCopy(io.Discard, io.NewSectionReader(r, start, rh.size-start), rh.h)
		if err != nil {
			return "", "", false, err
		}
		if got != rh.size-start {
			return "", "", false, io.ErrUnexpectedEOF
		}
	}
	md5sum, b3sum = rh.h.sums()
	return md5sum, b3sum, true, nil
}

// drop spoils the state and waits for a background feed to stop.
func (rh *runningHash) drop() {
	rh.mu.Lock()
	rh.spoiled = true
	for rh.feeding >= 0 {
		rh.idle.Wait()
	}
	rh.mu.Unlock()
}

// partBufs recycles partBody's blocks: fresh 1 MiB buffers for every part
// cost page faults and GC work comparable to the copy itself.
var partBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// partBody is a part's request body on its way to the blob: when the
// backend copies it (io.Copy finds WriteTo), the bytes move in 1 MiB
// blocks and their MD5 is computed on another core, overlapping the
// network reads and the writes.
type partBody struct {
	r    io.Reader
	md5  hash.Hash
	left int64 // bytes of the part not yet passed on: never write past it
}

func (p *partBody) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if int64(n) > p.left {
		n = int(p.left)
	}
	p.left -= int64(n)
	p.md5.Write(b[:n])
	return n, err
}

func (p *partBody) WriteTo(w io.Writer) (int64, error) {
	const nbuf = 3
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- *partBufs.Get().(*[]byte)
	}
	defer func() {
		for range nbuf {
			b := <-free
			partBufs.Put(&b)
		}
	}()
	toHash := make(chan []byte, nbuf)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range toHash {
			p.md5.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var total int64
	var err error
	for {
		b := <-free
		n, rerr := io.ReadFull(p.r, b)
		if int64(n) > p.left {
			n = int(p.left)
		}
		p.left -= int64(n)
		if n > 0 {
			if _, werr := w.Write(b[:n]); werr != nil {
				free <- b
				err = werr
				break
			}
			total += int64(n)
			toHash <- b[:n]
		} else {
			free <- b
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(toHash)
	<-hashed
	return total, err
}
