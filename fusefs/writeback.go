package fusefs

import "context"

// WriteBack uploads closed files of a mount of a remote store in the background.
type WriteBack interface {
	// Stage takes ownership of the file at path as the next content of bucket/key (with attrs) and returns once it is journaled locally.
	Stage(ctx context.Context, bucket, key, path string, attrs map[string]string) error
	// Sync waits until everything staged for bucket/key is uploaded, returning the upload's error.
	Sync(ctx context.Context, bucket, key string) error
	// Staged returns the staged, not yet uploaded file for bucket/key, so reads see it.
	Staged(bucket, key string) (path string, ok bool)
}
