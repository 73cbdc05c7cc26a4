package storage

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"
)

// TestNoSyncPut: NoSync writes are visible at once, and after Sync and a
// reopen they are all there, blob and inline files alike.
func TestNoSyncPut(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: a blob
	contents := map[string]string{"small": "tiny", "big": string(big), "gone": "x"}
	for k, c := range contents {
		if _, err := s.Put(ctx, "b", k, strings.NewReader(c), PutOptions{Size: int64(len(c)), NoSync: true}); err != nil {
			t.Fatal(err)
		}
		if got := read(t, s, "b", k, ""); got != c {
			t.Fatalf("%s right after a NoSync put: %d bytes, want %d", k, len(got), len(c))
		}
	}
	if _, err := s.Delete(ctx, "b", "gone", DeleteOptions{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	nctx := WithNoSync(ctx)
	if err := s.Move(nctx, "b", "small", "moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetAttrs(nctx, "b", "moved", "", map[string]string{"mode": "0600"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := read(t, s, "b", "big", ""); got != string(big) {
		t.Fatalf("big after reopen: %d bytes", len(got))
	}
	if got := read(t, s, "b", "moved", ""); got != "tiny" {
		t.Fatalf("moved after reopen: %q", got)
	}
	if v, err := s.Stat(ctx, "b", "moved", ""); err != nil || v.Attrs["mode"] != "0600" {
		t.Fatalf("attrs after reopen: %v %v", v, err)
	}
	for _, k := range []string{"gone", "small"} {
		if _, err := s.Stat(ctx, "b", k, ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s after reopen: %v, want ErrNotFound", k, err)
		}
	}
}

// TestNoSyncFreesAfterSync: a NoSync removal frees its blob only once the
// removal is durable (else a power loss could bring back a record whose
// blob is gone), and the background sync does that without being asked.
func TestNoSyncFreesAfterSync(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, false)
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	for _, explicit := range []bool{true, false} {
		v := put(t, s, "b", "k", strings.Repeat("z", 100<<10))
		path := v.File.URI
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("blob of a put: %v", err)
		}
		if err := s.RemoveVersion(WithNoSync(ctx), "b", "k", v.VersionID); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("blob freed before its NoSync removal was synced: %v", err)
		}
		if explicit {
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			_, err := os.Stat(path)
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("blob still there after the removal was synced (explicit Sync %v): %v", explicit, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
