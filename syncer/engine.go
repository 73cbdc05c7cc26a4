package syncer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// Engine syncs a set of folders into an ObjectStore.
type Engine struct {
	store storage.ObjectStore
	db    metadata.DB
	ownDB bool
	j     *journal
	opts  Options
	// stateDir is skipped by scans when it lies inside a folder.
	stateDir string
	up       *uploader
	cnt      counters
	folders  []*folder
	started  time.Time
	// recMu guards the one-time startup recovery (Once and Run share it).
	recovered bool
	recMu     sync.Mutex
}

// Open opens (creating) the journal in stateDir/journal and builds an engine.
func Open(store storage.ObjectStore, stateDir string, folders []FolderConfig, opts Options) (*Engine, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	bo := metadata.DefaultBadgerOptions()
	bo.Logger = opts.Logger
	db, err := metadata.OpenBadger(filepath.Join(stateDir, "journal"), bo)
	if err != nil {
		return nil, fmt.Errorf("open sync journal in %s: %w", stateDir, err)
	}
	if opts.StatusFile == "" {
		opts.StatusFile = filepath.Join(stateDir, StatusFileName)
	}
	e, err := New(store, db, folders, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	e.ownDB = true
	e.stateDir, _ = filepath.Abs(stateDir)
	return e, nil
}

// New builds an engine on an open journal DB (records below "sj/").
func New(store storage.ObjectStore, db metadata.DB, folders []FolderConfig, opts Options) (*Engine, error) {
	opts.fill()
	e := &Engine{store: store, db: db, j: &journal{db: db}, opts: opts, started: time.Now()}
	e.up = &uploader{store: store, j: e.j, opts: &e.opts, budget: semaphore.NewWeighted(opts.BytesInFlight), cnt: &e.cnt}
	if len(folders) == 0 {
		return nil, fmt.Errorf("%w: no folders to sync", storage.ErrInvalid)
	}
	seen := map[string]bool{}
	for _, fc := range folders {
		f, err := newFolder(e, fc)
		if err != nil {
			return nil, err
		}
		if seen[f.fid] {
			return nil, fmt.Errorf("%w: folder %s listed twice", storage.ErrInvalid, fc.Path)
		}
		seen[f.fid] = true
		e.folders = append(e.folders, f)
	}
	return e, nil
}

// folderID names a folder's records in the journal: stable for the same
// root, bucket and prefix.
func folderID(root, bucket, prefix string) string {
	s := sha256.Sum256([]byte(root + "\x00" + bucket + "\x00" + prefix))
	return hex.EncodeToString(s[:6])
}

// Close closes the journal if the engine opened it. The store is the
// caller's.
func (e *Engine) Close() error {
	for _, f := range e.folders {
		f.closeWatcher()
	}
	syncErr := e.j.sync()
	if e.ownDB {
		if err := e.db.Close(); err != nil {
			return err
		}
	}
	return syncErr
}

// Counters returns cumulative counters (payload bytes, puts, parts, copies...).
func (e *Engine) Counters() map[string]int64 {
	return map[string]int64{
		"payload_bytes": e.cnt.PayloadBytes.Load(),
		"puts":          e.cnt.Puts.Load(),
		"parts":         e.cnt.Parts.Load(),
		"completes":     e.cnt.Completes.Load(),
		"copies":        e.cnt.Copies.Load(),
		"deletes":       e.cnt.Deletes.Load(),
		"adopted":       e.cnt.Adopted.Load(),
	}
}

func (e *Engine) emit(ev Event) {
	if e.opts.Events == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	e.opts.Events(ev)
}

func (e *Engine) warn(msg string, args ...any) {
	if e.opts.Logger != nil {
		e.opts.Logger.Warn(msg, args...)
	}
}

// ensureBuckets creates missing buckets by name.
func (e *Engine) ensureBuckets(ctx context.Context) error {
	done := map[string]bool{}
	for _, f := range e.folders {
		if done[f.cfg.Bucket] {
			continue
		}
		done[f.cfg.Bucket] = true
		_, err := e.store.GetBucket(ctx, f.cfg.Bucket)
		if errors.Is(err, storage.ErrNotFound) {
			_, err = e.store.CreateBucket(ctx, storage.BucketOptions{Name: f.cfg.Bucket})
			if errors.Is(err, storage.ErrExists) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("bucket %s: %w", f.cfg.Bucket, err)
		}
	}
	return nil
}

// recover runs once before the first pass: it aborts journaled sessions
// that are too old or whose file moved, and server uploads for our keys
// that the journal does not know (a crash between init and journaling).
func (e *Engine) recover(ctx context.Context) error {
	e.recMu.Lock()
	defer e.recMu.Unlock()
	if e.recovered {
		return nil
	}
	if err := e.ensureBuckets(ctx); err != nil {
		return err
	}
	sess, err := e.j.sessions()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	byFid := map[string]*folder{}
	for _, f := range e.folders {
		byFid[f.fid] = f
	}
	for k, s := range sess {
		fid, rel := splitSessionKey(k)
		f := byFid[fid]
		if f == nil {
			continue // another engine's (write-back) session
		}
		stale := time.Since(s.Created) > e.opts.SessionMaxAge
		if !stale {
			st, _, err := lstatTuple(f.abs(rel))
			stale = err != nil || !stableStat(st, s.Stat)
		}
		if stale {
			e.up.abort(ctx, s)
			if err := e.j.delSession(fid, rel); err != nil {
				return err
			}
			continue
		}
		known[s.UploadID] = true
	}
	buckets := map[string][]*folder{}
	for _, f := range e.folders {
		buckets[f.cfg.Bucket] = append(buckets[f.cfg.Bucket], f)
	}
	for b, fs := range buckets {
		mps, err := e.store.ListMultiparts(ctx, b)
		if err != nil {
			return fmt.Errorf("list uploads of %s: %w", b, err)
		}
		for _, mp := range mps {
			if mp.Completed || known[mp.UploadID] {
				continue
			}
			for _, f := range fs {
				if strings.HasPrefix(mp.Key, f.cfg.Prefix) {
					e.up.abort(ctx, &session{UploadID: mp.UploadID})
					break
				}
			}
		}
	}
	e.recovered = true
	return nil
}

// Once runs one full pass over every folder, retries retryable failures a
// few times, and returns. Deletes are not held (there is no later pass to
// pair them with) but every safety rule applies.
func (e *Engine) Once(ctx context.Context) error {
	if err := e.opts.retry(ctx, 10, func() error { return e.recover(ctx) }); err != nil {
		return err
	}
	var errs []error
	for _, f := range e.folders {
		if err := f.once(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.cfg.Path, err))
		}
	}
	e.writeStatus()
	return errors.Join(errs...)
}

// Run syncs until ctx ends: initial scan, watcher hints, periodic rescans.
func (e *Engine) Run(ctx context.Context) error {
	for {
		err := e.recover(ctx)
		if err == nil {
			break
		}
		if !e.opts.retryable(err) {
			return err
		}
		e.warn("sync: store not reachable, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.opts.backoff(3, err)):
		}
	}
	var wg sync.WaitGroup
	for _, f := range e.folders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.run(ctx)
		}()
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			e.writeStatus()
			return ctx.Err()
		case <-tick.C:
			e.writeStatus()
		}
	}
}

// Status returns the current state.
func (e *Engine) Status() *Status {
	s := &Status{PID: os.Getpid(), Started: e.started, Updated: time.Now(), Counters: e.Counters()}
	for _, f := range e.folders {
		s.Folders = append(s.Folders, f.status())
	}
	return s
}

func (e *Engine) writeStatus() {
	if e.opts.StatusFile == "" {
		return
	}
	if err := writeStatus(e.opts.StatusFile, e.Status()); err != nil {
		e.warn("sync: write status", "err", err)
	}
}
