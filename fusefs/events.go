package fusefs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Kernel cache invalidation. The kernel keeps entries, attributes and
// pages for as long as the mount's timeouts allow, which is long when the
// store reports its changes (storage.EventSource): every change made by
// someone else (the API, the sync engine, a function, another mount of a
// server) arrives as an event and invalidates exactly what it changed.
// Changes made through this mount need nothing: the kernel learnt them
// from the request itself, and their events carry this mount's instance.

// newInstanceID is a random id that tells this mount's events apart.
func newInstanceID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// runNotify sends queued kernel notifications until ctx ends. They are
// sent from here, never from a request handler: a notification written to
// /dev/fuse while the kernel waits for our reply can deadlock.
func (m *mountFS) runNotify(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-m.notify:
			if m.lost.Swap(false) {
				m.invalidateAll()
			}
			f()
		}
	}
}

// queueNotify runs f on the notification goroutine without blocking (it
// is called from request handlers, and blocking one while the kernel holds
// a lock the notification needs would deadlock). If the queue is full,
// everything is invalidated once the queue drains.
func (m *mountFS) queueNotify(f func()) {
	select {
	case m.notify <- f:
	default:
		m.lost.Store(true)
		select {
		case m.notify <- func() {}:
		default:
		}
	}
}

// watchEvents follows the store's event outbox and invalidates what the
// kernel caches for keys changed by someone else. It starts at the end of
// the outbox: earlier changes are already what the store shows.
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
			// Changes may have been missed meanwhile.
			m.epoch.Add(1)
			m.lost.Store(true)
			continue
		}
		for _, e := range evs {
			after = e.Seq
			if f := m.onEvent(e); f != nil {
				m.epoch.Add(1)
				// This goroutine may wait for room: it is not a request.
				select {
				case m.notify <- f:
				case <-ctx.Done():
					return
				}
			}
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

// onEvent returns the invalidation an event calls for (nil: none).
func (m *mountFS) onEvent(e storage.Event) func() {
	if e.Origin.Instance == m.origin.Instance {
		return nil // made through this mount: the kernel knows
	}
	bucket := e.BucketName
	if bucket == "" {
		bucket = e.BucketID
	}
	if e.Key == "" {
		// A bucket appeared or went: the root listing changed.
		return func() {
			m.root.NotifyEntry(bucket)
			m.root.NotifyContent(0, 0)
		}
	}
	gone := e.Name == storage.EventDeleteMarker || e.Name == storage.EventDelete
	return func() { m.invalidatePath(bucket, e.Key, gone) }
}

// invalidateKey drops what the kernel caches about bucket/key, from a
// request handler (queued, never blocking).
func (m *mountFS) invalidateKey(bucket, key string) {
	m.epoch.Add(1)
	m.queueNotify(func() { m.invalidatePath(bucket, key, true) })
}

// invalidatePath drops the kernel's entry of key (or of its first
// component the kernel does not know as a directory, which may be a
// negative entry), its attributes and pages, and the entries of key's
// ".versions" folder. When gone (a delete), directories implied only by
// key that are now empty are dropped too. Runs on the notification
// goroutine.
func (m *mountFS) invalidatePath(bucket, key string, gone bool) {
	p := m.root.GetChild(bucket)
	if p == nil {
		m.root.NotifyEntry(bucket)
		return
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	dirs := []*fs.Inode{p}
	for i, s := range segs {
		ch := p.GetChild(s)
		if ch == nil || i == len(segs)-1 {
			p.NotifyEntry(s)
			if vs := p.GetChild(versionsName); vs != nil {
				vs.NotifyEntry(s)
			}
			if ch != nil {
				invalidateNode(ch)
			}
			break
		}
		p = ch
		dirs = append(dirs, p)
	}
	if !gone {
		return
	}
	// Walk up while the directory is empty in the store now.
	for i := len(dirs) - 1; i >= 1 && i <= len(segs)-1; i-- {
		prefix := strings.Join(segs[:i], "/") + "/"
		res, err := m.store.List(m.ctx(context.Background()), bucket, storage.ListOptions{Prefix: prefix, Limit: 1})
		if err != nil || len(res.Objects) > 0 || len(res.Prefixes) > 0 {
			return
		}
		dirs[i-1].NotifyEntry(segs[i-1])
	}
}

// invalidateNode drops a file's cached attributes and pages (not those of
// a file open for writing here: its local state is the newest).
func invalidateNode(ch *fs.Inode) {
	if fn, ok := ch.Operations().(*fileNode); ok {
		fn.mu.Lock()
		busy := fn.localNewerLocked()
		fn.cacheVer = ""
		fn.mu.Unlock()
		if !busy {
			ch.NotifyContent(0, 0)
		}
		return
	}
	ch.NotifyContent(0, 0)
}

// invalidateAll drops every entry and attribute the kernel caches, after
// changes may have been missed.
func (m *mountFS) invalidateAll() {
	var walk func(n *fs.Inode)
	walk = func(n *fs.Inode) {
		for name, ch := range n.Children() {
			if ch.IsDir() {
				walk(ch)
			}
			n.NotifyEntry(name)
			invalidateNode(ch)
		}
	}
	walk(&m.root.Inode)
}

// Replies race with invalidations: a lookup that read the store before a
// change and replies after the change's invalidation was sent would leave
// the kernel caching the old state for the whole (long) timeout. epoch
// counts invalidations; a reply built while it moved is cached only for
// raceTimeout.
const raceTimeout = time.Millisecond

// settleEntry shortens the cache lifetimes of a LOOKUP reply (positive or
// negative) whose store read may predate an invalidation.
func (m *mountFS) settleEntry(start uint64, out *fuse.EntryOut) {
	if m.epoch.Load() != start {
		out.SetEntryTimeout(raceTimeout)
		out.SetAttrTimeout(raceTimeout)
	}
}

// settleAttr does the same for a GETATTR reply.
func (m *mountFS) settleAttr(start uint64, out *fuse.AttrOut) {
	if m.epoch.Load() != start {
		out.SetTimeout(raceTimeout)
	}
}
