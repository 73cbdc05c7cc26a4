package fusefs

import (
	"context"

	"github.com/bucketfs/bucketfs/storage"
)

// putContentLocked stores the staged content of st as the new head of
// bucket/key. A spilled (big) file is handed to the store as it is when
// the store can adopt it, so its bytes are written once; everything else is
// a Put from the staging copy. The caller holds n.mu.
func (n *fileNode) putContentLocked(ctx context.Context, bucket, key string, st *openState, attrs map[string]string) (*storage.ObjectVersion, error) {
	ad, ok := n.m.store.(storage.Adopter)
	if !ok || !st.data.spilled() {
		return n.m.store.Put(ctx, bucket, key, st.data.Reader(), storage.PutOptions{Size: st.data.size, Attrs: attrs})
	}
	var v *storage.ObjectVersion
	err := st.data.handOver(func(path, sum string) error {
		var err error
		v, err = ad.Adopt(ctx, bucket, key, path, storage.AdoptOptions{
			PutOptions: storage.PutOptions{Attrs: attrs},
			BLAKE3:     sum,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	// The staging file is the version's blob now: later writes start from
	// a fresh copy, and open handles read the new head.
	st.data.Close()
	st.data = nil
	n.gen++
	return v, nil
}

// syncStore makes every change made through the mount so far power-loss
// durable (fsync, fsyncdir). Stores without NoSync writes are durable
// already.
func (m *mountFS) syncStore(ctx context.Context) error {
	if s, ok := m.store.(storage.Syncer); ok {
		return s.Sync(m.ctx(ctx))
	}
	return nil
}

// stillPending reports whether a file created here is not in the store
// yet, after committing it if every writer has closed it and only the
// kernel's RELEASE (which would commit it) is outstanding. A listing then
// shows the file where the store sorts it, as every later listing will:
// a closed file in the unsorted tail of one listing and in its sorted place
// in the next would shift the offsets seekdir(3) relies on.
func (n *fileNode) stillPending(ctx context.Context) bool {
	if !n.pending() {
		return false
	}
	if err := n.commitClosed(ctx); err != nil {
		n.m.log.Warn("mount: commit of a closed file before a listing failed", "err", err)
	}
	return n.pending()
}
