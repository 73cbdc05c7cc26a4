package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirHandle is an open directory of the ordinary tree. It streams the
// store's listing page by page, and answers READDIRPLUS's lookup of each
// entry from the version the listing returned (size, mtime, mode and owner
// are in it), so a listing with attributes costs no store call per entry.
// go-fuse serialises the calls on one handle.
type dirHandle struct {
	d      *dirNode
	bucket string
	prefix string
	s      *listStream
	n      int // entries returned
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileLookuper     = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
)

var _ fs.NodeOpendirHandler = (*dirNode)(nil)

func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	bucket, prefix, ok := d.where()
	if !ok {
		return nil, 0, syscall.ENOENT
	}
	head := []fuse.DirEntry{{Name: ".", Mode: syscall.S_IFDIR, Ino: d.StableAttr().Ino}, {Name: "..", Mode: syscall.S_IFDIR, Ino: 1}}
	if _, p := d.Parent(); p != nil {
		head[1].Ino = p.StableAttr().Ino
	}
	if d.m.opts.ShowVersions {
		head = append(head, fuse.DirEntry{Name: versionsName, Mode: syscall.S_IFDIR, Ino: inoOf('v', bucket, prefix)})
	}
	// Files created here and still open are not in the store yet.
	var pending []fuse.DirEntry
	for name, ch := range d.Children() {
		if fn, ok := ch.Operations().(*fileNode); ok && fn.stillPending(ctx) {
			pending = append(pending, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: ch.StableAttr().Ino})
		}
	}
	pending = append(pending, d.m.stagedEntries(bucket, prefix)...) // closed, upload queued
	s := d.m.newListStream(ctx, bucket, prefix, timeZero, head, pending)
	return &dirHandle{d: d, bucket: bucket, prefix: prefix, s: s}, 0, 0
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if !h.s.HasNext() {
		return nil, 0
	}
	e, errno := h.s.Next()
	h.n++
	return &e, errno
}

func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return h.s.Seekdir(ctx, off)
}

func (h *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	h.s.Close()
	h.d.m.listed(h.n)
}

// Lookup gives READDIRPLUS the node and attributes of the entry just
// listed. Directories and entries the listing cannot describe get none
// (an error here only means "no attributes": the kernel looks the name up
// when it needs it).
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	v := h.s.listed(name)
	if v == nil {
		return nil, syscall.ENOENT
	}
	d := h.d
	// A rename of this directory while it is being listed changes the
	// keys (and inode numbers) of its entries: then leave them to lookup.
	if bucket, prefix, ok := d.where(); !ok || bucket != h.bucket || prefix != h.prefix {
		return nil, syscall.ENOENT
	}
	existing := d.GetChild(name)
	if fn, ok := opsOf(existing).(*fileNode); ok {
		fn.mu.Lock()
		open := fn.st != nil
		if open {
			// Open here: the local state is newer than the listing.
			fn.fillLocked(&out.Attr)
		}
		fn.mu.Unlock()
		if open {
			return existing, 0
		}
	}
	if wb := d.m.opts.WriteBack; wb != nil {
		if _, staged := wb.Staged(h.bucket, v.Key); staged {
			return nil, syscall.ENOENT // newer than the listing: lookup knows
		}
	}
	ch := d.fileChild(ctx, existing, h.bucket, v.Key, v, 0, out)
	d.m.settleEntry(h.s.epoch, out)
	return ch, 0
}
