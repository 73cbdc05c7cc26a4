package syncer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

func TestWriteBackStageSyncStaged(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.CreateBucket(ctx, storage.BucketOptions{Name: testBucket}); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	wb, err := NewWriteBack(st, state, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	src := filepath.Join(t.TempDir(), "f")
	big := randBytes(11, 5<<20)
	writeFile(t, src, big)
	if err := wb.Stage(ctx, testBucket, "dir/big", src, map[string]string{"mode": "420"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatal("Stage did not take ownership of the file")
	}
	small := filepath.Join(t.TempDir(), "s")
	writeFile(t, small, []byte("small"))
	if err := wb.Stage(ctx, testBucket, "s", small, nil); err != nil {
		t.Fatal(err)
	}
	if err := wb.Sync(ctx, testBucket, "dir/big"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, st, "dir/big", big)
	if err := wb.Sync(ctx, testBucket, "s"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, st, "s", []byte("small"))
	if _, ok := wb.Staged(testBucket, "s"); ok {
		t.Fatal("uploaded content still reported as staged")
	}
	if v, _ := st.Stat(ctx, testBucket, "dir/big", ""); v.Attrs["mode"] != "420" {
		t.Fatalf("attrs %v", v.Attrs)
	}
}

// Staged content survives a restart and is uploaded then; reads see it
// meanwhile.
func TestWriteBackResumesAfterRestart(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	st.CreateBucket(ctx, storage.BucketOptions{Name: testBucket})
	state := t.TempDir()
	down := &faultStore{ObjectStore: st, failPut: 1 << 30}
	opts := testOpts()
	opts.RetryMin, opts.RetryMax = time.Hour, time.Hour // never retry before the restart
	wb, err := NewWriteBack(down, state, opts)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, []byte("v1"))
	wb.Stage(ctx, testBucket, "k", src, nil)
	writeFile(t, src, []byte("v2"))
	wb.Stage(ctx, testBucket, "k", src, nil)
	p, ok := wb.Staged(testBucket, "k")
	if b, _ := os.ReadFile(p); !ok || string(b) != "v2" {
		t.Fatalf("Staged = %q, %v; want the newest content", b, ok)
	}
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	if err := wb.Sync(sctx, testBucket, "k"); err == nil {
		t.Fatal("Sync returned nil while the store is down")
	}
	cancel()
	wb.Close()

	wb, err = NewWriteBack(st, state, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	if err := wb.Sync(ctx, testBucket, "k"); err != nil {
		t.Fatal(err)
	}
	wantContent(t, st, "k", []byte("v2"))
	if n := liveVersions(t, st, "k"); n != 1 {
		t.Fatalf("%d versions; superseded stages must not be uploaded", n)
	}
	if wb.Pending() != 0 {
		t.Fatal("entries left")
	}
	ents, _ := os.ReadDir(filepath.Join(state, "staged"))
	if len(ents) != 0 {
		t.Fatalf("%d staged files left behind", len(ents))
	}
}

func TestWriteBackPermanentErrorReported(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	st.CreateBucket(ctx, storage.BucketOptions{Name: testBucket})
	fs := &faultStore{ObjectStore: st, failPut: 1, failErr: storage.ErrQuotaExceeded}
	wb, err := NewWriteBack(fs, t.TempDir(), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	src := filepath.Join(t.TempDir(), "f")
	writeFile(t, src, []byte("x"))
	wb.Stage(ctx, testBucket, "q", src, nil)
	if err := wb.Sync(ctx, testBucket, "q"); err == nil {
		t.Fatal("quota error not returned by Sync")
	}
	if _, ok := wb.Staged(testBucket, "q"); !ok {
		t.Fatal("content dropped after a permanent error")
	}
}

// Check refuses at once what the bucket can never accept, so the mount's
// close(2) reports it.
func TestWriteBackCheckLimits(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.CreateBucket(ctx, storage.BucketOptions{Name: testBucket, MaxFileSize: 1000, QuotaSize: 5000}); err != nil {
		t.Fatal(err)
	}
	wb, err := NewWriteBack(st, t.TempDir(), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer wb.Close()
	for _, tc := range []struct {
		key  string
		size int64
		want error
	}{
		{"ok", 1000, nil},
		{"big", 1001, storage.ErrTooLarge},
		{"", 1, storage.ErrInvalidKey},
	} {
		if err := wb.Check(ctx, testBucket, tc.key, tc.size); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Check(%q, %d) = %v, want %v", tc.key, tc.size, err, tc.want)
		}
	}
	// Unknown bucket: the check cannot tell, the upload decides.
	if err := wb.Check(ctx, "nope", "k", 1<<40); err != nil {
		t.Errorf("Check on an unknown bucket = %v", err)
	}
}
