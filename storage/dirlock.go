package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockDir takes an exclusive lock on dir/LOCK so a second process opening
// the same data directory gets a clear ErrUnavailable (badger would refuse
// too, but with an error that cannot be matched).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("open store %s: %w: the data directory is in use by another process", dir, ErrUnavailable)
		}
		return nil, fmt.Errorf("open store %s: lock: %w", dir, err)
	}
	return f, nil
}
