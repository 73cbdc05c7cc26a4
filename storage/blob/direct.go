package blob

import (
	"context"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SizedCreator is an optional ability of a Backend: start a blob whose size
// is known, which lets the backend pick how to write it.
type SizedCreator interface {
	CreateSized(ctx context.Context, size int64) (Writer, error)
}

var _ SizedCreator = (*Local)(nil)

// directMin is the size from which Local writes a blob with O_DIRECT: the
// bytes go from the caller's buffer to the disk without a copy into the
// page cache (a large share of a big put's CPU) and without flooding the
// cache with dirty pages; Commit's fsync then has little left to wait for.
const directMin = 64 << 20

// directAlign is the alignment O_DIRECT needs of buffers, lengths and
// offsets (the logical block size is at most this).
const directAlign = 4096

// CreateSized starts a blob of the given size; large ones are written
// with O_DIRECT where the filesystem allows it.
func (l *Local) CreateSized(ctx context.Context, size int64) (Writer, error) {
	w, err := l.Create(ctx)
	if err != nil || size < directMin {
		return w, err
	}
	lw := w.(*localWriter)
	fd := int(lw.f.Fd())
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags|unix.O_DIRECT); err == nil {
			lw.direct = true
		}
	}
	return lw, nil
}

// writeDirect writes p with O_DIRECT when it is aligned; the first write
// that is not (the tail of the blob, normally) turns O_DIRECT off for the
// rest, so the bytes are always written, directly or through the cache.
func (w *localWriter) writeDirect(p []byte) (int, error) {
	aligned := len(p)%directAlign == 0 && uintptr(unsafe.Pointer(unsafe.SliceData(p)))%directAlign == 0 && w.written%directAlign == 0
	if !aligned {
		if err := w.leaveDirect(); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(p)
	if errors.Is(err, unix.EINVAL) && n == 0 && w.direct {
		// The filesystem took the flag but refuses direct writes.
		if err := w.leaveDirect(); err != nil {
			return 0, err
		}
		n, err = w.f.Write(p)
	}
	w.written += int64(n)
	if err != nil {
		return n, wrap("blob: write", err)
	}
	return n, nil
}

func (w *localWriter) leaveDirect() error {
	fd := uintptr(w.f.Fd())
	flags, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(fd, unix.F_SETFL, flags&^unix.O_DIRECT)
	}
	if err != nil {
		return wrap("blob: leave O_DIRECT", err)
	}
	w.direct = false
	return nil
}
