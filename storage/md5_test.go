package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"
)

func md5Of(b []byte) string {
	s := md5.Sum(b)
	return "md5:" + hex.EncodeToString(s[:])
}

func md5Content(seed, n int) []byte {
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], uint64(seed)<<40|uint64(i))
	}
	return b
}

// waitMD5 polls until the head of key has an MD5 (the background
// checksummer's work) and returns it.
func waitMD5(t *testing.T, s *Store, key string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := s.Stat(context.Background(), "b", key, "")
		if err != nil {
			t.Fatal(err)
		}
		if v.File.MD5 != "" {
			return v.File.MD5
		}
		if time.Now().After(deadline) {
			t.Fatalf("MD5 of %s still pending", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDeferredMD5: puts over InlineMD5Max get BLAKE3 in the pass and their
// MD5 from the background checksummer, or at once from EnsureMD5; smaller
// puts, puts of unknown size below the limit and InlineMD5 puts have it in
// the result; fixity works while it is pending.
func TestDeferredMD5(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, false, func(o *Options) { o.InlineMD5Max = 1 << 20 })
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	s.stopMD5() // nothing runs in the background until asked
	big := md5Content(1, 3<<20)
	putOpts := func(size int64, inline bool) PutOptions { return PutOptions{Size: size, InlineMD5: inline} }
	for _, tc := range []struct {
		key     string
		data    []byte
		opts    PutOptions
		pending bool
	}{
		{"small", md5Content(2, 200<<10), putOpts(200<<10, false), false},
		{"small-unknown", md5Content(3, 200<<10), putOpts(-1, false), false},
		{"big", big, putOpts(int64(len(big)), false), true},
		{"big-unknown", md5Content(4, 3<<20), putOpts(-1, false), true},
		{"big-inline", md5Content(5, 3<<20), putOpts(3<<20, true), false},
	} {
		v, err := s.Put(ctx, "b", tc.key, bytes.NewReader(tc.data), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.File.MD5 == ""; got != tc.pending {
			t.Fatalf("%s: MD5 %q, want pending %v", tc.key, v.File.MD5, tc.pending)
		}
		if !tc.pending && v.File.MD5 != md5Of(tc.data) {
			t.Fatalf("%s: MD5 %s, want %s", tc.key, v.File.MD5, md5Of(tc.data))
		}
		if ok, err := s.CheckFixity(ctx, v.File.ID); err != nil || !ok {
			t.Fatalf("%s: fixity %v %v", tc.key, ok, err)
		}
	}
	v, err := s.Stat(ctx, "b", "big", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureMD5(ctx, v); err != nil || v.File.MD5 != md5Of(big) {
		t.Fatalf("EnsureMD5: %q %v, want %s", v.File.MD5, err, md5Of(big))
	}
	if got := waitMD5(t, s, "big"); got != md5Of(big) {
		t.Fatalf("recorded MD5 %s", got)
	}
	// A copy made while pending gets the MD5 too.
	if _, err := s.Copy(ctx, CopySource{Bucket: "b", Key: "big-unknown"}, "b", "copy", PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// The same content put with InlineMD5 completes the pending file.
	v2, err := s.Put(ctx, "b", "again", bytes.NewReader(md5Content(4, 3<<20)), putOpts(-1, true))
	if err != nil {
		t.Fatal(err)
	}
	if want := md5Of(md5Content(4, 3<<20)); v2.File.MD5 != want {
		t.Fatalf("dedup onto a pending file: MD5 %q, want %s", v2.File.MD5, want)
	}
	for _, k := range []string{"big-unknown", "copy"} {
		if got := waitMD5(t, s, k); got != v2.File.MD5 {
			t.Fatalf("%s: MD5 %s, want %s", k, got, v2.File.MD5)
		}
	}
}

// TestDeferredMD5Restart: an MD5 still pending when the store closes is
// computed after the next Open.
func TestDeferredMD5Restart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := DefaultOptions()
	opts.InlineMD5Max = 1 << 20
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	s.stopMD5()
	data := md5Content(9, 2<<20)
	v, err := s.Put(ctx, "b", "k", bytes.NewReader(data), PutOptions{Size: int64(len(data))})
	if err != nil || v.File.MD5 != "" {
		t.Fatalf("put: %v, MD5 %q (want pending)", err, v.File.MD5)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := waitMD5(t, s, "k"); got != md5Of(data) {
		t.Fatalf("MD5 after restart %s, want %s", got, md5Of(data))
	}
}
