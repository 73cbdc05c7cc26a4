package storage

import (
	"context"
	"errors"

	"github.com/bucketfs/bucketfs/storage/blob"
)

type noSyncKey struct{}

// WithNoSync returns a context whose writes (Put, Delete, Copy, Move,
// SetAttrs, Restore, RemoveVersion) behave as with PutOptions.NoSync: they
// return once committed to the store's log and page cache, and become
// power-loss durable with the next synced commit, Store.Sync, or within
// about a second. The mount uses it to give close(2) its POSIX meaning and
// leaves power-loss durability to fsync(2).
func WithNoSync(ctx context.Context) context.Context {
	return context.WithValue(ctx, noSyncKey{}, true)
}

func noSyncFrom(ctx context.Context) bool {
	b, _ := ctx.Value(noSyncKey{}).(bool)
	return b
}

// Syncer is an optional ability of an ObjectStore that can acknowledge
// writes before they are durable (NoSync): Sync makes every write
// acknowledged before the call survive power loss.
type Syncer interface {
	Sync(ctx context.Context) error
}

var _ Syncer = (*Store)(nil)

// Sync makes every change committed so far durable, NoSync ones included:
// it fsyncs the blobs NoSync puts left unsynced, then syncs the index.
func (s *Store) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.c.sync()
}

// writeOp runs fn in the writer, durable unless noSync or the context asks
// for NoSync.
func (s *Store) writeOp(ctx context.Context, noSync bool, fn op) error {
	return s.c.submit(fn, 0, noSync || noSyncFrom(ctx))
}

// flushBlobs makes the blobs of NoSync puts durable, in every location.
func (s *Store) flushBlobs() error {
	s.mu.RLock()
	var fs []blob.Flusher
	for _, b := range s.backends {
		if f, ok := b.(blob.Flusher); ok {
			fs = append(fs, f)
		}
	}
	s.mu.RUnlock()
	var errs []error
	for _, f := range fs {
		if err := f.Flush(context.Background()); err != nil {
			errs = append(errs, mapBlobErr(err))
		}
	}
	return errors.Join(errs...)
}
