package fusefs

import (
	"context"
	"sync/atomic"

	"github.com/bucketfs/bucketfs/storage"
)

// Memory. The mount's own per-entry state is small and goes with the
// kernel's FORGET; what grows with a big listing is what the store caches
// while scanning its index (on the local store: badger's table pages,
// mapped into this process). After a listing of releaseAfter entries or
// more, the mount asks the store to give that back (storage.MemoryReleaser)
// from a background goroutine, never from a request handler.

// releaseAfter is how many listed entries make a listing big.
const releaseAfter = 5000

// listed counts entries handed to the kernel by a listing; a big listing
// asks for a release when its handle is closed.
func (m *mountFS) listed(n int) {
	if m.listedSince.Add(int64(n)) >= releaseAfter {
		select {
		case m.release <- struct{}{}:
		default: // one is pending already
		}
	}
}

// runRelease serves release requests until ctx ends.
func (m *mountFS) runRelease(ctx context.Context) {
	r, ok := m.store.(storage.MemoryReleaser)
	if !ok {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.release:
			m.listedSince.Store(0)
			if err := r.ReleaseMemory(); err != nil {
				m.log.Debug("mount: releasing the store's cached memory failed", "err", err)
			}
		}
	}
}

// memoryState is embedded in mountFS.
type memoryState struct {
	listedSince atomic.Int64
	release     chan struct{}
}
