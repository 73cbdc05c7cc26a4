package syncer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// WriteBack is the upload queue of a mount of a remote store: Stage moves a
// closed file into the state directory and journals it, workers upload it
// in the background (multipart sessions resume after a restart), Sync waits
// for a key's uploads, Staged lets reads see content not uploaded yet.
// Only the newest staged content of a key is uploaded; older stages of the
// same key are superseded.
type WriteBack struct {
	store  storage.ObjectStore
	db     metadata.DB
	ownDB  bool
	j      *journal
	dir    string
	opts   Options
	up     *uploader
	cnt    counters
	limits limitCache

	mu     sync.Mutex
	cond   *sync.Cond
	keys   map[wbKey]*wbState
	queue  []wbKey
	seq    uint64
	closed bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type wbKey struct{ bucket, key string }

type wbEntry struct {
	Seq     uint64            `json:"seq"`
	Bucket  string            `json:"bucket"`
	Key     string            `json:"key"`
	File    string            `json:"file"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	Created time.Time         `json:"created"`
}

type wbState struct {
	entries  []*wbEntry // ascending Seq
	removing int        // uploaded entries whose files are being removed
	busy     bool
	queued   bool
	err      error
	errSeq   uint64
	attempts int
	held     int                // Rename/Remove in progress: no uploads
	cancel   context.CancelFunc // cancels the upload in flight
}

const wbFid = "wb"

func wbJournalKey(seq uint64) []byte { return []byte(fmt.Sprintf("sj/wb/%020d", seq)) }

// NewWriteBack opens (creating) the journal in stateDir/journal and starts
// the upload workers; staged files live in stateDir/staged.
func NewWriteBack(store storage.ObjectStore, stateDir string, opts Options) (*WriteBack, error) {
	if err := os.MkdirAll(filepath.Join(stateDir, "staged"), 0o700); err != nil {
		return nil, err
	}
	bo := metadata.DefaultBadgerOptions()
	bo.Logger = opts.Logger
	db, err := metadata.OpenBadger(filepath.Join(stateDir, "journal"), bo)
	if err != nil {
		return nil, fmt.Errorf("open write-back journal in %s: %w", stateDir, err)
	}
	wb, err := NewWriteBackDB(store, db, stateDir, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	wb.ownDB = true
	return wb, nil
}

// NewWriteBackDB is NewWriteBack on an open DB (records below "sj/wb/" and
// "sj/u/wb/").
func NewWriteBackDB(store storage.ObjectStore, db metadata.DB, stateDir string, opts Options) (*WriteBack, error) {
	opts.fill()
	if err := os.MkdirAll(filepath.Join(stateDir, "staged"), 0o700); err != nil {
		return nil, err
	}
	wb := &WriteBack{store: store, db: db, j: &journal{db: db}, dir: stateDir, opts: opts, keys: map[wbKey]*wbState{}}
	wb.cond = sync.NewCond(&wb.mu)
	wb.up = &uploader{store: store, j: wb.j, opts: &wb.opts, budget: semaphore.NewWeighted(opts.BytesInFlight), cnt: &wb.cnt}
	if err := wb.load(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(storage.WithOrigin(context.Background(), storage.Origin{Kind: "mount"}))
	wb.cancel = cancel
	n := max(1, min(opts.Concurrency, 8))
	for i := 0; i < n; i++ {
		wb.wg.Add(1)
		go wb.worker(ctx)
	}
	return wb, nil
}

// load re-queues what was staged before a restart and drops sessions whose
// entry is gone.
func (wb *WriteBack) load() error {
	var entries []*wbEntry
	err := wb.db.View(func(tx metadata.Tx) error {
		return tx.Iterate([]byte("sj/wb/"), nil, false, func(_, v []byte) (bool, error) {
			var e wbEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return false, err
			}
			entries = append(entries, &e)
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, e := range entries {
		if _, err := os.Stat(e.File); err != nil {
			// The staged file is gone (state dir cleaned): nothing to upload.
			_ = wb.j.update(func(tx metadata.Tx) error { return tx.Delete(wbJournalKey(e.Seq)) })
			continue
		}
		live[strconv.FormatUint(e.Seq, 10)] = true
		wb.seq = max(wb.seq, e.Seq)
		k := wbKey{e.Bucket, e.Key}
		st := wb.keys[k]
		if st == nil {
			st = &wbState{}
			wb.keys[k] = st
		}
		st.entries = append(st.entries, e)
	}
	for k, st := range wb.keys {
		sort.Slice(st.entries, func(i, j int) bool { return st.entries[i].Seq < st.entries[j].Seq })
		wb.enqueueLocked(k, st)
	}
	sess, err := wb.j.sessions()
	if err != nil {
		return err
	}
	for k, s := range sess {
		fid, rel := splitSessionKey(k)
		if fid == wbFid && !live[rel] {
			wb.up.abort(context.Background(), s)
			_ = wb.j.delSession(fid, rel)
		}
	}
	return nil
}

func (wb *WriteBack) enqueueLocked(k wbKey, st *wbState) {
	if st.queued || st.busy || st.held > 0 || len(st.entries) == 0 {
		return
	}
	st.queued = true
	wb.queue = append(wb.queue, k)
	wb.cond.Broadcast()
}

// Stage takes ownership of the file at path as the next content of
// bucket/key and returns once it is journaled.
func (wb *WriteBack) Stage(ctx context.Context, bucket, key, path string, attrs map[string]string) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	wb.mu.Lock()
	if wb.closed {
		wb.mu.Unlock()
		return ErrClosed
	}
	wb.seq++
	seq := wb.seq
	wb.mu.Unlock()
	dst := filepath.Join(wb.dir, "staged", strconv.FormatUint(seq, 10))
	if err := moveFile(path, dst); err != nil {
		return fmt.Errorf("stage %s/%s: %w", bucket, key, err)
	}
	e := &wbEntry{Seq: seq, Bucket: bucket, Key: key, File: dst, Attrs: attrs, Created: time.Now()}
	if err := wb.j.update(func(tx metadata.Tx) error { return setJSON(tx, wbJournalKey(seq), e) }); err != nil {
		return err
	}
	k := wbKey{bucket, key}
	wb.mu.Lock()
	defer wb.mu.Unlock()
	st := wb.keys[k]
	if st == nil {
		st = &wbState{}
		wb.keys[k] = st
	}
	st.entries = append(st.entries, e)
	st.err, st.attempts = nil, 0
	wb.enqueueLocked(k, st)
	return nil
}

// moveFile renames, or copies and syncs across file systems.
func moveFile(src, dst string) error {
	err := os.Rename(src, dst)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return err
	}
	return os.Remove(src)
}

// Staged returns the newest staged, not yet uploaded file of bucket/key.
func (wb *WriteBack) Staged(bucket, key string) (string, bool) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	st := wb.keys[wbKey{bucket, key}]
	if st == nil || len(st.entries) == 0 {
		return "", false
	}
	return st.entries[len(st.entries)-1].File, true
}

// Sync waits until everything staged for bucket/key so far is uploaded. It
// returns a permanent upload error; retryable ones are retried meanwhile.
func (wb *WriteBack) Sync(ctx context.Context, bucket, key string) error {
	k := wbKey{bucket, key}
	wb.mu.Lock()
	defer wb.mu.Unlock()
	st := wb.keys[k]
	if st == nil || len(st.entries) == 0 {
		return nil
	}
	target := st.entries[len(st.entries)-1].Seq
	stop := context.AfterFunc(ctx, func() {
		wb.mu.Lock()
		wb.cond.Broadcast()
		wb.mu.Unlock()
	})
	defer stop()
	for {
		st = wb.keys[k]
		if st == nil || st.removing == 0 && (len(st.entries) == 0 || st.entries[0].Seq > target) {
			return nil
		}
		if st.err != nil && st.errSeq >= target {
			return st.err
		}
		if wb.closed {
			return ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		wb.cond.Wait()
	}
}

// Pending is the number of staged entries not uploaded yet.
func (wb *WriteBack) Pending() int {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	n := 0
	for _, st := range wb.keys {
		n += len(st.entries)
	}
	return n
}

// Counters returns cumulative upload counters.
func (wb *WriteBack) Counters() map[string]int64 {
	return map[string]int64{"payload_bytes": wb.cnt.PayloadBytes.Load(), "puts": wb.cnt.Puts.Load(),
		"parts": wb.cnt.Parts.Load(), "completes": wb.cnt.Completes.Load()}
}

// Close stops the workers; staged entries stay journaled for the next start.
func (wb *WriteBack) Close() error {
	wb.mu.Lock()
	wb.closed = true
	wb.cond.Broadcast()
	wb.mu.Unlock()
	wb.cancel()
	wb.wg.Wait()
	if wb.ownDB {
		return wb.db.Close()
	}
	return nil
}

func (wb *WriteBack) worker(ctx context.Context) {
	defer wb.wg.Done()
	for {
		wb.mu.Lock()
		for len(wb.queue) == 0 && !wb.closed {
			wb.cond.Wait()
		}
		if wb.closed {
			wb.mu.Unlock()
			return
		}
		k := wb.queue[0]
		wb.queue = wb.queue[1:]
		st := wb.keys[k]
		st.queued = false
		if st.busy || st.held > 0 || len(st.entries) == 0 {
			wb.mu.Unlock()
			continue
		}
		st.busy = true
		e := st.entries[len(st.entries)-1]
		uctx, ucancel := context.WithCancel(ctx)
		st.cancel = ucancel
		wb.mu.Unlock()

		err := wb.upload(uctx, e)
		cancelled := uctx.Err() != nil // by a Rename or Remove (or Close)
		ucancel()

		wb.mu.Lock()
		st.busy, st.cancel = false, nil
		var done []*wbEntry
		switch {
		case err == nil:
			i := 0
			for i < len(st.entries) && st.entries[i].Seq <= e.Seq {
				i++
			}
			done = st.entries[:i:i]
			st.entries = st.entries[i:]
			st.removing += len(done)
			st.err, st.attempts = nil, 0
			wb.enqueueLocked(k, st)
		case ctx.Err() != nil:
		case cancelled:
			// Cancelled by a Rename or Remove of the key, which re-queues
			// what is left when it is done.
		case wb.opts.retryable(err):
			st.attempts++
			d := wb.opts.backoff(st.attempts, err)
			time.AfterFunc(d, func() {
				wb.mu.Lock()
				wb.enqueueLocked(k, st)
				wb.mu.Unlock()
			})
			if wb.opts.Logger != nil {
				wb.opts.Logger.Warn("write-back upload failed, retrying", "bucket", k.bucket, "key", k.key, "in", d, "err", err)
			}
		default:
			st.err, st.errSeq = fmt.Errorf("upload %s/%s: %w", k.bucket, k.key, err), e.Seq
			if wb.opts.Logger != nil {
				wb.opts.Logger.Error("write-back upload failed", "bucket", k.bucket, "key", k.key, "err", err)
			}
		}
		wb.cond.Broadcast()
		wb.mu.Unlock()
		if len(done) > 0 {
			for _, d := range done {
				_ = wb.j.update(func(tx metadata.Tx) error { return tx.Delete(wbJournalKey(d.Seq)) })
				_ = os.Remove(d.File)
			}
			wb.mu.Lock()
			st.removing -= len(done)
			wb.cond.Broadcast()
			wb.mu.Unlock()
		}
	}
}

// upload sends one staged entry (the staged file never changes: we own it).
func (wb *WriteBack) upload(ctx context.Context, e *wbEntry) error {
	st, _, err := lstatTuple(e.File)
	if err != nil {
		return err
	}
	req := upReq{fid: wbFid, rel: strconv.FormatUint(e.Seq, 10), bucket: e.Bucket, key: e.Key,
		path: e.File, stat: st, attrs: e.Attrs}
	if wb.up.multipartFor(st.Size) {
		if req.hash, err = hashFile(e.File, st); err != nil {
			return err
		}
	} else {
		n, err := wb.up.acquire(ctx, st.Size)
		if err != nil {
			return err
		}
		defer wb.up.budget.Release(n)
		if req.data, err = readSnapshot(e.File, st); err != nil {
			return err
		}
		req.hash = hashBytes(req.data)
	}
	if _, err := wb.up.upload(ctx, req); err != nil {
		return err
	}
	return wb.j.delSession(wbFid, req.rel)
}
