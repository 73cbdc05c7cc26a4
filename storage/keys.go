package storage

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLength is the longest key accepted, in characters (Invenio's limit).
const MaxKeyLength = 255

// ValidateKey checks the key rules. They are stricter than Invenio's (a
// documented deviation): keys are valid UTF-8, at most 255 characters, contain
// no NUL, do not start with "/" and have no empty, "." or ".." segments, since
// such keys cannot be mounted or synced to a disk safely. A trailing "/" marks
// an empty directory.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalidKey)
	}
	if n := utf8.RuneCountInString(key); n > MaxKeyLength {
		return fmt.Errorf("%w: key has %d characters, at most %d allowed", ErrInvalidKey, n, MaxKeyLength)
	}
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("%w: key contains NUL", ErrInvalidKey)
	}
	if key[0] == '/' {
		return fmt.Errorf("%w: key starts with /", ErrInvalidKey)
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs {
		switch s {
		case "":
			return fmt.Errorf("%w: key %q has an empty path segment", ErrInvalidKey, key)
		case ".", "..":
			return fmt.Errorf("%w: key %q has a %q segment", ErrInvalidKey, key, s)
		}
	}
	return nil
}

// IsDirMarker reports whether key names an explicit empty directory.
func IsDirMarker(key string) bool { return strings.HasSuffix(key, "/") }
