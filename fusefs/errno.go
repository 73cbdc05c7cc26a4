package fusefs

import (
	"context"
	"errors"
	"syscall"

	"github.com/bucketfs/bucketfs/storage"
)

// toErrno is the one place where errors become errno values. go-fuse's own
// fs.ToErrno does not unwrap, so wrapped store errors would all turn into
// EIO (or worse, ENOSYS); here every sentinel is matched with errors.Is.
// The default is EIO; ENOSYS is never returned because the kernel takes it
// as "never call this operation again" for the whole mount.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, storage.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, storage.ErrNotEmpty):
		return syscall.ENOTEMPTY
	case errors.Is(err, storage.ErrLocked):
		return syscall.EROFS
	case errors.Is(err, storage.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, storage.ErrQuotaExceeded):
		return syscall.EDQUOT
	case errors.Is(err, storage.ErrTooLarge):
		return syscall.EFBIG
	case errors.Is(err, storage.ErrNoSpace):
		return syscall.ENOSPC
	case errors.Is(err, storage.ErrInvalidKey):
		// The mount checks lengths itself (ENAMETOOLONG) before it calls
		// the store; what is left is a name the key rules refuse.
		return syscall.EINVAL
	case errors.Is(err, storage.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, storage.ErrConflict):
		return syscall.EBUSY
	case errors.Is(err, context.DeadlineExceeded):
		return syscall.ETIMEDOUT
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		if en == syscall.ENOSYS || en == 0 {
			return syscall.EIO
		}
		return en
	}
	return syscall.EIO
}
