package fusefs

import "context"

// writeBackChecker is an optional ability of a WriteBack: refuse, before a
// file is staged, content its bucket can never accept, so close(2) reports
// EFBIG or EDQUOT at once instead of an upload failing in the background.
// The content then stays staged in the mount, as after any failed commit.
type writeBackChecker interface {
	Check(ctx context.Context, bucket, key string, size int64) error
}

// checkWriteBack runs the WriteBack's check when it has one.
func checkWriteBack(ctx context.Context, wb WriteBack, bucket, key string, size int64) error {
	if c, ok := wb.(writeBackChecker); ok {
		return c.Check(ctx, bucket, key, size)
	}
	return nil
}
