package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage/blob"
)

func blobCount(t *testing.T, s *Store) int {
	t.Helper()
	be, err := s.backend(s.defaultLocationID(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := be.List(context.Background(), func(string) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func (s *Store) defaultLocationID(t *testing.T) string {
	locs, err := s.Locations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range locs {
		if l.Default {
			return l.ID
		}
	}
	t.Fatal("no default location")
	return ""
}

// trueSize is the size a bucket must report: every version with a file
// plus the reservations of incomplete uploads.
func trueSize(t *testing.T, s *Store, bucket string) int64 {
	t.Helper()
	ctx := context.Background()
	b, err := s.GetBucket(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	s.view(func(tx metadata.Tx) error {
		return metadata.BucketVersions(tx, b.ID, "", func(v *metadata.VersionRecord) (bool, error) {
			total += v.Size()
			return true, nil
		})
	})
	mps, _ := s.ListMultiparts(ctx, bucket)
	for _, m := range mps {
		if !m.Completed {
			total += m.Size
		}
	}
	return total
}

func TestSizeAccountingAndDedup(t *testing.T) {
	forBoth(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.CreateBucket(ctx, BucketOptions{Name: "b"})
		s.CreateBucket(ctx, BucketOptions{Name: "c"})
		assert := func(step string) {
			t.Helper()
			for _, b := range []string{"b", "c"} {
				if got, want := bucketSize(t, s, b), trueSize(t, s, b); got != want {
					t.Fatalf("%s: bucket %s size %d, true total %d", step, b, got, want)
				}
			}
		}
		v1 := put(t, s, "b", "x", "same content")
		v2 := put(t, s, "b", "y", "same content")
		if v1.File.ID != v2.File.ID {
			t.Fatalf("identical content not deduplicated: %s vs %s", v1.File.ID, v2.File.ID)
		}
		if n := blobCount(t, s); n != 1 {
			t.Fatalf("%d blobs for one content", n)
		}
		assert("dedup")
		put(t, s, "b", "x", "other")
		s.Delete(ctx, "b", "x", DeleteOptions{})
		assert("delete marker")
		vs, _ := s.Versions(ctx, "b", "x")
		for _, v := range vs {
			if err := s.RemoveVersion(ctx, "b", "x", v.VersionID); err != nil {
				t.Fatal(err)
			}
			assert("remove " + v.VersionID)
		}
		// The shared blob is still used by y; "other" is freed.
		if n := blobCount(t, s); n != 1 {
			t.Fatalf("%d blobs after removing x, want 1", n)
		}
		if _, err := s.Copy(ctx, CopySource{Bucket: "b", Key: "y"}, "c", "y2", PutOptions{}); err != nil {
			t.Fatal(err)
		}
		snap, err := s.Snapshot(ctx, "b", BucketOptions{Name: "snap"})
		if err != nil {
			t.Fatal(err)
		}
		if snap.Size != int64(len("same content")) || trueSize(t, s, "snap") != snap.Size {
			t.Fatalf("snapshot size %d", snap.Size)
		}
		assert("copy")
		if err := s.RemoveVersion(ctx, "b", "y", v2.VersionID); err != nil {
			t.Fatal(err)
		}
		if n := blobCount(t, s); n != 1 {
			t.Fatalf("blob freed while c/y2 and the snapshot still use it (%d blobs)", n)
		}
		if err := s.RemoveBucket(ctx, "snap"); err != nil {
			t.Fatal(err)
		}
		vs, _ = s.Versions(ctx, "c", "y2")
		if err := s.RemoveVersion(ctx, "c", "y2", vs[0].VersionID); err != nil {
			t.Fatal(err)
		}
		if n := blobCount(t, s); n != 0 {
			t.Fatalf("%d blobs left after every version was removed", n)
		}
		assert("all removed")
		if bucketSize(t, s, "b") != 0 || bucketSize(t, s, "c") != 0 {
			t.Fatalf("sizes %d %d, want 0", bucketSize(t, s, "b"), bucketSize(t, s, "c"))
		}
	})
}

func TestMultipartArithmetic(t *testing.T) {
	forBoth(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.CreateBucket(ctx, BucketOptions{Name: "b"})
		// MinPartSize is 4 in these tests.
		for _, c := range []struct{ size, part int64 }{{4, 4}, {10, 3}, {100, 4 * 1 << 40}, {41, 4}} {
			s.opts.MaxParts = 10
			_, err := s.InitMultipart(ctx, "b", "k", c.size, c.part, PutOptions{})
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("init size %d part %d: %v, want ErrInvalid", c.size, c.part, err)
			}
		}
		s.opts.MaxParts = 10000
		// An exact multiple: the last part has full size.
		data := []byte("0123456789ab")
		m, err := s.InitMultipart(ctx, "b", "f.bin", 12, 4, PutOptions{Tags: map[string]string{"t": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		if m.Parts() != 3 || bucketSize(t, s, "b") != 12 {
			t.Fatalf("parts %d, reservation %d", m.Parts(), bucketSize(t, s, "b"))
		}
		if _, err := s.UploadPart(ctx, m.UploadID, 3, bytes.NewReader(data[:4]), 4); !errors.Is(err, ErrInvalid) {
			t.Fatalf("part 3: %v", err)
		}
		if _, err := s.UploadPart(ctx, m.UploadID, 0, bytes.NewReader(data[:3]), 3); !errors.Is(err, ErrInvalid) {
			t.Fatalf("short declared part: %v", err)
		}
		if _, err := s.UploadPart(ctx, m.UploadID, 0, bytes.NewReader(data[:3]), 4); !errors.Is(err, ErrShortBody) {
			t.Fatalf("short body: %v", err)
		}
		if _, err := s.UploadPart(ctx, m.UploadID, 0, bytes.NewReader(data[:6]), 4); !errors.Is(err, ErrInvalid) {
			t.Fatalf("long body: %v", err)
		}
		for _, n := range []int{2, 0} {
			p, err := s.UploadPart(ctx, m.UploadID, n, bytes.NewReader(data[n*4:n*4+4]), 4)
			if err != nil || p.Start != int64(n*4) || p.End != int64(n*4+4) {
				t.Fatalf("part %d: %+v %v", n, p, err)
			}
		}
		if _, err := s.CompleteMultipart(ctx, m.UploadID); !errors.Is(err, ErrConflict) {
			t.Fatalf("complete with a missing part: %v", err)
		}
		s.UploadPart(ctx, m.UploadID, 1, bytes.NewReader([]byte("XXXX")), 4)
		// Re-uploading a part replaces it.
		if _, err := s.UploadPart(ctx, m.UploadID, 1, bytes.NewReader(data[4:8]), 4); err != nil {
			t.Fatal(err)
		}
		parts, _ := s.ListParts(ctx, m.UploadID)
		if len(parts) != 3 {
			t.Fatalf("%d parts listed", len(parts))
		}
		// Part uploads and complete are allowed on a locked bucket (spec §7.5).
		locked := true
		s.UpdateBucket(ctx, "b", BucketUpdate{Locked: &locked})
		v, err := s.CompleteMultipart(ctx, m.UploadID)
		if err != nil {
			t.Fatal(err)
		}
		unlocked := false
		s.UpdateBucket(ctx, "b", BucketUpdate{Locked: &unlocked})
		if got := read(t, s, "b", "f.bin", ""); got != string(data) {
			t.Fatalf("assembled %q", got)
		}
		if v.Tags["t"] != "1" || v.File.MD5 != "md5:"+fmt.Sprintf("%x", md5sum(data)) {
			t.Fatalf("version %+v %+v", v, v.File)
		}
		if _, err := s.CompleteMultipart(ctx, m.UploadID); !errors.Is(err, ErrConflict) {
			t.Fatalf("second complete: %v", err)
		}
		if _, err := s.UploadPart(ctx, m.UploadID, 0, bytes.NewReader(data[:4]), 4); !errors.Is(err, ErrConflict) {
			t.Fatalf("part after complete: %v", err)
		}
		if err := s.AbortMultipart(ctx, m.UploadID); !errors.Is(err, ErrConflict) {
			t.Fatalf("abort after complete: %v", err)
		}
		mm, _ := s.GetMultipart(ctx, m.UploadID)
		if !mm.Completed || mm.VersionID != v.VersionID {
			t.Fatalf("upload after complete: %+v", mm)
		}
		if got, want := bucketSize(t, s, "b"), trueSize(t, s, "b"); got != 12 || want != 12 {
			t.Fatalf("size after complete %d (true %d), want 12", got, want)
		}
		// Abort gives the reservation back and frees the blob.
		before := blobCount(t, s)
		m2, err := s.InitMultipart(ctx, "b", "g", 9, 4, PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if blobCount(t, s) != before+1 || bucketSize(t, s, "b") != 21 {
			t.Fatalf("after init: %d blobs, size %d", blobCount(t, s), bucketSize(t, s, "b"))
		}
		if err := s.AbortMultipart(ctx, m2.UploadID); err != nil {
			t.Fatal(err)
		}
		if blobCount(t, s) != before || bucketSize(t, s, "b") != 12 {
			t.Fatalf("after abort: %d blobs, size %d", blobCount(t, s), bucketSize(t, s, "b"))
		}
		if _, err := s.GetMultipart(ctx, m2.UploadID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("aborted upload: %v", err)
		}
		// Expiry removes incomplete and completed uploads alike.
		m3, _ := s.InitMultipart(ctx, "b", "h", 9, 4, PutOptions{})
		if n, err := s.ExpireMultiparts(ctx, time.Hour); err != nil || n != 0 {
			t.Fatalf("expire young: %d %v", n, err)
		}
		if n, err := s.ExpireMultiparts(ctx, time.Nanosecond); err != nil || n != 2 {
			t.Fatalf("expire: %d %v", n, err)
		}
		if _, err := s.GetMultipart(ctx, m3.UploadID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired upload: %v", err)
		}
		if bucketSize(t, s, "b") != 12 || read(t, s, "b", "f.bin", "") != string(data) {
			t.Fatalf("expiry touched the completed object (size %d)", bucketSize(t, s, "b"))
		}
	})
}

func TestMultipartQuota(t *testing.T) {
	s := openTest(t, false)
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b", QuotaSize: 20, MaxFileSize: 15})
	if _, err := s.InitMultipart(ctx, "b", "k", 16, 4, PutOptions{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over max file size: %v", err)
	}
	if _, err := s.InitMultipart(ctx, "b", "k", 12, 4, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	// The reservation counts: 8 bytes left.
	if _, err := s.Put(ctx, "b", "p", strings.NewReader("123456789"), PutOptions{Size: -1}); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("put past the reservation: %v", err)
	}
	put(t, s, "b", "p", "12345678")
}

func md5sum(b []byte) []byte {
	h := newHasher()
	h.Write(b)
	return h.md5.Sum(nil)
}

func TestGarbageCollection(t *testing.T) {
	s := openTest(t, false)
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	put(t, s, "b", "k", "kept")
	be, _ := s.backend(s.defaultLocationID(t))
	// An orphan blob (as left by a crash before the metadata commit) and a
	// stale temp file.
	w, _ := be.Create(ctx)
	w.Write([]byte("orphan"))
	if err := w.Commit(ctx, "0f000000-0000-4000-8000-000000000001"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.dir, "blobs", "tmp", "w-stale"), []byte("x"), 0o644)
	// A blob being written right now must survive.
	live, _ := be.Create(ctx)
	defer live.Abort()
	s.addPending("0f000000-0000-4000-8000-000000000002")
	w2, _ := be.Create(ctx)
	w2.Commit(ctx, "0f000000-0000-4000-8000-000000000002")
	n, err := s.CollectGarbage(ctx)
	if err != nil || n != 2 {
		t.Fatalf("collected %d, %v; want 2 (orphan + stale temp)", n, err)
	}
	if blobCount(t, s) != 2 {
		t.Fatalf("%d blobs left, want the live one and the pending one", blobCount(t, s))
	}
	if read(t, s, "b", "k", "") != "kept" {
		t.Fatal("referenced blob damaged")
	}
	if _, err := live.Write([]byte("still writing")); err != nil {
		t.Fatalf("live temp file removed: %v", err)
	}
}

func TestFixityAndCorruption(t *testing.T) {
	s := openTest(t, false)
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	v := put(t, s, "b", "k", "precious bytes")
	put(t, s, "b", "k2", "other bytes")
	checked, bad, err := s.FixityPass(ctx, 10)
	if err != nil || checked != 2 || bad != 0 {
		t.Fatalf("clean pass: %d %d %v", checked, bad, err)
	}
	// Damage the blob in place, same size.
	p, _ := s.backends[s.defaultLocationID(t)].(*blob.Local).Path(v.File.ID)
	os.WriteFile(p, []byte("precious BYTES"), 0o644)
	rc, _, err := s.Get(ctx, "b", "k", "", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("reading a damaged blob: %v, want ErrChecksum", err)
	}
	ok, err := s.CheckFixity(ctx, v.File.ID)
	if err != nil || ok {
		t.Fatalf("fixity of a damaged blob: %v %v", ok, err)
	}
	st, _ := s.Stat(ctx, "b", "k", "")
	var rec *metadata.FileRecord
	s.view(func(tx metadata.Tx) error { rec, err = metadata.GetFile(tx, st.File.ID); return err })
	if rec.LastCheck == nil || *rec.LastCheck || rec.LastCheckAt.IsZero() {
		t.Fatalf("last check not recorded: %+v", rec)
	}
	// Truncated: the size check fails at open.
	os.WriteFile(p, []byte("short"), 0o644)
	if _, _, err := s.Get(ctx, "b", "k", "", 0, -1); !errors.Is(err, ErrChecksum) {
		t.Fatalf("truncated blob: %v", err)
	}
	os.Remove(p)
	if _, err := s.CheckFixity(ctx, v.File.ID); err == nil {
		t.Fatal("fixity of a missing blob succeeded")
	}
	s.view(func(tx metadata.Tx) error { rec, err = metadata.GetFile(tx, st.File.ID); return err })
	if rec.LastCheck != nil {
		t.Fatalf("unreadable blob recorded as %v, want null", *rec.LastCheck)
	}
	if d, err := s.DamagedFiles(ctx); err != nil || len(d) != 1 || d[0].File.ID != v.File.ID || len(d[0].Versions) != 1 || d[0].Versions[0].Key != "k" {
		t.Fatalf("DamagedFiles = %+v, %v", d, err)
	}
	// k2 is now the least recently checked: a pass of one visits it.
	checked, bad, _ = s.FixityPass(ctx, 1)
	if checked != 1 || bad != 0 {
		t.Fatalf("pass of one: %d checked %d bad", checked, bad)
	}
	checked, bad, _ = s.FixityPass(ctx, 10)
	if checked != 2 || bad != 1 {
		t.Fatalf("pass after damage: %d checked %d bad", checked, bad)
	}
}

func TestReopenKeepsStateAndSequence(t *testing.T) {
	dir := t.TempDir()
	opts := DefaultOptions()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	v := put(t, s, "b", "k", "one")
	s.Ack("c", 2)
	s.Close()
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v2 := put(t, s, "b", "k", "two")
	evs, _ := s.Events(ctx, 0, 10, 0)
	if len(evs) != 3 || evs[2].Seq != 3 || evs[2].VersionID != v2.VersionID {
		t.Fatalf("events after reopen: %+v", evs)
	}
	vs, _ := s.Versions(ctx, "b", "k")
	if len(vs) != 2 || vs[1].VersionID != v.VersionID || !vs[0].Created.After(vs[1].Created) {
		t.Fatalf("versions after reopen: %+v", vs)
	}
	if c, _ := s.Cursor("c"); c != 2 {
		t.Fatalf("cursor = %d", c)
	}
	s.Ack("c", 1) // never backwards
	if c, _ := s.Cursor("c"); c != 2 {
		t.Fatalf("cursor moved back to %d", c)
	}
}

// TestConcurrentPuts: many writers, one bucket: every put lands, sizes
// add up and events get distinct consecutive sequence numbers.
func TestConcurrentPuts(t *testing.T) {
	s := openTest(t, false)
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				k := fmt.Sprintf("g%d/%d", g, i%5)
				if _, err := s.Put(ctx, "b", k, strings.NewReader(k+"-"+fmt.Sprint(i)), PutOptions{Size: -1}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got, want := bucketSize(t, s, "b"), trueSize(t, s, "b"); got != want {
		t.Fatalf("size %d, true %d", got, want)
	}
	evs, _ := s.Events(ctx, 0, 1000, 0)
	if len(evs) != 1+16*20 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	page, _ := s.List(ctx, "b", ListOptions{Versions: true})
	if len(page.Objects) != 320 {
		t.Fatalf("%d versions", len(page.Objects))
	}
}

func TestMove(t *testing.T) {
	forBoth(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		s.CreateBucket(ctx, BucketOptions{Name: "b"})
		put(t, s, "b", "d/a.txt", "A")
		put(t, s, "b", "d/sub/b", "B")
		put(t, s, "b", "x", "X")
		put(t, s, "b", "e/", "")
		if err := s.Move(ctx, "b", "d/", "e/"); err != nil {
			t.Fatal(err)
		}
		if read(t, s, "b", "e/a.txt", "") != "A" || read(t, s, "b", "e/sub/b", "") != "B" {
			t.Fatal("moved content")
		}
		if _, err := s.Stat(ctx, "b", "d/a.txt", ""); !errors.Is(err, ErrNotFound) {
			t.Fatalf("old name after move: %v", err)
		}
		if err := s.Move(ctx, "b", "x", "e/a.txt"); err != nil {
			t.Fatal(err)
		}
		if read(t, s, "b", "e/a.txt", "") != "X" {
			t.Fatal("overwrite by move")
		}
		put(t, s, "b", "f/z", "Z")
		if err := s.Move(ctx, "b", "f/", "e/"); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("move onto a non-empty dir: %v", err)
		}
		if err := s.Move(ctx, "b", "nope", "n2"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("move of a missing key: %v", err)
		}
		if err := s.Move(ctx, "b", "e/", "e/in/"); !errors.Is(err, ErrInvalid) {
			t.Fatalf("move into itself: %v", err)
		}
		if got, want := bucketSize(t, s, "b"), trueSize(t, s, "b"); got != want {
			t.Fatalf("size %d, true %d", got, want)
		}
	})
}

func TestListAtAndIfMatch(t *testing.T) {
	s := openTest(t, true)
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	v1 := put(t, s, "b", "k", "1")
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	if _, err := s.Put(ctx, "b", "k", strings.NewReader("2"), PutOptions{Size: 1, IfMatch: "null"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfMatch null on existing key: %v", err)
	}
	if _, err := s.Put(ctx, "b", "k", strings.NewReader("2"), PutOptions{Size: 1, IfMatch: "other"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("IfMatch mismatch: %v", err)
	}
	if _, err := s.Put(ctx, "b", "k", strings.NewReader("2"), PutOptions{Size: 1, IfMatch: v1.VersionID}); err != nil {
		t.Fatal(err)
	}
	s.Delete(ctx, "b", "k", DeleteOptions{})
	if _, err := s.Put(ctx, "b", "k", strings.NewReader("3"), PutOptions{Size: 1, IfMatch: "null"}); err != nil {
		t.Fatalf("IfMatch null after delete: %v", err)
	}
	page, err := s.List(ctx, "b", ListOptions{At: mid})
	if err != nil || len(page.Objects) != 1 || page.Objects[0].VersionID != v1.VersionID {
		t.Fatalf("list at: %+v %v", page, err)
	}
}

func TestGuessMimetype(t *testing.T) {
	for k, want := range map[string]string{
		"a.txt": "text/plain", "x/y.JSON": "application/json", "data.csv.gz": "application/gzip",
		"noext": "application/octet-stream", "a.unknownext": "application/octet-stream",
		"p.png": "image/png", "page.html": "text/html",
	} {
		if got := GuessMimetype(k); got != want {
			t.Errorf("GuessMimetype(%q) = %q, want %q", k, got, want)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"a", "a/b", "dir/", "/x", "a//b", "./a", "a/..", "\x00", "é/ü", strings.Repeat("x", 256)} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		err := ValidateKey(k)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v does not match ErrInvalidKey", err)
			}
			return
		}
		// An accepted key is safe to use as a relative path.
		if k == "" || k[0] == '/' || strings.IndexByte(k, 0) >= 0 {
			t.Fatalf("accepted %q", k)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(k, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted %q with segment %q", k, seg)
			}
		}
		if filepath.Clean("/"+k) != "/"+strings.TrimSuffix(k, "/") {
			t.Fatalf("accepted %q, which does not clean to itself", k)
		}
	})
}

func TestInlineFiles(t *testing.T) {
	for _, mem := range []bool{false, true} {
		s := openTestWith(t, mem, func(o *Options) { o.InlineSize = 8 })
		ctx := context.Background()
		s.CreateBucket(ctx, BucketOptions{Name: "b"})
		for _, c := range []struct {
			data   string
			size   int64
			inline bool
		}{
			{"", 0, true}, {"12345678", 8, true}, {"12345678", -1, true},
			{"123456789", 9, false}, {"123456789", -1, false}, {"123456789abcdef", -1, false},
		} {
			v, err := s.Put(ctx, "b", "k", strings.NewReader(c.data), PutOptions{Size: c.size})
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(v.File.URI, "inline:") != c.inline {
				t.Errorf("put of %d bytes (announced %d): uri %q", len(c.data), c.size, v.File.URI)
			}
			if got := read(t, s, "b", "k", v.VersionID); got != c.data {
				t.Errorf("read back %q, want %q", got, c.data)
			}
			r, err := s.OpenBlob(ctx, v)
			if err != nil || r.(interface{ Size() int64 }).Size() != int64(len(c.data)) {
				t.Fatalf("OpenBlob: %v", err)
			}
			r.Close()
		}
		// Short and long bodies fail on the inline path too.
		if _, err := s.Put(ctx, "b", "x", strings.NewReader("123"), PutOptions{Size: 5}); !errors.Is(err, ErrShortBody) {
			t.Fatalf("short inline: %v", err)
		}
		if _, err := s.Put(ctx, "b", "x", strings.NewReader("123456"), PutOptions{Size: 5}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("long inline: %v", err)
		}
		// Dedup, fixity and removal of inline files.
		v1 := put(t, s, "b", "d1", "dup")
		v2 := put(t, s, "b", "d2", "dup")
		if v1.File.ID != v2.File.ID {
			t.Fatal("inline content not deduplicated")
		}
		if ok, err := s.CheckFixity(ctx, v1.File.ID); !ok || err != nil {
			t.Fatalf("fixity of inline: %v %v", ok, err)
		}
		// A good full read first: its verification is remembered
		// (verified.go), which must not let the damaged bytes through.
		if rc, _, err := s.Get(ctx, "b", "d1", "", 0, -1); err != nil {
			t.Fatal(err)
		} else if b, err := io.ReadAll(rc); err != nil || string(b) != "dup" {
			t.Fatalf("read of inline data: %q %v", b, err)
		}
		s.c.do(func(tx metadata.Tx, c *txCtx) error { return metadata.PutFileData(tx, v1.File.ID, []byte("dUp")) })
		if ok, _ := s.CheckFixity(ctx, v1.File.ID); ok {
			t.Fatal("damaged inline data passed fixity")
		}
		rc, _, _ := s.Get(ctx, "b", "d1", "", 0, -1)
		if _, err := io.ReadAll(rc); !errors.Is(err, ErrChecksum) {
			t.Fatalf("read of damaged inline data: %v", err)
		}
		s.RemoveVersion(ctx, "b", "d1", v1.VersionID)
		s.RemoveVersion(ctx, "b", "d2", v2.VersionID)
		s.view(func(tx metadata.Tx) error {
			if _, err := metadata.GetFileData(tx, v1.File.ID); !metadata.IsNotFound(err) {
				t.Errorf("inline data survived its last version: %v", err)
			}
			return nil
		})
		if got, want := bucketSize(t, s, "b"), trueSize(t, s, "b"); got != want {
			t.Fatalf("size %d, true %d", got, want)
		}
	}
}

// TestBigDirectoryMoveAndSnapshot: a directory too big for one badger
// transaction still moves (in chunks) and snapshots completely.
func TestBigDirectoryMoveAndSnapshot(t *testing.T) {
	s := openTestWith(t, false, func(o *Options) {})
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	const n = 1200
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				k := fmt.Sprintf("big/dir/with/a/long/name/file-%05d.txt", i)
				if _, err := s.Put(ctx, "b", k, strings.NewReader(k), PutOptions{Size: int64(len(k)), Attrs: map[string]string{"mode": "33188"}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Move(ctx, "b", "big/", "moved/"); err != nil {
		t.Fatal(err)
	}
	count := func(prefix string) int {
		total, after := 0, ""
		for {
			page, err := s.List(ctx, "b", ListOptions{Prefix: prefix, After: after})
			if err != nil {
				t.Fatal(err)
			}
			total += len(page.Objects)
			if page.Next == "" {
				return total
			}
			after = page.Next
		}
	}
	if a, b := count("big/"), count("moved/"); a != 0 || b != n {
		t.Fatalf("after move: %d left, %d moved", a, b)
	}
	snap, err := s.Snapshot(ctx, "b", BucketOptions{Name: "snap"})
	if err != nil {
		t.Fatal(err)
	}
	page, _ := s.List(ctx, "snap", ListOptions{Limit: 2000})
	if len(page.Objects) != n || snap.Size != bucketSize(t, s, "snap") || snap.Size != trueSize(t, s, "snap") {
		t.Fatalf("snapshot has %d objects, size %d", len(page.Objects), snap.Size)
	}
	if got, want := bucketSize(t, s, "b"), trueSize(t, s, "b"); got != want {
		t.Fatalf("size %d, true %d", got, want)
	}
}

// TestFullDiskPut: a location on a full filesystem fails puts with
// ErrNoSpace and leaves nothing behind.
func TestFullDiskPut(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	root := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", root).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", root).Run() })
	s := openTest(t, false)
	ctx := context.Background()
	if _, err := s.CreateLocation(ctx, "small", root, false); err != nil {
		t.Fatal(err)
	}
	s.CreateBucket(ctx, BucketOptions{Name: "b", Location: "small"})
	big := bytes.Repeat([]byte("x"), 2<<20)
	if _, err := s.Put(ctx, "b", "k", bytes.NewReader(big), PutOptions{Size: -1}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("put on a full disk: %v", err)
	}
	if _, err := s.InitMultipart(ctx, "b", "m", 2<<20, 1<<20, PutOptions{}); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("multipart init on a full disk: %v", err)
	}
	if _, err := s.Stat(ctx, "b", "k", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed put visible: %v", err)
	}
	if bucketSize(t, s, "b") != 0 {
		t.Fatalf("size %d after failed writes", bucketSize(t, s, "b"))
	}
	var left []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Fatalf("files left on the full disk: %v", left)
	}
	// Space freed: writes work again.
	put(t, s, "b", "small", strings.Repeat("y", 100<<10))
}

// TestBatchWithFailures: ops failing inside a shared commit batch (If-Match
// races, quota) leave no trace and do not disturb the others of the batch.
func TestBatchWithFailures(t *testing.T) {
	for _, mem := range []bool{false, true} {
		s := openTest(t, mem)
		ctx := context.Background()
		s.CreateBucket(ctx, BucketOptions{Name: "b", QuotaSize: 1000})
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, conflicts, full := 0, 0, 0
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Everyone races to create "once"; and fills the quota with 40-byte files.
				_, err := s.Put(ctx, "b", "once", strings.NewReader(fmt.Sprint(g)), PutOptions{Size: -1, IfMatch: "null"})
				mu.Lock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, ErrConflict):
					conflicts++
				default:
					t.Error(err)
				}
				mu.Unlock()
				_, err = s.Put(ctx, "b", fmt.Sprintf("f%d", g), strings.NewReader(strings.Repeat("x", 39)+fmt.Sprint(g%10)), PutOptions{Size: -1})
				if errors.Is(err, ErrQuotaExceeded) {
					mu.Lock()
					full++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || conflicts != 31 {
			t.Fatalf("If-Match null race: %d wins, %d conflicts", wins, conflicts)
		}
		size := bucketSize(t, s, "b")
		if size != trueSize(t, s, "b") || size > 1000 || full == 0 {
			t.Fatalf("size %d (true %d), %d refused", size, trueSize(t, s, "b"), full)
		}
		evs, _ := s.Events(ctx, 0, 1000, 0)
		if want := 1 + 1 + (32 - full); len(evs) != want {
			t.Fatalf("%d events, want %d", len(evs), want)
		}
		for i, e := range evs {
			if e.Seq != uint64(i+1) {
				t.Fatalf("event %d has seq %d: gaps from aborted ops", i, e.Seq)
			}
		}
	}
}

// TestTrimEventsKeepsSequence: trimming everything still leaves the
// sequencer where it was after a reopen.
func TestTrimEventsKeepsSequence(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	for i := 0; i < 5; i++ {
		put(t, s, "b", fmt.Sprint(i), "x")
	}
	n, err := s.TrimEvents(ctx, 1000)
	if err != nil || n != 5 {
		t.Fatalf("trimmed %d, %v; want 5 of 6", n, err)
	}
	s.Close()
	s, err = Open(dir, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	put(t, s, "b", "next", "y")
	evs, _ := s.Events(ctx, 6, 10, 0)
	if len(evs) != 1 || evs[0].Seq != 7 || evs[0].Key != "next" {
		t.Fatalf("events after trim and reopen: %+v", evs)
	}
}
