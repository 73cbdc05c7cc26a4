package syncer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// How long a bucket's limits are trusted, and how long close(2) may wait
// to learn them: the check is a courtesy that reports a hopeless upload at
// once; the upload itself still enforces the limits, and its error is
// returned by Sync (fsync).
const (
	limitsTTL     = 30 * time.Second
	limitsTimeout = 2 * time.Second
)

type bucketLimits struct {
	maxFile, quota int64
	at             time.Time
}

// limitCache remembers the limits of the buckets written to.
type limitCache struct {
	mu sync.Mutex
	m  map[string]bucketLimits
}

// Check refuses content of size bytes for bucket/key that the server can
// never accept: an invalid key, a file over the bucket's maximum file size
// (storage.ErrTooLarge) or over its whole quota (storage.ErrQuotaExceeded).
// The mount calls it before staging so close(2) reports EFBIG/EDQUOT. When
// the server cannot be asked quickly, the check passes and the upload
// decides.
func (wb *WriteBack) Check(ctx context.Context, bucket, key string, size int64) error {
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	l, ok := wb.limits.get(ctx, wb.store, bucket)
	if !ok {
		return nil
	}
	if l.maxFile > 0 && size > l.maxFile {
		return fmt.Errorf("%w: %s/%s is %d bytes, the bucket accepts files up to %d", storage.ErrTooLarge, bucket, key, size, l.maxFile)
	}
	if l.quota > 0 && size > l.quota {
		return fmt.Errorf("%w: %s/%s is %d bytes, the bucket's quota is %d", storage.ErrQuotaExceeded, bucket, key, size, l.quota)
	}
	return nil
}

func (c *limitCache) get(ctx context.Context, store storage.ObjectStore, bucket string) (bucketLimits, bool) {
	c.mu.Lock()
	l, ok := c.m[bucket]
	c.mu.Unlock()
	if ok && time.Since(l.at) < limitsTTL {
		return l, true
	}
	ctx, cancel := context.WithTimeout(ctx, limitsTimeout)
	defer cancel()
	b, err := store.GetBucket(ctx, bucket)
	if err != nil {
		return l, ok // stale limits beat none
	}
	l = bucketLimits{maxFile: b.MaxFileSize, quota: b.QuotaSize, at: time.Now()}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]bucketLimits{}
	}
	c.m[bucket] = l
	c.mu.Unlock()
	return l, true
}
