package storage

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/metadata"
)

// committer is the store's single writer. Every change to "st/" records is
// an op run by one goroutine; ops that queue up while a commit is in flight
// run together in the next transaction, so N concurrent puts cost one
// synced commit (group commit) and never conflict with each other. The
// single writer also makes the event sequencer and the version clock
// simple: both are assigned in commit order.
type committer struct {
	db       metadata.DB
	maxBatch int

	mu     sync.RWMutex // guards closed against sends on ch
	closed bool
	ch     chan *request
	done   chan struct{}
	// stopped is closed by close, waking Events waiters.
	stopped chan struct{}

	// Owned by the run goroutine.
	lastSeq uint64 // newest committed event
	lastVer uint64 // newest version sequence handed out

	// notify is closed (and replaced) whenever events commit.
	nmu    sync.Mutex
	notify chan struct{}
	seen   uint64 // lastSeq as visible to readers
}

// op is one change. It must only read and write tx (no I/O), may run more
// than once (when another op of its batch fails), and reports its results
// through variables it captures, overwriting them on every run.
type op func(tx metadata.Tx, c *txCtx) error

type request struct {
	fn     op
	weight int // bytes the op writes, roughly (bounds a batch's size)
	done   chan error
	after  []func()
}

// maxBatchBytes bounds the payload (inline file bytes) one batch holds in
// memory. Payloads of 4 KiB and more go to badger's value log and count
// only as pointers against its transaction limit.
const maxBatchBytes = 4 << 20

// txCtx is what an op may use besides the transaction.
type txCtx struct {
	c     *committer
	seq   *uint64
	after []func()
}

var errBatchAborted = errors.New("storage: batch aborted")

func newCommitter(db metadata.DB, maxBatch int) (*committer, error) {
	c := &committer{db: db, maxBatch: maxBatch, ch: make(chan *request, 256), done: make(chan struct{}), stopped: make(chan struct{}), notify: make(chan struct{})}
	if err := db.View(func(tx metadata.Tx) error {
		var err error
		c.lastSeq, err = metadata.LastEventSeq(tx)
		return err
	}); err != nil {
		return nil, err
	}
	c.seen = c.lastSeq
	go c.run()
	return c, nil
}

// do runs fn in the writer and waits for its commit; after a successful
// commit it runs the actions the op registered (e.g. freeing blobs).
func (c *committer) do(fn op) error { return c.doWeighted(fn, 0) }

// doWeighted is do for an op writing about weight bytes of payload.
func (c *committer) doWeighted(fn op, weight int) error {
	r := &request{fn: fn, weight: weight + 512, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	c.ch <- r
	c.mu.RUnlock()
	err := <-r.done
	if err == nil {
		for _, f := range r.after {
			f()
		}
	}
	return err
}

func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.ch)
	c.mu.Unlock()
	<-c.done
	close(c.stopped)
}

func (c *committer) run() {
	defer close(c.done)
	var carry *request // received but did not fit the previous batch
	for {
		r := carry
		carry = nil
		if r == nil {
			var ok bool
			if r, ok = <-c.ch; !ok {
				return
			}
		}
		batch, bytes := []*request{r}, r.weight
	drain:
		for len(batch) < c.maxBatch {
			select {
			case r2, ok := <-c.ch:
				if !ok {
					break drain
				}
				if bytes+r2.weight > maxBatchBytes {
					carry = r2
					break drain
				}
				batch = append(batch, r2)
				bytes += r2.weight
			default:
				break drain
			}
		}
		c.process(batch)
	}
}

func (c *committer) process(batch []*request) {
	conflicts := 0
	for len(batch) > 0 {
		failed, failErr := -1, error(nil)
		ctxs := make([]*txCtx, len(batch))
		seq := c.lastSeq
		err := c.db.Update(func(tx metadata.Tx) error {
			seq = c.lastSeq
			for i, r := range batch {
				tc := &txCtx{c: c, seq: &seq}
				if err := r.fn(tx, tc); err != nil {
					failed, failErr = i, err
					return errBatchAborted
				}
				ctxs[i] = tc
			}
			return nil
		})
		tooBig := errors.Is(err, metadata.ErrTxnTooBig) || errors.Is(failErr, metadata.ErrTxnTooBig)
		switch {
		case tooBig && len(batch) > 1:
			h := len(batch) / 2
			c.process(batch[:h])
			c.process(batch[h:])
			return
		case errors.Is(err, errBatchAborted):
			batch[failed].done <- failErr
			batch = append(batch[:failed:failed], batch[failed+1:]...)
			continue
		case errors.Is(err, metadata.ErrConflict) && conflicts < 10:
			// Only another user of the shared DB touching "st/" keys
			// could cause this; retrying is safe since ops are replayable.
			time.Sleep(time.Millisecond << conflicts)
			conflicts++
			continue
		case err != nil:
			if errors.Is(err, syscall.ENOSPC) {
				err = fmt.Errorf("%w: metadata commit: %v", ErrNoSpace, err)
			}
			for _, r := range batch {
				r.done <- err
			}
			return
		}
		if seq != c.lastSeq {
			c.lastSeq = seq
			c.nmu.Lock()
			c.seen = seq
			close(c.notify)
			c.notify = make(chan struct{})
			c.nmu.Unlock()
		}
		for i, r := range batch {
			r.after = ctxs[i].after
			r.done <- nil
		}
		return
	}
}

// waiter returns the committed event seq and a channel closed on the next
// commit of events.
func (c *committer) waiter() (uint64, <-chan struct{}) {
	c.nmu.Lock()
	defer c.nmu.Unlock()
	return c.seen, c.notify
}

// emit writes ev into the outbox with the next sequence number.
func (t *txCtx) emit(tx metadata.Tx, ev *Event) error {
	*t.seq++
	ev.Seq = *t.seq
	if ev.ID == "" {
		ev.ID = uuid.NewString()
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	return metadata.AppendEvent(tx, ev)
}

// versionSeq hands out a version sequence newer than after and than every
// earlier one: nanoseconds of wall time, nudged forward when the clock
// stalls or steps back, so it doubles as the version's creation time.
func (t *txCtx) versionSeq(after uint64) uint64 {
	v := uint64(time.Now().UnixNano())
	if v <= t.c.lastVer {
		v = t.c.lastVer + 1
	}
	if v <= after {
		v = after + 1
	}
	t.c.lastVer = v
	return v
}

// onCommit registers f to run after the op's transaction committed.
func (t *txCtx) onCommit(f func()) { t.after = append(t.after, f) }
