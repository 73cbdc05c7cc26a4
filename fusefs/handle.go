package fusefs

import (
	"context"
	"io"
	"sync"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// handle is one open file description of a fileNode.
type handle struct {
	n        *fileNode
	writable bool
	ver      *storage.ObjectVersion // head at open time: what a reader sees

	openGen uint64 // the node's gen at open

	mu       sync.Mutex // guards rd
	rd       contentReader
	gen      uint64
	released bool
	flushed  bool // guarded by n.mu: no write since the last FLUSH
	// origin is the function call that opened the handle for writing, if
	// any: its commits are the call's (see originFor).
	origin storage.Origin
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileReleaser  = (*handle)(nil)
	_ fs.FileLseeker   = (*handle)(nil)
	_ fs.FileAllocater = (*handle)(nil)
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := h.n
	n.mu.Lock()
	if st := n.st; st != nil && st.data != nil {
		k, err := st.data.ReadAt(dest, off)
		n.mu.Unlock()
		if err != nil && err != io.EOF {
			return nil, toErrno(err)
		}
		return fuse.ReadResultData(dest[:k]), 0
	}
	gen := n.gen
	n.mu.Unlock()

	h.mu.Lock()
	if h.rd == nil || h.gen != gen {
		if h.rd != nil {
			h.rd.Close()
			h.rd = nil
		}
		rd, errno := h.openReader(ctx, gen)
		if errno != 0 {
			h.mu.Unlock()
			return nil, errno
		}
		h.rd, h.gen = rd, gen
	}
	rd := h.rd
	if _, ok := rd.(concurrentReader); ok {
		h.mu.Unlock() // parallel READs (kernel read-ahead) run in parallel
	} else {
		defer h.mu.Unlock()
	}
	return n.m.readResult(rd, dest, off)
}

// openReader opens the content a read should see: the write-back engine's
// copy while it is not uploaded, else the version the handle opened (or,
// once this mount replaced it, the new head).
func (h *handle) openReader(ctx context.Context, gen uint64) (contentReader, syscall.Errno) {
	n := h.n
	bucket, key, ok := n.where()
	if ok {
		if f, _, ok := n.m.openStaged(bucket, key); ok {
			return f, 0
		}
	}
	v := h.ver
	if gen != h.openGen {
		v = nil // replaced through this mount since the open: read the new head
	}
	if !ok && v != nil {
		bucket = v.BucketID // unlinked: the version it showed is still stored
	}
	if v == nil {
		if !ok {
			return emptyReader{}, 0
		}
		var err error
		v, err = n.m.store.Stat(n.m.ctx(ctx), bucket, key, "")
		if err != nil {
			return nil, toErrno(err)
		}
	}
	rd, err := n.m.openReader(ctx, bucket, v)
	if err != nil {
		return nil, toErrno(err)
	}
	return rd, 0
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.writable {
		return 0, syscall.EBADF
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.st
	if err := n.dataLocked(ctx, st, -1); err != nil {
		return 0, toErrno(err)
	}
	if h.flushed {
		h.flushed = false
		st.active++
	}
	k, err := st.data.WriteAt(data, off)
	if k > 0 {
		st.dirty, st.written = true, true
		n.attr.size = st.data.size
		n.attr.mtime = now()
		n.attr.ctime = n.attr.mtime
	}
	if err != nil {
		return uint32(k), toErrno(err)
	}
	return uint32(k), 0
}

// Flush runs at every close(2) of a descriptor. The last writer's close
// commits, so the error of a failed upload reaches the writer's close(2).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if !h.writable {
		return 0
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.st == nil {
		return 0
	}
	if !h.flushed {
		h.flushed = true
		n.st.active--
	}
	if n.st.active > 0 {
		return 0 // another writer is still writing: it commits
	}
	if !n.st.written {
		return 0 // nothing written through this file yet: RELEASE commits
	}
	return toErrno(n.commitLocked(h.originCtx(ctx)))
}

// Fsync commits now and makes the commit (and every earlier change through
// the mount) power-loss durable; with a write-back engine it waits for the
// upload instead.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	n := h.n
	n.mu.Lock()
	err := n.commitLocked(h.originCtx(ctx))
	n.mu.Unlock()
	if err != nil {
		return toErrno(err)
	}
	if wb := n.m.opts.WriteBack; wb != nil {
		if bucket, key, ok := n.where(); ok {
			return toErrno(wb.Sync(n.m.ctx(ctx), bucket, key))
		}
		return 0
	}
	return toErrno(n.m.syncStore(ctx))
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	n := h.n
	n.mu.Lock()
	if n.st != nil && h.writable && !h.released {
		if !h.flushed {
			h.flushed = true
			n.st.active--
		}
	}
	if n.st != nil && h.writable && n.st.active == 0 {
		// mmap'ed writes may arrive after the last flush.
		if err := n.commitLocked(h.originCtx(ctx)); err != nil {
			n.m.log.Error("mount: commit at release failed; the data is lost", "err", err)
		}
	}
	n.mu.Unlock()
	h.release()
	return 0
}

// release drops the handle's share of the open state.
func (h *handle) release() {
	n := h.n
	n.mu.Lock()
	if st := n.st; st != nil && !h.released {
		h.released = true
		st.handles--
		if h.writable {
			st.writers--
			if !h.flushed {
				h.flushed = true
				st.active--
			}
		}
		if st.handles <= 0 {
			if st.data != nil {
				st.data.Close()
			}
			n.st = nil
		}
	}
	n.mu.Unlock()
	h.mu.Lock()
	if h.rd != nil {
		h.rd.Close()
		h.rd = nil
	}
	h.mu.Unlock()
}

// Lseek answers SEEK_DATA/SEEK_HOLE: files have no holes we know of.
func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	n := h.n
	n.mu.Lock()
	size := uint64(n.attr.size)
	if n.st != nil && n.st.data != nil {
		size = uint64(n.st.data.size)
	}
	n.mu.Unlock()
	const seekData, seekHole = 3, 4
	switch whence {
	case seekData:
		if off >= size {
			return 0, syscall.ENXIO
		}
		return off, 0
	case seekHole:
		if off >= size {
			return 0, syscall.ENXIO
		}
		return size, 0
	}
	return 0, syscall.EINVAL
}

// Allocate supports plain fallocate (mode 0: extend with zeros) and
// FALLOC_FL_KEEP_SIZE (nothing to reserve: staging space is taken when
// written). Punching holes and the other modes are EOPNOTSUPP.
func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	const keepSize = 1
	if !h.writable {
		return syscall.EBADF
	}
	if mode == keepSize {
		return 0
	}
	if mode != 0 {
		return syscall.EOPNOTSUPP
	}
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.st
	if err := n.dataLocked(ctx, st, -1); err != nil {
		return toErrno(err)
	}
	if end := int64(off + size); end > st.data.size {
		if err := st.data.Truncate(end); err != nil {
			return toErrno(err)
		}
		st.dirty = true
		n.attr.size = end
	}
	return 0
}
