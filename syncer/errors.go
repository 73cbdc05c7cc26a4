package syncer

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

var (
	// ErrChanged: the file changed while it was hashed or uploaded; it is
	// queued again once it is stable.
	ErrChanged = errors.New("file changed during sync")
	// ErrRootMissing: the folder's root is gone, not a directory, or on a
	// different device than recorded; the pass does nothing remotely.
	ErrRootMissing = errors.New("sync root missing or replaced")
	// ErrTooManyDeletes: a pass wanted more deletes than MaxDelete allows.
	ErrTooManyDeletes = errors.New("too many deletes in one pass")
	// ErrWatchLimit: the inotify watch limit is exhausted; the folder is polled.
	ErrWatchLimit = errors.New("inotify watch limit reached (raise fs.inotify.max_user_watches)")
	// ErrClosed: the engine or write-back queue was closed.
	ErrClosed = errors.New("syncer closed")
	// ErrUnsupported: a file type that is not synced (devices, sockets, fifos).
	ErrUnsupported = errors.New("unsupported file type")
)

// retryAfterer is implemented by remote errors that carry a Retry-After.
type retryAfterer interface{ RetryAfter() time.Duration }

// retryabler lets a store classify its own errors (the HTTP client does).
type retryabler interface{ Retryable() bool }

// retryable applies the store client's classification first, then Retryable.
func (o *Options) retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if o != nil && o.IsRetryable != nil && o.IsRetryable(err) {
		return true
	}
	return Retryable(err)
}

func (o *Options) retryAfter(err error) time.Duration {
	if o != nil && o.RetryAfter != nil {
		if d := o.RetryAfter(err); d > 0 {
			return d
		}
	}
	return retryAfter(err)
}

// Retryable reports whether trying again later may succeed: unavailable
// stores, network errors and files that changed under us; never caller
// cancellation, invalid names, quota, size limits or permissions.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var r retryabler
	if errors.As(err, &r) && r.Retryable() {
		return true
	}
	switch {
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, ErrChanged),
		errors.Is(err, storage.ErrNoSpace), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInvalid),
		errors.Is(err, storage.ErrInvalidKey), errors.Is(err, storage.ErrTooLarge),
		errors.Is(err, storage.ErrQuotaExceeded), errors.Is(err, storage.ErrPermission),
		errors.Is(err, storage.ErrLocked), errors.Is(err, ErrUnsupported):
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	// Local read errors (permission, I/O) repeat until the file changes;
	// anything else unknown is assumed transient and retried with backoff.
	return !errors.Is(err, os.ErrPermission) && !errors.Is(err, os.ErrNotExist)
}

// retryAfter returns the server's requested delay, if any.
func retryAfter(err error) time.Duration {
	var r retryAfterer
	if errors.As(err, &r) {
		return r.RetryAfter()
	}
	return 0
}
