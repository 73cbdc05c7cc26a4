package storage

import "errors"

// Sentinel errors of the object store. Every ObjectStore implementation (the
// local Store and the HTTP client) returns errors that match these with
// errors.Is, so callers (the mount's errno mapping, the HTTP server's status
// mapping, the sync engine's retry policy) decide on kind, never on text.
var (
	// ErrNotFound: no such bucket, key, version, upload or file. A key whose
	// head is a delete marker is not found, unless a version is asked for.
	ErrNotFound = errors.New("not found")
	// ErrExists: a bucket name already taken.
	ErrExists = errors.New("already exists")
	// ErrInvalidKey: a key that breaks the key rules (see ValidateKey).
	ErrInvalidKey = errors.New("invalid key")
	// ErrInvalid: any other malformed argument (ids, sizes, part numbers).
	ErrInvalid = errors.New("invalid argument")
	// ErrLocked: the bucket is locked; no modification allowed.
	ErrLocked = errors.New("bucket is locked")
	// ErrQuotaExceeded: the write would take the bucket over its quota.
	ErrQuotaExceeded = errors.New("bucket quota exceeded")
	// ErrTooLarge: the file is over the bucket's maximum file size.
	ErrTooLarge = errors.New("maximum file size exceeded")
	// ErrConflict: a precondition failed (If-Match on the head version, a
	// completed upload, an incomplete set of parts).
	ErrConflict = errors.New("conflict")
	// ErrNotEmpty: a bucket or directory that still has objects.
	ErrNotEmpty = errors.New("not empty")
	// ErrShortBody: the content ended before the announced size.
	ErrShortBody = errors.New("content shorter than announced size")
	// ErrChecksum: stored bytes no longer match their recorded checksum.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNoSpace: the blob storage is full.
	ErrNoSpace = errors.New("no space left on storage")
	// ErrPermission: the caller's token does not allow the operation.
	ErrPermission = errors.New("permission denied")
	// ErrUnavailable: the store cannot be reached right now; retrying may help.
	ErrUnavailable = errors.New("store unavailable")
)
