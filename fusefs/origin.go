package fusefs

import (
	"context"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/bucketfs/bucketfs/storage"
)

// originFor is the origin stamped on the changes a request makes. FUSE
// requests carry the caller's pid; when Options.OriginOf knows it (the
// process of a running function call), the change is the call's, so the
// triggers see a function's write and do not call it again on its own
// output. Everything else is the mount's. An origin already on ctx (a
// handle's, see handle.originCtx) wins: a RELEASE may come with pid 0.
func (m *mountFS) originFor(ctx context.Context) storage.Origin {
	if o := storage.OriginFrom(ctx); o.Kind != "" {
		return o
	}
	if m.opts.OriginOf != nil {
		if c, ok := fuse.FromContext(ctx); ok && c.Pid != 0 {
			if o, ok := m.opts.OriginOf(int(c.Pid)); ok {
				// Still this mount's change for its own event watcher.
				o.Instance = m.origin.Instance
				return o
			}
		}
	}
	return m.origin
}

// originCtx returns ctx carrying the origin of the process that opened the
// handle, when that was a function call's and the request itself has no
// caller to resolve (a RELEASE after the process exited).
func (h *handle) originCtx(ctx context.Context) context.Context {
	if h.origin.Kind == "" {
		return ctx
	}
	if c, ok := fuse.FromContext(ctx); ok && c.Pid != 0 {
		return ctx
	}
	return storage.WithOrigin(ctx, h.origin)
}

// openerOrigin is what a writable handle keeps for its commits: the origin
// of the function call whose process opened it, or none.
func (m *mountFS) openerOrigin(ctx context.Context, writable bool) storage.Origin {
	if o := m.originFor(ctx); writable && o != m.origin {
		return o
	}
	return storage.Origin{}
}
