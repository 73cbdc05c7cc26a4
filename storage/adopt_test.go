package storage

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stagedFile writes data to a file in the store's directory (the same file
// system as its blobs, like a mount's staging directory).
func stagedFile(t *testing.T, s *Store, data []byte) string {
	t.Helper()
	dir := filepath.Join(s.Dir(), "staging-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "w-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return f.Name()
}

func TestAdopt(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, false)
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20)
	rand.Read(data)

	// Adopted: the file becomes the blob (gone from its path), content and
	// checksums as a Put would record them.
	p := stagedFile(t, s, data)
	v, err := s.Adopt(ctx, "b", "big", p, AdoptOptions{PutOptions: PutOptions{Attrs: map[string]string{"mode": "420"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staged file still there after adopt: %v", err)
	}
	if got := read(t, s, "b", "big", ""); got != string(data) {
		t.Fatal("adopted content differs")
	}
	ref := put(t, s, "b", "ref", string(data))
	if v.File.BLAKE3 != ref.File.BLAKE3 || v.File.MD5 != ref.File.MD5 || v.Size() != int64(len(data)) || v.Attrs["mode"] != "420" {
		t.Fatalf("adopted %+v, put %+v", v.File, ref.File)
	}
	if ref.File.ID != v.File.ID {
		t.Fatalf("put of the same content did not link the adopted file")
	}

	// Same content again with the checksum known: linked, file removed.
	p2 := stagedFile(t, s, data)
	v2, err := s.Adopt(ctx, "b", "again", p2, AdoptOptions{BLAKE3: v.File.BLAKE3, MD5: v.File.MD5})
	if err != nil {
		t.Fatal(err)
	}
	if v2.File.ID != v.File.ID {
		t.Fatal("identical content not deduplicated")
	}
	if _, err := os.Stat(p2); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("duplicate staged file left behind: %v", err)
	}

	// A refused commit leaves the file where it was.
	locked := true
	if _, err := s.UpdateBucket(ctx, "b", BucketUpdate{Locked: &locked}); err != nil {
		t.Fatal(err)
	}
	p3 := stagedFile(t, s, data[:1<<20])
	if _, err := s.Adopt(ctx, "b", "x", p3, AdoptOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("adopt into a locked bucket: %v", err)
	}
	if b, err := os.ReadFile(p3); err != nil || len(b) != 1<<20 {
		t.Fatalf("staged file after a refused adopt: %d bytes, %v", len(b), err)
	}
}

// TestAdoptInline: content small enough to live inline is copied into the
// index, and the file removed.
func TestAdoptInline(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, false, func(o *Options) {})
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	p := stagedFile(t, s, []byte("small"))
	v, err := s.Adopt(ctx, "b", "s", p, AdoptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v.File.URI, "inline:") {
		t.Fatalf("small adopted file not inline: %+v", v.File)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("staged file left behind")
	}
	if got := read(t, s, "b", "s", ""); got != "small" {
		t.Fatalf("got %q", got)
	}
}

// TestAdoptDeferredMD5: above InlineMD5Max the MD5 comes from the
// background checksummer, as for a Put, and is the right one.
func TestAdoptDeferredMD5(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, false, func(o *Options) { o.InlineSize = -1; o.InlineMD5Max = 1 << 20 })
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 2<<20)
	rand.Read(data)
	v, err := s.Adopt(ctx, "b", "big", stagedFile(t, s, data), AdoptOptions{PutOptions: PutOptions{NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureMD5(ctx, v); err != nil {
		t.Fatal(err)
	}
	want := md5.Sum(data)
	if v.File.MD5 != "md5:"+hex.EncodeToString(want[:]) {
		t.Fatalf("md5 %s, want %x", v.File.MD5, want)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, "b", "big", ""); got != string(data) {
		t.Fatal("content differs")
	}
}
