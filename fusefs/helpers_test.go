package fusefs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// requireFUSE skips a test that needs a real mount when this machine
// cannot mount, unless BUCKETFS_REQUIRE_FUSE=1 makes that a failure.
func requireFUSE(t testing.TB) {
	t.Helper()
	if err := CheckFUSE(); err != nil {
		if os.Getenv("BUCKETFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("FUSE required: %v", err)
		}
		t.Skipf("no FUSE here: %v", err)
	}
}

func newStore(t testing.TB) *storage.Store {
	t.Helper()
	s, err := storage.Open(t.TempDir(), storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mountStore mounts store in a fresh directory and unmounts at cleanup.
func mountStore(t testing.TB, store storage.ObjectStore, opts Options) string {
	t.Helper()
	requireFUSE(t)
	mnt := t.TempDir()
	if opts.StagingDir == "" {
		opts.StagingDir = t.TempDir()
	}
	srv, err := Mount(context.Background(), store, mnt, opts)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return mnt
}

// setup mounts a fresh store with one bucket "b" and returns the store and
// the bucket's directory.
func setup(t testing.TB) (*storage.Store, string) {
	t.Helper()
	return setupOpts(t, DefaultOptions())
}

func setupOpts(t testing.TB, opts Options) (*storage.Store, string) {
	t.Helper()
	requireFUSE(t)
	s := newStore(t)
	if _, err := s.CreateBucket(context.Background(), storage.BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	mnt := mountStore(t, s, opts)
	return s, filepath.Join(mnt, "b")
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
