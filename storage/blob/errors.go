package blob

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Sentinel errors of blob backends; the store maps them to its own.
var (
	// ErrNotFound: no blob with that id.
	ErrNotFound = errors.New("blob: not found")
	// ErrNoSpace: the storage under the backend is full.
	ErrNoSpace = errors.New("blob: no space left")
	// ErrInvalidID: an id the backend cannot store (ids are file instance UUIDs).
	ErrInvalidID = errors.New("blob: invalid id")
)

// wrap turns OS errors into the sentinels, keeping the original text.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%s: %w: %v", op, ErrNoSpace, err)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w: %v", op, ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}
