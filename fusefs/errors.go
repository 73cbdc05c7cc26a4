package fusefs

import "errors"

// Sentinel errors of the mount itself (store errors are storage's).
var (
	// ErrFUSEUnavailable: /dev/fuse is missing or cannot be opened, or no
	// fusermount helper is installed.
	ErrFUSEUnavailable = errors.New("FUSE is not available on this system")
	// ErrMountBusy: the mount point is already a live mount.
	ErrMountBusy = errors.New("mount point is busy")
	// ErrNotDirectory: the mount point is not a directory.
	ErrNotDirectory = errors.New("mount point is not a directory")
)
