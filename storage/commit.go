package storage

import (
	"errors"
	"fmt"
	"slices"
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
//
// Durability: a batch is committed without waiting for the disk and then,
// unless every request in it asked for NoSync, made durable by one Sync of
// the DB, preceded by a flush of the blobs that NoSync puts published
// without fsync. That order is what keeps a synced commit from making a
// NoSync record durable while the blob it names is not: every such blob is
// registered with its backend before its op is queued, so the flush of a
// batch covers the blobs of every record committed up to that batch. A
// NoSync batch leaves the work to the next synced batch, to Store.Sync, or
// to a background sync at most flushDelay later.
//
// The sync of a batch runs in a second goroutine while the writer commits
// the next batches, and one sync then covers all of them: the disk's
// latency is paid once per round, not once per batch.
type committer struct {
	db       metadata.DB
	syncer   metadata.Syncer // nil: db.Update is durable by itself
	maxBatch int
	// flushBlobs makes the blobs published without fsync durable.
	flushBlobs func() error

	mu     sync.RWMutex // guards closed against sends on ch
	closed bool
	ch     chan *request
	done   chan struct{}
	// stopped is closed by close, waking Events waiters.
	stopped chan struct{}

	// Owned by the run goroutine.
	lastSeq uint64 // newest committed event
	lastVer uint64 // newest version sequence handed out

	// The sync goroutine (runSync) takes committed batches from syncCh.
	syncCh   chan syncJob
	syncDone chan struct{}
	smu      sync.Mutex // guards the fields below
	scond    *sync.Cond // signalled when inflight drops
	inflight int        // batches handed to the sync goroutine, not acknowledged
	dirty    bool       // NoSync commits not yet synced
	deferred []func()   // after-commit actions of NoSync ops, run once synced
	armed    bool       // a background sync is scheduled
	timer    *time.Timer

	// notify is closed (and replaced) whenever events commit.
	nmu    sync.Mutex
	notify chan struct{}
	seen   uint64 // lastSeq as visible to readers
}

// flushDelay bounds how long a NoSync commit waits for durability when
// nothing else syncs.
const flushDelay = time.Second

// op is one change. It must only read and write tx (no I/O), may run more
// than once (when another op of its batch fails), and reports its results
// through variables it captures, overwriting them on every run.
type op func(tx metadata.Tx, c *txCtx) error

type request struct {
	fn     op  // nil: the request only asks for a sync
	weight int // bytes the op writes, roughly (bounds a batch's size)
	noSync bool
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
	c.syncer, _ = db.(metadata.Syncer)
	c.scond = sync.NewCond(&c.smu)
	c.syncCh, c.syncDone = make(chan syncJob, 256), make(chan struct{})
	c.flushBlobs = func() error { return nil }
	if err := db.View(func(tx metadata.Tx) error {
		var err error
		c.lastSeq, err = metadata.LastEventSeq(tx)
		return err
	}); err != nil {
		return nil, err
	}
	c.seen = c.lastSeq
	go c.runSync()
	go c.run()
	return c, nil
}

// do runs fn in the writer and waits for its synced commit; after a
// successful commit it runs the actions the op registered (e.g. freeing
// blobs).
func (c *committer) do(fn op) error { return c.submit(fn, 0, false) }

// doWeighted is do for an op writing about weight bytes of payload.
func (c *committer) doWeighted(fn op, weight int) error { return c.submit(fn, weight, false) }

// canDefer reports whether NoSync requests are really left unsynced.
func (c *committer) canDefer() bool { return c.syncer != nil }

// submit queues fn (nil: nothing but a sync) and waits for its commit, which
// with noSync is not yet durable; the op's after-commit actions then wait
// for the sync, since they free blobs the unsynced records no longer name.
func (c *committer) submit(fn op, weight int, noSync bool) error {
	r := &request{fn: fn, weight: weight + 512, noSync: noSync, done: make(chan error, 1)}
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

// sync makes every commit so far durable, with the blobs they name.
func (c *committer) sync() error { return c.submit(nil, 0, false) }

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
	defer func() {
		close(c.syncCh)
		<-c.syncDone
		c.smu.Lock()
		if c.timer != nil {
			c.timer.Stop()
		}
		c.smu.Unlock()
	}()
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

// process commits a batch and, unless every request in it is NoSync, makes
// it (and every NoSync commit before it) durable before acknowledging.
func (c *committer) process(batch []*request) {
	sync := c.syncer != nil && slices.ContainsFunc(batch, func(r *request) bool { return !r.noSync })
	if c.syncer != nil && slices.ContainsFunc(batch, func(r *request) bool { return r.noSync }) {
		// A sync in flight could catch NoSync records whose blobs are not
		// flushed yet: wait for it (it takes a millisecond or so).
		c.smu.Lock()
		for c.inflight > 0 {
			c.scond.Wait()
		}
		c.smu.Unlock()
	}
	if sync {
		if err := c.flushBlobs(); err != nil {
			for _, r := range batch {
				r.done <- err
			}
			return
		}
	}
	ok := c.commit(batch)
	if c.syncer == nil {
		c.publish(c.lastSeq)
		for _, r := range ok {
			r.done <- nil
		}
		return
	}
	if !sync {
		c.smu.Lock()
		for _, r := range ok {
			c.deferred = append(c.deferred, r.after...)
			r.after = nil
			c.dirty = true
		}
		if c.dirty && !c.armed {
			c.armed = true
			c.timer = time.AfterFunc(flushDelay, func() { c.sync() })
		}
		c.smu.Unlock()
		c.publish(c.lastSeq)
		for _, r := range ok {
			r.done <- nil
		}
		return
	}
	// The sync runs in its own goroutine while this one commits the next
	// batch, and covers every batch committed meanwhile at once.
	c.smu.Lock()
	c.inflight++
	c.smu.Unlock()
	c.syncCh <- syncJob{reqs: ok, seq: c.lastSeq}
}

// syncJob is a committed batch waiting for the sync that acknowledges it.
type syncJob struct {
	reqs []*request
	seq  uint64 // newest event seq of the batch
}

// runSync syncs committed batches: one DB sync for all the jobs queued,
// then their acknowledgements, events and deferred actions.
func (c *committer) runSync() {
	defer close(c.syncDone)
	for job := range c.syncCh {
		jobs := []syncJob{job}
	drain:
		for {
			select {
			case j, ok := <-c.syncCh:
				if !ok {
					break drain
				}
				jobs = append(jobs, j)
			default:
				break drain
			}
		}
		c.smu.Lock()
		dirty, deferred := c.dirty, c.deferred
		c.dirty, c.deferred, c.armed = false, nil, false
		c.smu.Unlock()
		ops := dirty
		for _, j := range jobs {
			ops = ops || slices.ContainsFunc(j.reqs, func(r *request) bool { return r.fn != nil })
		}
		var err error
		if ops {
			err = c.syncer.Sync()
			if errors.Is(err, syscall.ENOSPC) {
				err = fmt.Errorf("%w: metadata sync: %v", ErrNoSpace, err)
			}
		}
		if err != nil {
			c.smu.Lock()
			c.dirty = true
			c.deferred = append(deferred, c.deferred...)
			c.smu.Unlock()
		} else {
			for _, f := range deferred {
				f()
			}
		}
		c.publish(jobs[len(jobs)-1].seq)
		for _, j := range jobs {
			for _, r := range j.reqs {
				if r.noSync && err != nil {
					// Committed as asked; its actions wait for a sync that works.
					c.smu.Lock()
					c.deferred = append(c.deferred, r.after...)
					c.smu.Unlock()
					r.after = nil
					r.done <- nil
					continue
				}
				r.done <- err
			}
		}
		c.smu.Lock()
		c.inflight -= len(jobs)
		c.scond.Broadcast()
		c.smu.Unlock()
	}
}

// publish wakes the Events waiters when events up to seq committed. A
// synced batch publishes only once durable, so a consumer never acts on an
// event a power loss could take back unless it was written with NoSync.
func (c *committer) publish(seq uint64) {
	c.nmu.Lock()
	defer c.nmu.Unlock()
	if seq > c.seen {
		c.seen = seq
		close(c.notify)
		c.notify = make(chan struct{})
	}
}

// commit runs the ops of a batch in one transaction (without syncing when
// the DB can) and returns the requests that committed; the others have had
// their error sent. A failing op is dropped and the rest run again; a
// batch too big for one transaction is split.
func (c *committer) commit(batch []*request) []*request {
	conflicts := 0
	for len(batch) > 0 {
		if !slices.ContainsFunc(batch, func(r *request) bool { return r.fn != nil }) {
			return batch // only syncs
		}
		failed, failErr := -1, error(nil)
		ctxs := make([]*txCtx, len(batch))
		seq := c.lastSeq
		update := c.db.Update
		if c.syncer != nil {
			update = c.syncer.UpdateNoSync
		}
		err := update(func(tx metadata.Tx) error {
			seq = c.lastSeq
			for i, r := range batch {
				tc := &txCtx{c: c, seq: &seq}
				ctxs[i] = tc
				if r.fn == nil {
					continue
				}
				if err := r.fn(tx, tc); err != nil {
					failed, failErr = i, err
					return errBatchAborted
				}
			}
			return nil
		})
		tooBig := errors.Is(err, metadata.ErrTxnTooBig) || errors.Is(failErr, metadata.ErrTxnTooBig)
		switch {
		case tooBig && len(batch) > 1:
			h := len(batch) / 2
			return append(c.commit(batch[:h]), c.commit(batch[h:])...)
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
			return nil
		}
		c.lastSeq = seq
		for i, r := range batch {
			r.after = ctxs[i].after
		}
		return batch
	}
	return nil
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
