package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
)

// folder is one synced directory and its in-memory scheduling state; the
// durable state is in the journal.
type folder struct {
	e    *Engine
	cfg  FolderConfig
	root string
	fid  string

	fullReq chan struct{}

	mu         sync.Mutex
	ig         *Ignorer
	pending    map[string]*pend
	held       map[string]time.Time // rel -> first seen missing
	heldReason string
	errs       map[string]*fileErr
	conflicts  []Conflict
	tracked    int
	lastPass   time.Time
	lastFull   time.Time
	fullScans  int
	overflows  int
	rootDev    uint64
	w          *watcher
	watching   bool
	watches    int
	watchWarn  string
}

type pend struct{ first, at time.Time }

type fileErr struct {
	FileError
	st statTuple
}

// localEntry is one file found by a pass. It keeps the stat tuple only
// (not the fs.FileInfo, which would double a 100k-file pass's memory).
type localEntry struct {
	rel string
	st  statTuple
	rec *record
}

func (le *localEntry) mode() fs.FileMode { return fs.FileMode(le.st.Mode) }
func (le *localEntry) mtime() time.Time  { return time.Unix(0, le.st.MtimeNs) }

func newFolder(e *Engine, fc FolderConfig) (*folder, error) {
	root, err := filepath.Abs(fc.Path)
	if err != nil {
		return nil, err
	}
	if fc.Mode == "" {
		fc.Mode = ModePush
	}
	switch fc.Mode {
	case ModePush, ModePull, ModeBoth:
	default:
		return nil, fmt.Errorf("folder %s: mode %q: want push, pull or both", fc.Path, fc.Mode)
	}
	if fc.Bucket == "" {
		return nil, fmt.Errorf("folder %s: no bucket", fc.Path)
	}
	if fc.Prefix != "" && !strings.HasSuffix(fc.Prefix, "/") {
		fc.Prefix += "/"
	}
	ig, err := LoadIgnorer(root)
	if err != nil {
		return nil, fmt.Errorf("folder %s: %w", fc.Path, err)
	}
	return &folder{
		e: e, cfg: fc, root: root, fid: folderID(root, fc.Bucket, fc.Prefix), ig: ig,
		fullReq: make(chan struct{}, 1),
		pending: map[string]*pend{}, held: map[string]time.Time{}, errs: map[string]*fileErr{},
	}, nil
}

func (f *folder) abs(rel string) string { return filepath.Join(f.root, filepath.FromSlash(rel)) }
func (f *folder) key(rel string) string { return f.cfg.Prefix + rel }

func (f *folder) emit(ev Event) {
	ev.Folder = f.cfg.Path
	f.e.emit(ev)
}

// hint marks rel as possibly changed: it is checked once quiet for Delay,
// or at the latest MaxDelay after the first hint.
func (f *folder) hint(rel string) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pending[rel]
	if p == nil {
		p = &pend{first: now}
		f.pending[rel] = p
	}
	p.at = now.Add(f.e.opts.Delay)
	if cap := p.first.Add(f.e.opts.MaxDelay); p.at.After(cap) {
		p.at = cap
	}
}

// schedule checks rel at t (retries, holds, files still being written).
func (f *folder) schedule(rel string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pending[rel]
	if p == nil {
		f.pending[rel] = &pend{first: time.Now(), at: t}
	} else if t.Before(p.at) {
		p.at = t
	}
}

func (f *folder) requestFull() {
	select {
	case f.fullReq <- struct{}{}:
	default:
	}
}

// takeDue removes and returns the paths due by now with their first hint.
func (f *folder) takeDue(now time.Time) map[string]time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var due map[string]time.Time
	for rel, p := range f.pending {
		if !p.at.After(now) {
			if due == nil {
				due = map[string]time.Time{}
			}
			due[rel] = p.first
			delete(f.pending, rel)
		}
	}
	return due
}

func (f *folder) nextDue() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var t time.Time
	for _, p := range f.pending {
		if t.IsZero() || p.at.Before(t) {
			t = p.at
		}
	}
	return t, !t.IsZero()
}

func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
}

// run is the folder's owning loop in daemon mode.
func (f *folder) run(ctx context.Context) {
	if !f.e.opts.NoWatch && f.cfg.Mode != ModePull {
		f.startWatcher(ctx)
	}
	f.fullPass(ctx, false)
	tickEvery := min(max(f.e.opts.Delay/4, 10*time.Millisecond), 250*time.Millisecond)
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	rescan := time.NewTimer(f.rescanInterval())
	defer rescan.Stop()
	var pull <-chan time.Time
	if f.cfg.Mode != ModePush {
		t := time.NewTicker(f.e.opts.RemotePollInterval)
		defer t.Stop()
		pull = t.C
		f.pullPass(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.fullReq:
			f.fullPass(ctx, false)
		case <-rescan.C:
			f.fullPass(ctx, false)
			rescan.Reset(f.rescanInterval())
		case <-pull:
			f.pullPass(ctx)
		case now := <-tick.C:
			if due := f.takeDue(now); len(due) > 0 {
				f.passLogged(ctx, due, false)
			}
		}
	}
}

func (f *folder) rescanInterval() time.Duration {
	f.mu.Lock()
	watching := f.watching
	f.mu.Unlock()
	if !watching {
		return f.e.opts.PollInterval
	}
	return jitter(f.e.opts.RescanInterval)
}

func (f *folder) fullPass(ctx context.Context, once bool) error {
	if f.cfg.Mode == ModePull {
		return nil
	}
	return f.passLogged(ctx, nil, once)
}

func (f *folder) passLogged(ctx context.Context, rels map[string]time.Time, once bool) error {
	err := f.pass(ctx, rels, once)
	if err != nil && ctx.Err() == nil {
		f.e.warn("sync pass", "folder", f.cfg.Path, "err", err)
	}
	return err
}

// once is the --once mode: a full pass, then a few rounds for retries and
// files that were still being written.
func (f *folder) once(ctx context.Context) error {
	if f.cfg.Mode != ModePush {
		if err := f.pullPass(ctx); err != nil {
			return err
		}
		if f.cfg.Mode == ModePull {
			return nil
		}
	}
	err := f.pass(ctx, nil, true)
	if errors.Is(err, ErrRootMissing) || errors.Is(err, ErrTooManyDeletes) {
		return err
	}
	for round := 0; round < 6; round++ {
		t, ok := f.nextDue()
		if !ok {
			break
		}
		if d := time.Until(t); d > 0 {
			if d > 2*time.Minute {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		if err = f.pass(ctx, f.takeDue(time.Now()), true); errors.Is(err, ErrTooManyDeletes) {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var msgs []string
	for rel, fe := range f.errs {
		msgs = append(msgs, rel+": "+fe.Error)
	}
	if len(msgs) > 0 {
		sort.Strings(msgs)
		if len(msgs) > 5 {
			msgs = append(msgs[:5], fmt.Sprintf("... and %d more", len(msgs)-5))
		}
		return fmt.Errorf("%d files not synced: %s", len(f.errs), strings.Join(msgs, "; "))
	}
	return err
}

// checkRoot refuses to work on a root that vanished or was replaced (an
// unmounted disk looks like "everything was deleted").
func (f *folder) checkRoot() error {
	fi, err := os.Stat(f.root)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRootMissing, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrRootMissing, f.root)
	}
	dev := tupleOf(fi).Dev
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rootDev == 0 {
		var stored uint64
		err := f.e.j.db.View(func(tx metadata.Tx) error {
			_, err := getJSON(tx, mKey(f.fid), &stored)
			return err
		})
		if err != nil {
			return err
		}
		if stored == 0 {
			stored = dev
			if err := f.e.j.update(func(tx metadata.Tx) error { return setJSON(tx, mKey(f.fid), dev) }); err != nil {
				return err
			}
		}
		f.rootDev = stored
	}
	if dev != f.rootDev {
		return fmt.Errorf("%w: %s is on another device than when it was first synced (unmounted?)", ErrRootMissing, f.root)
	}
	return nil
}

// collect gathers the local entries and journal records a pass looks at.
func (f *folder) collect(rels map[string]time.Time) (local map[string]*localEntry, scope map[string]*record, readErrs int, err error) {
	local = map[string]*localEntry{}
	scope = map[string]*record{}
	if rels == nil {
		// The walk (syscalls) and the journal read (decoding) overlap: a
		// no-op rescan of 100k files is bound by the slower of the two.
		done := make(chan error, 1)
		go func() {
			done <- f.e.j.each(f.fid, "", func(rel string, rec *record) bool {
				scope[rel] = rec
				return true
			})
		}()
		readErrs = f.walk("", local)
		err = <-done
		return
	}
	for rel := range rels {
		st, fi, lerr := lstatTuple(f.abs(rel))
		switch {
		case lerr == nil && fi.IsDir():
			if !f.ignorer().Match(rel, true) {
				readErrs += f.walk(rel, local)
			}
			err = f.e.j.each(f.fid, rel+"/", func(r string, rec *record) bool {
				scope[r] = rec
				return true
			})
		case lerr == nil:
			if !f.ignorer().Match(rel, false) {
				local[rel] = &localEntry{rel: rel, st: st}
			}
		case errors.Is(lerr, fs.ErrNotExist) || errors.Is(lerr, ErrUnsupported):
			// A vanished directory takes its records with it.
			err = f.e.j.each(f.fid, rel+"/", func(r string, rec *record) bool {
				scope[r] = rec
				return true
			})
		default:
			readErrs++
			f.emit(Event{Type: EvError, Path: rel, Err: lerr.Error()})
		}
		if err != nil {
			return
		}
		var rec *record
		if rec, err = f.e.j.get(f.fid, rel); err != nil {
			return
		}
		if rec != nil {
			scope[rel] = rec
		}
	}
	return
}

// walk adds every non-ignored file below relDir; it returns the number of
// read errors (any error means no deletes this pass).
func (f *folder) walk(relDir string, local map[string]*localEntry) int {
	errs := 0
	ig := f.ignorer()
	start := f.abs(relDir)
	_ = filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs++
			f.emit(Event{Type: EvError, Path: p, Err: err.Error()})
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p == start {
			return nil
		}
		rel := filepath.ToSlash(p[len(f.root)+1:])
		if ig.matchOne(rel, d.IsDir()) || (f.e.stateDir != "" && p == f.e.stateDir) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs++
			}
			return nil
		}
		if !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
			return nil // devices, sockets and fifos are not synced
		}
		local[rel] = &localEntry{rel: rel, st: tupleOf(fi)}
		return nil
	})
	return errs
}

func (f *folder) clearErr(rel string) {
	f.mu.Lock()
	delete(f.errs, rel)
	f.mu.Unlock()
}

// skipErr: permanent failures wait for the file to change, retryable ones
// for their next retry.
func (f *folder) skipErr(rel string, st statTuple, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	fe := f.errs[rel]
	if fe == nil {
		return false
	}
	if fe.Permanent {
		return sameContentStat(fe.st, st)
	}
	return now.Before(fe.NextRetry)
}

func (f *folder) fail(rel string, st statTuple, err error) {
	now := time.Now()
	retryable := f.e.opts.retryable(err)
	f.mu.Lock()
	fe := f.errs[rel]
	if fe == nil {
		fe = &fileErr{FileError: FileError{Path: rel}}
		f.errs[rel] = fe
	}
	fe.Attempts++
	fe.Error = err.Error()
	fe.st = st
	fe.Permanent = !retryable
	fe.NextRetry = time.Time{}
	if retryable {
		fe.NextRetry = now.Add(f.e.opts.backoff(fe.Attempts, err))
	}
	ev := Event{Type: EvError, Path: rel, Key: f.key(rel), Err: fe.Error}
	if retryable {
		nr := fe.NextRetry
		ev.NextRetry = &nr
	}
	f.mu.Unlock()
	if retryable {
		f.schedule(rel, fe.NextRetry)
	}
	f.emit(ev)
}

func (f *folder) addConflict(c Conflict) {
	f.mu.Lock()
	f.conflicts = append(f.conflicts, c)
	if len(f.conflicts) > 100 {
		f.conflicts = f.conflicts[len(f.conflicts)-100:]
	}
	f.mu.Unlock()
	f.emit(Event{Type: EvConflict, Path: c.Path, Key: c.Key, Version: c.Ours,
		Message: fmt.Sprintf("remote head moved (theirs %s kept); copy %q", c.Theirs, c.Copy)})
}

// conflictKey names our side of a conflict:
// <stem>.sync-conflict-YYYYMMDD-HHMMSS-<host><.ext>.
func conflictKey(key string, t time.Time, host string) string {
	dir, base := path.Split(key)
	ext := path.Ext(base)
	if ext == base {
		ext = "" // a dot file like ".bashrc" has no extension
	}
	stem := strings.TrimSuffix(base, ext)
	return dir + stem + ".sync-conflict-" + t.UTC().Format("20060102-150405") + "-" + host + ext
}

func (f *folder) status() FolderStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := FolderStatus{
		Path: f.root, Bucket: f.cfg.Bucket, Prefix: f.cfg.Prefix, Mode: f.cfg.Mode,
		Watching: f.watching, Watches: f.watches, WatchWarning: f.watchWarn,
		Queue: len(f.pending), HeldDeletes: len(f.held), HeldReason: f.heldReason,
		Tracked: f.tracked, LastPass: f.lastPass, LastFullScan: f.lastFull,
		FullScans: f.fullScans, Overflows: f.overflows,
		Conflicts: append([]Conflict(nil), f.conflicts...),
	}
	for _, fe := range f.errs {
		s.Errors = append(s.Errors, fe.FileError)
	}
	sort.Slice(s.Errors, func(i, j int) bool { return s.Errors[i].Path < s.Errors[j].Path })
	return s
}

// ignorer returns the current rules (full scans reload them).
func (f *folder) ignorer() *Ignorer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ig
}
