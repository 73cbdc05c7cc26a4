package syncer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bucketfs/bucketfs/storage"
)

// passState is shared by the workers of one pass.
type passState struct {
	mu      sync.Mutex
	missing map[string]*record
	byHash  map[string][]string // hash -> missing rels
	local   map[string]*localEntry
	once    bool
	// bigSizes holds the sizes of every tracked multipart-sized file in a
	// full pass (nil otherwise): a changed file of another size cannot be
	// an unchanged save, a rename or a copy of one, so its hash may be
	// computed while it uploads instead of before.
	bigSizes map[int64]bool

	added, removed         atomic.Int64 // records created and deleted
	filesTotal, bytesTotal atomic.Int64
	filesDone, bytesDone   atomic.Int64
}

// claimByHash takes a missing record with the same content (a rename or
// move that changed the inode, e.g. across file systems).
func (ps *passState) claimByHash(hash string) (string, *record) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for len(ps.byHash[hash]) > 0 {
		rels := ps.byHash[hash]
		rel := rels[0]
		ps.byHash[hash] = rels[1:]
		if rec, ok := ps.missing[rel]; ok && rec.VersionID != "" {
			delete(ps.missing, rel)
			return rel, rec
		}
	}
	return "", nil
}

func (ps *passState) claim(rel string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	_, ok := ps.missing[rel]
	delete(ps.missing, rel)
	return ok
}

// pass reconciles rels (nil = the whole folder) with the journal and the
// bucket.
func (f *folder) pass(ctx context.Context, rels map[string]time.Time, once bool) error {
	now := time.Now()
	full := rels == nil
	if err := f.checkRoot(); err != nil {
		f.mu.Lock()
		f.heldReason = err.Error()
		f.mu.Unlock()
		f.emit(Event{Type: EvHeld, Message: err.Error() + "; nothing synced, nothing deleted"})
		return err
	}
	if full {
		if ig, err := LoadIgnorer(f.root); err == nil {
			f.mu.Lock()
			f.ig = ig
			f.mu.Unlock()
		} else {
			f.emit(Event{Type: EvWarning, Path: IgnoreFile, Err: err.Error()})
		}
	}
	local, scope, readErrs, err := f.collect(rels)
	if err != nil {
		return err
	}
	ps := &passState{missing: map[string]*record{}, byHash: map[string][]string{}, local: local, once: once}
	f.mu.Lock()
	for rel := range local {
		delete(f.held, rel)
	}
	f.mu.Unlock()
	if full {
		ps.bigSizes = map[int64]bool{}
		for _, rec := range scope {
			if f.e.up.multipartFor(rec.Stat.Size) {
				ps.bigSizes[rec.Stat.Size] = true
			}
		}
	}
	untracked := 0
	for rel, rec := range scope {
		if local[rel] != nil {
			continue
		}
		if f.ignorer().Match(rel, false) {
			// An ignore rule now covers it: forget it, never delete remotely.
			if err := f.e.j.del(f.fid, rel); err != nil {
				return err
			}
			untracked++
			f.mu.Lock()
			delete(f.held, rel)
			f.mu.Unlock()
			continue
		}
		ps.missing[rel] = rec
		if rec.Hash != "" {
			ps.byHash[rec.Hash] = append(ps.byHash[rec.Hash], rel)
		}
	}
	if untracked > 0 {
		f.emit(Event{Type: EvUntrack, Message: fmt.Sprintf("%d paths now ignored: untracked, not deleted remotely", untracked)})
	}
	var inodes map[[2]uint64]string
	if full {
		inodes = make(map[[2]uint64]string, len(ps.missing))
		for rel, rec := range ps.missing {
			inodes[[2]uint64{rec.Stat.Dev, rec.Stat.Ino}] = rel
		}
	}
	var changed []*localEntry
	for rel, le := range local {
		le.rec = scope[rel]
		if le.rec != nil && sameContentStat(le.rec.Stat, le.st) {
			f.clearErr(rel)
			continue
		}
		if f.skipErr(rel, le.st, now) {
			continue
		}
		changed = append(changed, le)
	}
	type renameJob struct {
		le      *localEntry
		oldRel  string
		oldRec  *record
		dropOld bool
	}
	var renames []renameJob
	var work []*localEntry
	for _, le := range changed {
		ps.filesTotal.Add(1)
		ps.bytesTotal.Add(le.st.Size)
		if oldRel, oldRec, dropOld := f.inodeRename(le, ps, inodes); oldRec != nil {
			renames = append(renames, renameJob{le, oldRel, oldRec, dropOld})
			continue
		}
		work = append(work, le)
	}
	f.emit(Event{Type: EvPassStart, FilesTotal: ps.filesTotal.Load(), BytesTotal: ps.bytesTotal.Load(),
		Message: map[bool]string{true: "full scan", false: "changed paths"}[full]})
	stopProgress := f.progressTicker(ps)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.e.opts.Concurrency)
	for _, r := range renames {
		g.Go(func() error {
			f.copyFrom(gctx, ps, r.le, r.oldRel, r.oldRec, r.dropOld, EvRename)
			ps.filesDone.Add(1)
			ps.bytesDone.Add(r.le.st.Size)
			return nil
		})
	}
	for _, le := range work {
		first := now
		if t, ok := rels[le.rel]; ok {
			first = t
		}
		g.Go(func() error {
			f.syncFile(gctx, ps, le, first)
			ps.filesDone.Add(1)
			return nil
		})
	}
	_ = g.Wait()
	stopProgress()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	f.mu.Lock()
	if full {
		f.tracked = len(scope) - untracked
	} else {
		f.tracked -= untracked
	}
	f.mu.Unlock()
	derr := f.deletes(ctx, ps, readErrs, full)
	// The pass's journal commits were lazy: one sync makes them durable.
	if err := f.e.j.sync(); err != nil && derr == nil {
		derr = err
	}
	f.mu.Lock()
	f.lastPass = time.Now()
	if full {
		f.lastFull = f.lastPass
		f.fullScans++
	}
	f.tracked += int(ps.added.Load() - ps.removed.Load())
	f.mu.Unlock()
	f.emit(Event{Type: EvPassEnd, FilesDone: ps.filesDone.Load(), FilesTotal: ps.filesTotal.Load(),
		BytesDone: ps.bytesDone.Load(), BytesTotal: ps.bytesTotal.Load()})
	return derr
}

func (f *folder) progressTicker(ps *passState) func() {
	if f.e.opts.Events == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				f.emit(Event{Type: EvProgress, FilesDone: ps.filesDone.Load(), FilesTotal: ps.filesTotal.Load(),
					BytesDone: ps.bytesDone.Load(), BytesTotal: ps.bytesTotal.Load()})
			}
		}
	}()
	return func() { close(stop); <-done }
}

// inodeRename finds the record this entry was renamed from: same inode,
// size and mtime, and the old path gone. No hashing needed.
func (f *folder) inodeRename(le *localEntry, ps *passState, inodes map[[2]uint64]string) (string, *record, bool) {
	if le.rec != nil && le.rec.Stat.Ino == le.st.Ino && le.rec.Stat.Dev == le.st.Dev {
		return "", nil, false // the same file, modified in place
	}
	if le.st.Ino == 0 || le.mode()&fs.ModeSymlink != 0 {
		return "", nil, false
	}
	var oldRel string
	var oldRec *record
	if inodes != nil {
		oldRel = inodes[[2]uint64{le.st.Dev, le.st.Ino}]
		oldRec = ps.missing[oldRel]
	} else {
		var err error
		if oldRel, oldRec, err = f.e.j.byInode(f.fid, le.st); err != nil {
			return "", nil, false
		}
	}
	if oldRec == nil || oldRel == le.rel || oldRec.VersionID == "" ||
		oldRec.Stat.Size != le.st.Size || oldRec.Stat.MtimeNs != le.st.MtimeNs {
		return "", nil, false
	}
	if _, ok := ps.local[oldRel]; ok {
		return "", nil, false // hard link, or the old name was reused
	}
	if ps.claim(oldRel) {
		return oldRel, oldRec, true
	}
	// Not in this pass's scope: check the old path ourselves.
	st, _, err := lstatTuple(f.abs(oldRel))
	if err == nil && st.Ino == le.st.Ino && st.Dev == le.st.Dev {
		return "", nil, false // a hard link: both names live on
	}
	return oldRel, oldRec, err != nil
}

func (f *folder) attrs(le *localEntry) map[string]string {
	return map[string]string{"mode": strconv.FormatUint(uint64(le.mode().Perm()), 10)}
}

func ifMatchOf(rec *record) string {
	if rec != nil && rec.VersionID != "" {
		return rec.VersionID
	}
	return "null"
}

// copyFrom makes le's key a server-side copy of src's version (zero payload
// bytes); with dropOld the old key gets a delete marker (a rename).
func (f *folder) copyFrom(ctx context.Context, ps *passState, le *localEntry, srcRel string, src *record, dropOld bool, kind string) bool {
	key := f.key(le.rel)
	if err := storage.ValidateKey(key); err != nil {
		f.fail(le.rel, le.st, err)
		return true
	}
	var v *storage.ObjectVersion
	err := f.e.opts.retry(ctx, 4, func() error {
		var err error
		v, err = f.e.store.Copy(ctx, storage.CopySource{Bucket: f.cfg.Bucket, Key: src.Key, VersionID: src.VersionID},
			f.cfg.Bucket, key, storage.PutOptions{IfMatch: ifMatchOf(le.rec), Attrs: f.attrs(le)})
		return err
	})
	if errors.Is(err, storage.ErrConflict) {
		if hv := f.e.up.adoptHead(ctx, f.cfg.Bucket, key, src.Hash, le.st.Size); hv != nil {
			v, err = hv, nil
		}
	}
	if errors.Is(err, storage.ErrNotFound) {
		return false // the source version is gone; upload instead
	}
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			// Someone else wrote the destination: fall back to a normal
			// upload, which handles the conflict.
			return false
		}
		f.fail(le.rel, le.st, err)
		return true
	}
	f.e.cnt.Copies.Add(1)
	if le.rec == nil {
		ps.added.Add(1)
	}
	if err := f.e.j.put(f.fid, le.rel, &record{Stat: le.st, Hash: src.Hash, Key: key, VersionID: v.VersionID}); err != nil {
		f.fail(le.rel, le.st, err)
		return true
	}
	f.clearErr(le.rel)
	f.emit(Event{Type: kind, Path: le.rel, Key: key, From: src.Key, Version: v.VersionID})
	if dropOld && f.deleteOne(ctx, srcRel, src, false) {
		ps.removed.Add(1)
	}
	return true
}

// syncFile hashes a changed file and makes the remote match it: nothing
// (same content), a copy (content known), or an upload.
func (f *folder) syncFile(ctx context.Context, ps *passState, le *localEntry, first time.Time) {
	rel := le.rel
	key := f.key(rel)
	if err := storage.ValidateKey(key); err != nil {
		f.fail(rel, le.st, fmt.Errorf("cannot sync %q: %w", rel, err))
		return
	}
	var data []byte
	var hash string
	attrs := f.attrs(le)
	now := time.Now()
	switch {
	case le.mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(f.abs(rel))
		if err != nil {
			f.fail(rel, le.st, err)
			return
		}
		hash, data = "link:"+target, []byte{}
		attrs["symlink"] = target
	case f.e.opts.MinAge > 0 && now.Sub(le.mtime()) < f.e.opts.MinAge && now.Sub(first) < f.e.opts.MaxDelay:
		// Still being written (Nextcloud's minimum age): look again later.
		f.schedule(rel, le.mtime().Add(f.e.opts.MinAge+10*time.Millisecond))
		return
	case !f.e.up.multipartFor(le.st.Size):
		n, err := f.e.up.acquire(ctx, le.st.Size)
		if err != nil {
			return
		}
		defer f.e.up.budget.Release(n)
		if data, err = readSnapshot(f.abs(rel), le.st); err != nil {
			f.readFailed(rel, le, err)
			return
		}
		hash = hashBytes(data)
	case ps.bigSizes != nil && !ps.bigSizes[le.st.Size]:
		// No tracked file it could equal: hash while uploading.
		f.upload(ctx, ps, le, key, "", nil, attrs)
		return
	default:
		var err error
		if hash, err = hashFile(f.abs(rel), le.st); err != nil {
			f.readFailed(rel, le, err)
			return
		}
	}
	if le.rec != nil && le.rec.Hash == hash && le.rec.VersionID != "" {
		// Saved without a change (or touched): no new version.
		rec := *le.rec
		rec.Stat = le.st
		if err := f.e.j.put(f.fid, rel, &rec); err != nil {
			f.fail(rel, le.st, err)
		}
		f.clearErr(rel)
		return
	}
	if srcRel, src := ps.claimByHash(hash); src != nil {
		if f.copyFrom(ctx, ps, le, srcRel, src, true, EvRename) {
			return
		}
	} else if le.st.Size > 0 {
		if rels, err := f.e.j.byHash(f.fid, hash); err == nil {
			for _, r := range rels {
				if r == rel {
					continue
				}
				if src, err := f.e.j.get(f.fid, r); err == nil && src != nil && src.VersionID != "" {
					if f.copyFrom(ctx, ps, le, r, src, false, EvCopy) {
						return
					}
					break
				}
			}
		}
	}
	f.upload(ctx, ps, le, key, hash, data, attrs)
}

func (f *folder) readFailed(rel string, le *localEntry, err error) {
	switch {
	case errors.Is(err, ErrChanged):
		f.schedule(rel, time.Now().Add(f.e.opts.Delay))
	case errors.Is(err, fs.ErrNotExist):
		f.schedule(rel, time.Now().Add(f.e.opts.Delay)) // gone meanwhile: a delete
	default:
		f.fail(rel, le.st, err)
	}
}

func (f *folder) upload(ctx context.Context, ps *passState, le *localEntry, key, hash string, data []byte, attrs map[string]string) {
	req := upReq{fid: f.fid, rel: le.rel, bucket: f.cfg.Bucket, key: key, path: f.abs(le.rel), stat: le.st,
		hash: hash, data: data, ifMatch: ifMatchOf(le.rec), attrs: attrs,
		progress: func(n int64) { ps.bytesDone.Add(n) }}
	if hash == "" && data == nil {
		req.lateHash = &hash
	}
	v, err := f.e.up.upload(ctx, req)
	conflict := false
	var theirs string
	if errors.Is(err, storage.ErrConflict) {
		// The remote head moved since we last saw it: keep both.
		conflict = true
		theirs = "null"
		if hv, serr := f.e.store.Stat(ctx, f.cfg.Bucket, key, ""); serr == nil {
			theirs = hv.VersionID
		}
		req.hash = hash // known by now, when it was computed late
		if f.e.opts.ConflictCopy {
			req.key = conflictKey(key, time.Now(), f.e.opts.Hostname)
			req.ifMatch = "null"
		} else {
			req.ifMatch = theirs
		}
		v, err = f.e.up.upload(ctx, req)
	}
	if err != nil {
		if errors.Is(err, ErrChanged) {
			f.schedule(le.rel, time.Now().Add(f.e.opts.Delay))
			return
		}
		if ctx.Err() == nil {
			f.fail(le.rel, le.st, err)
		}
		return
	}
	rec := &record{Stat: le.st, Hash: hash, Key: key, VersionID: v.VersionID, Conflict: conflict}
	if conflict && f.e.opts.ConflictCopy {
		rec.VersionID = theirs // our next edit goes on top of theirs
		if theirs == "null" {
			rec.VersionID = ""
		}
	}
	if err := f.e.j.commit(f.fid, le.rel, rec); err != nil {
		f.fail(le.rel, le.st, err)
		return
	}
	if le.rec == nil {
		ps.added.Add(1)
	}
	f.e.up.hook("after-journal")
	f.clearErr(le.rel)
	if conflict {
		c := Conflict{Path: le.rel, Key: key, Theirs: theirs, Ours: v.VersionID, Time: time.Now()}
		if f.e.opts.ConflictCopy {
			c.Copy = req.key
		}
		f.addConflict(c)
	}
	f.emit(Event{Type: EvUpload, Path: le.rel, Key: req.key, Bytes: le.st.Size, Version: v.VersionID})
}

// deletes applies the pass's remaining missing paths as delete markers,
// unless a safety rule holds them back.
func (f *folder) deletes(ctx context.Context, ps *passState, readErrs int, full bool) error {
	now := time.Now()
	f.mu.Lock()
	for rel := range ps.missing {
		if _, ok := f.held[rel]; !ok {
			f.held[rel] = now
		}
	}
	total := len(f.held)
	tracked := f.tracked
	f.mu.Unlock()
	if total == 0 {
		f.mu.Lock()
		f.heldReason = ""
		f.mu.Unlock()
		return nil
	}
	reason := ""
	o := f.e.opts
	switch {
	case readErrs > 0:
		reason = fmt.Sprintf("the scan had %d read errors", readErrs)
	case o.MaxDelete >= 0 && total > o.MaxDelete:
		reason = fmt.Sprintf("%d deletes exceed --max-delete %d", total, o.MaxDelete)
	case o.MaxDeletePercent > 0 && total >= 10 && float64(total)*100 > o.MaxDeletePercent*float64(max(tracked, 1)):
		reason = fmt.Sprintf("%d deletes are more than %.0f%% of %d tracked files", total, o.MaxDeletePercent, tracked)
	}
	if reason != "" {
		f.mu.Lock()
		f.heldReason = reason
		f.mu.Unlock()
		f.emit(Event{Type: EvHeld, Message: reason + "; nothing deleted remotely"})
		if readErrs > 0 {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrTooManyDeletes, reason)
	}
	f.mu.Lock()
	f.heldReason = ""
	var due []string
	later := map[string]time.Time{}
	for rel := range ps.missing {
		first := f.held[rel]
		if ps.once || !now.Before(first.Add(o.DeleteDelay)) {
			due = append(due, rel)
		} else {
			later[rel] = first.Add(o.DeleteDelay)
		}
	}
	f.mu.Unlock()
	for rel, t := range later {
		f.schedule(rel, t)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for _, rel := range due {
		rec := ps.missing[rel]
		g.Go(func() error {
			if f.deleteOne(gctx, rel, rec, true) {
				ps.removed.Add(1)
			}
			return nil
		})
	}
	return g.Wait()
}

// deleteOne writes a delete marker for rec's key, guarded by the version we
// last saw: a remote modification is never deleted (it is a conflict).
func (f *folder) deleteOne(ctx context.Context, rel string, rec *record, report bool) bool {
	err := f.e.opts.retry(ctx, 4, func() error {
		_, err := f.e.store.Delete(ctx, f.cfg.Bucket, rec.Key, storage.DeleteOptions{IfMatch: rec.VersionID})
		return err
	})
	switch {
	case err == nil:
		f.e.cnt.Deletes.Add(1)
		if report {
			f.emit(Event{Type: EvDelete, Path: rel, Key: rec.Key})
		}
	case errors.Is(err, storage.ErrNotFound):
	case errors.Is(err, storage.ErrConflict):
		theirs := ""
		if hv, serr := f.e.store.Stat(ctx, f.cfg.Bucket, rec.Key, ""); serr == nil {
			theirs = hv.VersionID
		}
		f.addConflict(Conflict{Path: rel, Key: rec.Key, Theirs: theirs, Time: time.Now()})
	default:
		f.fail(rel, rec.Stat, err)
		return false
	}
	if err := f.e.j.del(f.fid, rel); err != nil {
		f.fail(rel, rec.Stat, err)
		return false
	}
	f.mu.Lock()
	delete(f.held, rel)
	delete(f.errs, rel)
	f.mu.Unlock()
	return true
}
