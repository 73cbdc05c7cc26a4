package blob

import (
	"context"
	"io"
)

// Backend stores immutable blobs under ids chosen by the caller (file
// instance ids). A blob becomes visible under its id only once complete.
type Backend interface {
	// Create starts a new blob in a temporary place.
	Create(ctx context.Context) (Writer, error)
	// Open opens a committed blob for random access.
	Open(ctx context.Context, id string) (Reader, error)
	// Remove deletes a blob; a missing blob is not an error.
	Remove(ctx context.Context, id string) error
	// List calls fn with the id of every committed blob (for garbage collection).
	List(ctx context.Context, fn func(id string) error) error
	// Allocate creates the blob id of the given size, zero-filled, to be
	// filled by WriteAt (multipart uploads write parts in place).
	Allocate(ctx context.Context, id string, size int64) error
	// WriteAt copies r into blob id from offset off until r ends, and makes
	// the bytes durable before returning the count.
	WriteAt(ctx context.Context, id string, off int64, r io.Reader) (int64, error)
	// RemoveTemps deletes temporary files of writers that no longer exist
	// (left by a crash); it returns how many were removed.
	RemoveTemps(ctx context.Context) (int, error)
}

// Writer receives the bytes of a new blob.
type Writer interface {
	io.Writer
	// Commit makes the bytes durable and publishes them under id.
	Commit(ctx context.Context, id string) error
	// Abort discards the bytes; it is a no-op after Commit.
	Abort() error
}

// Reader is random access to a committed blob.
type Reader interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// NoSyncCommitter is an optional ability of a Writer: publish the blob under
// id without waiting for the disk. The bytes are in the page cache (a crash
// of the process keeps them, a power loss may not) until the backend's
// Flush returns.
type NoSyncCommitter interface {
	CommitNoSync(ctx context.Context, id string) error
}

// Flusher is the optional ability of a Backend whose writers can commit
// without syncing.
type Flusher interface {
	// Flush makes every blob published by CommitNoSync before the call
	// durable (bytes and directory entries).
	Flush(ctx context.Context) error
}
