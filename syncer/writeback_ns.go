package syncer

import (
	"context"
	"errors"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// Renames and deletes of keys whose content is still queued. Without them
// a file saved and then renamed (the usual "write a temporary file, rename
// it over the original" save) would reach the server under its temporary
// name, and a file saved and then removed would come back once uploaded.
// Both hold the key: its upload in flight is cancelled and no new one
// starts until the namespace change is done, so the server sees the
// upload and the change in the order the application made them.

// hold stops uploads of k: it cancels one in flight and waits until it
// has returned. The caller holds wb.mu; it is released while waiting.
func (wb *WriteBack) holdLocked(ctx context.Context, k wbKey) (*wbState, error) {
	st := wb.keys[k]
	if st == nil {
		st = &wbState{}
		wb.keys[k] = st
	}
	st.held++
	if st.busy && st.cancel != nil {
		st.cancel()
	}
	stop := context.AfterFunc(ctx, func() {
		wb.mu.Lock()
		wb.cond.Broadcast()
		wb.mu.Unlock()
	})
	defer stop()
	for st.busy || st.removing > 0 {
		if err := ctx.Err(); err != nil {
			wb.releaseLocked(k, st)
			return nil, err
		}
		wb.cond.Wait()
	}
	return st, nil
}

// releaseLocked ends a hold and lets the key's uploads run again.
func (wb *WriteBack) releaseLocked(k wbKey, st *wbState) {
	st.held--
	if st.held == 0 {
		wb.enqueueLocked(k, st)
	}
	wb.cond.Broadcast()
}

// Remove deletes bucket/key: del makes the change on the server (a delete
// marker); the key's queued content is dropped once del succeeded, or
// when del found nothing on the server because the key only ever existed
// in the queue. Any other error of del is returned and the queue is kept.
func (wb *WriteBack) Remove(ctx context.Context, bucket, key string, del func() error) error {
	k := wbKey{bucket, key}
	wb.mu.Lock()
	st, err := wb.holdLocked(ctx, k)
	if err != nil {
		wb.mu.Unlock()
		return err
	}
	had := len(st.entries) > 0
	wb.mu.Unlock()

	err = del()
	if err != nil && !(had && errors.Is(err, storage.ErrNotFound)) {
		wb.mu.Lock()
		wb.releaseLocked(k, st)
		wb.mu.Unlock()
		return err
	}
	wb.mu.Lock()
	drop := st.entries
	st.entries, st.err = nil, nil
	wb.releaseLocked(k, st)
	wb.mu.Unlock()
	wb.drop(ctx, drop)
	return nil
}

// Rename moves bucket/src to bucket/dst: move makes the change on the
// server; then the content queued for src is queued for dst instead (it is
// newer than what move carried over), replacing what was queued for dst.
// When move finds nothing on the server but src has queued content, the
// rename happens in the queue alone.
func (wb *WriteBack) Rename(ctx context.Context, bucket, src, dst string, move func() error) error {
	ks, kd := wbKey{bucket, src}, wbKey{bucket, dst}
	if src == dst {
		return move()
	}
	wb.mu.Lock()
	ss, err := wb.holdLocked(ctx, ks)
	if err != nil {
		wb.mu.Unlock()
		return err
	}
	ds, err := wb.holdLocked(ctx, kd)
	if err != nil {
		wb.releaseLocked(ks, ss)
		wb.mu.Unlock()
		return err
	}
	had := len(ss.entries) > 0
	wb.mu.Unlock()

	err = move()
	if err != nil && !(had && errors.Is(err, storage.ErrNotFound)) {
		wb.mu.Lock()
		wb.releaseLocked(ks, ss)
		wb.releaseLocked(kd, ds)
		wb.mu.Unlock()
		return err
	}
	wb.mu.Lock()
	moved := ss.entries
	var drop []*wbEntry
	if len(moved) > 0 {
		drop = ds.entries
		ds.entries = nil
	}
	ss.entries, ss.err = nil, nil
	wb.mu.Unlock()

	jerr := wb.retarget(ctx, moved, dst)
	wb.mu.Lock()
	ds.entries = append(ds.entries, moved...)
	ds.err = nil
	wb.releaseLocked(ks, ss)
	wb.releaseLocked(kd, ds)
	wb.mu.Unlock()
	wb.drop(ctx, drop)
	return jerr
}

// drop forgets queued entries: journal records, sessions and files.
func (wb *WriteBack) drop(ctx context.Context, es []*wbEntry) {
	for _, e := range es {
		wb.dropSession(ctx, e.Seq)
		_ = wb.j.update(func(tx metadata.Tx) error { return tx.Delete(wbJournalKey(e.Seq)) })
		_ = os.Remove(e.File)
	}
}

// dropSession aborts the multipart upload journaled for entry seq, if any.
func (wb *WriteBack) dropSession(ctx context.Context, seq uint64) {
	rel := strconv.FormatUint(seq, 10)
	s, err := wb.j.getSession(wbFid, rel)
	if err != nil || s == nil {
		return
	}
	wb.up.abort(context.WithoutCancel(ctx), s)
	_ = wb.j.delSession(wbFid, rel)
}

// StagedNames returns the names of the keys directly under prefix (no
// further "/") that have queued content, for directory listings.
func (wb *WriteBack) StagedNames(bucket, prefix string) []string {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	var out []string
	for k, st := range wb.keys {
		if k.bucket != bucket || len(st.entries) == 0 || !strings.HasPrefix(k.key, prefix) {
			continue
		}
		if name := k.key[len(prefix):]; name != "" && !strings.Contains(name, "/") {
			out = append(out, name)
		}
	}
	return out
}

// retarget journals entries under a new key (journal first: a restart must
// find them there). A multipart session started for the old key would
// complete under it, so it is aborted.
func (wb *WriteBack) retarget(ctx context.Context, es []*wbEntry, key string) error {
	var jerr error
	for _, e := range es {
		wb.dropSession(ctx, e.Seq)
		e.Key = key
		if err := wb.j.update(func(tx metadata.Tx) error { return setJSON(tx, wbJournalKey(e.Seq), e) }); err != nil && jerr == nil {
			jerr = err
		}
	}
	return jerr
}

// RenamePrefix is Rename of a directory: every key under src (a prefix
// ending in "/") with queued content is held, move makes the change on
// the server, and the queued content follows to dst.
func (wb *WriteBack) RenamePrefix(ctx context.Context, bucket, src, dst string, move func() error) error {
	wb.mu.Lock()
	var keys []wbKey
	for k, st := range wb.keys {
		if k.bucket == bucket && strings.HasPrefix(k.key, src) && (len(st.entries) > 0 || st.busy) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].key < keys[j].key })
	held := make([]*wbState, 0, len(keys))
	release := func() {
		for i, st := range held {
			wb.releaseLocked(keys[i], st)
		}
	}
	for _, k := range keys {
		st, err := wb.holdLocked(ctx, k)
		if err != nil {
			release()
			wb.mu.Unlock()
			return err
		}
		held = append(held, st)
	}
	wb.mu.Unlock()

	if err := move(); err != nil {
		wb.mu.Lock()
		release()
		wb.mu.Unlock()
		return err
	}
	var jerr error
	for i, k := range keys {
		wb.mu.Lock()
		moved := held[i].entries
		held[i].entries, held[i].err = nil, nil
		wb.mu.Unlock()
		nk := wbKey{bucket, dst + strings.TrimPrefix(k.key, src)}
		if err := wb.retarget(ctx, moved, nk.key); err != nil && jerr == nil {
			jerr = err
		}
		wb.mu.Lock()
		ds := wb.keys[nk]
		if ds == nil {
			ds = &wbState{}
			wb.keys[nk] = ds
		}
		ds.entries = append(ds.entries, moved...)
		sort.Slice(ds.entries, func(a, b int) bool { return ds.entries[a].Seq < ds.entries[b].Seq })
		wb.enqueueLocked(nk, ds)
		wb.mu.Unlock()
	}
	wb.mu.Lock()
	release()
	wb.mu.Unlock()
	return jerr
}
