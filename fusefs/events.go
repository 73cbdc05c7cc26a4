package fusefs

import (
	"context"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
)

// runNotify sends queued kernel notifications until ctx ends. They are
// sent from here, never from a request handler: a notification written to
// /dev/fuse while the kernel waits for our reply can deadlock.
func (m *mountFS) runNotify(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-m.notify:
			f()
		}
	}
}

// watchEvents follows the store's event outbox and invalidates what the
// kernel caches for keys changed by someone else (the API, the sync
// engine, a function). It starts at the end of the outbox: earlier
// changes are already what the store shows.
func (m *mountFS) watchEvents(ctx context.Context, es storage.EventSource) {
	var after uint64
	for ctx.Err() == nil {
		evs, err := es.Events(ctx, after, 1000, 0)
		if err != nil {
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if len(evs) == 0 {
			break
		}
		after = evs[len(evs)-1].Seq
	}
	for ctx.Err() == nil {
		evs, err := es.Events(ctx, after, 1000, 5*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("mount: reading store events failed", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		for _, e := range evs {
			after = e.Seq
			m.onEvent(e)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (m *mountFS) onEvent(e storage.Event) {
	bucket := e.BucketName
	if bucket == "" {
		bucket = e.BucketID
	}
	if e.Key == "" {
		// A bucket appeared or went: the root listing changed.
		m.queueNotify(func() {
			m.root.NotifyEntry(bucket)
			m.root.NotifyContent(0, 0)
		})
		return
	}
	if e.Origin.Kind == "mount" && m.isOwn(bucket, e.Key) {
		return
	}
	m.invalidateKey(bucket, e.Key)
}

// invalidateKey drops the kernel's cached entries, attributes and pages
// along the path of bucket/key, and forgets the node's cached attributes.
func (m *mountFS) invalidateKey(bucket, key string) {
	m.queueNotify(func() {
		p := m.root.GetChild(bucket)
		if p == nil {
			return
		}
		segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
		for i, s := range segs {
			ch := p.GetChild(s)
			if ch == nil || i == len(segs)-1 {
				p.NotifyEntry(s)
				p.NotifyContent(0, 0) // the directory listing
				if ch != nil {
					invalidateNode(ch)
				}
				return
			}
			p = ch
		}
	})
}

func invalidateNode(ch *fs.Inode) {
	if fn, ok := ch.Operations().(*fileNode); ok {
		fn.mu.Lock()
		busy := fn.st != nil
		fn.cacheVer = ""
		fn.mu.Unlock()
		if !busy {
			ch.NotifyContent(0, 0)
		}
	}
}
