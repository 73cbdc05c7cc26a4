package storetest

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

func (s *suite) testPutGetStat(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{Name: "pgs"})
	data := content(7, 100_000)
	v := putOpts(t, st, "pgs", "dir/file.bin", data, storage.PutOptions{
		Size:     int64(len(data)),
		Mimetype: "application/x-test",
		Tags:     map[string]string{"k": "v"},
		Attrs:    map[string]string{"mode": "420", "mtime": "1700000000"},
	})
	if v.BucketID != b.ID || !v.IsHead || v.DeleteMarker() {
		t.Fatalf("Put returned %+v", v)
	}
	if v.Mimetype != "application/x-test" || v.Tags["k"] != "v" || v.Attrs["mode"] != "420" || v.Attrs["mtime"] != "1700000000" {
		t.Errorf("Put did not keep mimetype/tags/attrs: %+v", v)
	}
	if v.Created.IsZero() {
		t.Errorf("version without created time")
	}
	for _, ref := range []string{"", v.VersionID} {
		sv, err := st.Stat(ctx, b.ID, "dir/file.bin", ref)
		noErr(t, "Stat", err)
		if sv.VersionID != v.VersionID || sv.File == nil || sv.File.ID != v.File.ID || sv.File.MD5 != v.File.MD5 ||
			sv.File.BLAKE3 != v.File.BLAKE3 || !sv.IsHead || sv.Mimetype != v.Mimetype || sv.Attrs["mode"] != "420" || sv.Tags["k"] != "v" {
			t.Fatalf("Stat(%q) = %+v, want %+v", ref, sv, v)
		}
	}
	wantContent(t, st, "pgs", "dir/file.bin", "", data)
	wantContent(t, st, b.ID, "dir/file.bin", v.VersionID, data)
	for _, r := range []struct{ off, n int64 }{{0, 1}, {1, 10}, {65536, 4096}, {99_990, 10}, {99_990, -1}, {50_000, -1}, {0, 100_000}} {
		got := readRange(t, st, b.ID, "dir/file.bin", "", r.off, r.n)
		end := int64(len(data))
		if r.n >= 0 {
			end = r.off + r.n
		}
		if !bytes.Equal(got, data[r.off:end]) {
			t.Fatalf("Get range [%d,+%d): %d bytes, want %d", r.off, r.n, len(got), end-r.off)
		}
	}
	_, err := st.Stat(ctx, b.ID, "dir/other", "")
	wantErr(t, "Stat(unknown key)", err, storage.ErrNotFound)
	_, _, err = st.Get(ctx, b.ID, "dir/other", "", 0, -1)
	wantErr(t, "Get(unknown key)", err, storage.ErrNotFound)
	// "dir" is not a key, only a prefix.
	_, err = st.Stat(ctx, b.ID, "dir", "")
	wantErr(t, "Stat(prefix)", err, storage.ErrNotFound)
}

func (s *suite) testPutEmpty(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	put(t, st, b.ID, "empty", nil)
	wantContent(t, st, b.ID, "empty", "", []byte{})
	putOpts(t, st, b.ID, "empty2", nil, storage.PutOptions{Size: -1})
	// An explicit empty directory.
	put(t, st, b.ID, "emptydir/", nil)
	wantSize(t, st, b.ID, 0)
}

func (s *suite) testPutUnknownSize(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	data := content(9, 3<<20+17)
	// A reader without Len or Size, so the store cannot peek the length.
	v, err := st.Put(t.Context(), b.ID, "stream", io.MultiReader(bytes.NewReader(data[:1000]), bytes.NewReader(data[1000:])), storage.PutOptions{Size: -1})
	noErr(t, "Put(unknown size)", err)
	checkVersion(t, v, "stream", data)
	wantContent(t, st, b.ID, "stream", "", data)
	wantSize(t, st, b.ID, int64(len(data)))
}

func (s *suite) testPutShortBody(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	_, err := st.Put(ctx, b.ID, "short", bytes.NewReader(content(1, 50)), storage.PutOptions{Size: 100})
	wantErr(t, "Put with a short body", err, storage.ErrShortBody)
	_, err = st.Stat(ctx, b.ID, "short", "")
	wantErr(t, "Stat after a short put", err, storage.ErrNotFound)
	_, err = st.Put(ctx, b.ID, "long", bytes.NewReader(content(1, 20)), storage.PutOptions{Size: 10})
	if err == nil {
		t.Fatalf("Put of 20 bytes announced as 10 succeeded")
	}
	_, err = st.Stat(ctx, b.ID, "long", "")
	wantErr(t, "Stat after a long put", err, storage.ErrNotFound)
	// An existing head is untouched by a failed overwrite.
	v := put(t, st, b.ID, "keep", []byte("kept"))
	_, err = st.Put(ctx, b.ID, "keep", strings.NewReader("xy"), storage.PutOptions{Size: 3})
	wantErr(t, "overwrite with a short body", err, storage.ErrShortBody)
	wantVersions(t, st, b.ID, "keep", v.VersionID)
	wantContent(t, st, b.ID, "keep", "", []byte("kept"))
	wantSize(t, st, b.ID, 4)
}

// invalidKeys break storage.ValidateKey.
var invalidKeys = []string{
	"", "/abs", "a//b", "a/./b", "./a", "a/..", "../up", "..", ".", "nul\x00byte",
	strings.Repeat("k", storage.MaxKeyLength+1), strings.Repeat("é", storage.MaxKeyLength+1),
	"bad\xffutf8",
}

func (s *suite) testInvalidKeys(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	put(t, st, b.ID, "src", []byte("src"))
	n := 2*s.o.MinPartSize + 1
	for _, k := range invalidKeys {
		what := fmt.Sprintf("key %.40q", k)
		_, err := st.Put(ctx, b.ID, k, strings.NewReader("x"), storage.PutOptions{Size: 1})
		wantErr(t, "Put "+what, err, storage.ErrInvalidKey)
		_, err = st.InitMultipart(ctx, b.ID, k, n, s.o.MinPartSize, storage.PutOptions{Size: n})
		wantErr(t, "InitMultipart "+what, err, storage.ErrInvalidKey)
		_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "src"}, b.ID, k, storage.PutOptions{})
		wantErr(t, "Copy to "+what, err, storage.ErrInvalidKey)
		_, err = st.Stat(ctx, b.ID, k, "")
		wantErr(t, "Stat "+what, err, storage.ErrInvalidKey, storage.ErrNotFound)
	}
	wantSize(t, st, b.ID, 3)
	keys, prefixes, _ := listAll(t, st, b.ID, storage.ListOptions{})
	if len(keys) != 1 || len(prefixes) != 0 {
		t.Fatalf("after refused keys the bucket lists %v %v", keys, prefixes)
	}
}

func (s *suite) testValidKeys(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	keys := []string{
		"a", "dir/sub/file.txt", "with space", "ünïcödé/ファイル", ".hidden", "a..b", "x/.y",
		"percent%20and+plus&amp?q=1#frag", "dir/", strings.Repeat("k", storage.MaxKeyLength),
		strings.Repeat("é", storage.MaxKeyLength),
	}
	for i, k := range keys {
		if err := storage.ValidateKey(k); err != nil {
			t.Fatalf("test key %q is invalid: %v", k, err)
		}
		data := content(uint64(100+i), i*3)
		if storage.IsDirMarker(k) {
			data = nil
		}
		put(t, st, b.ID, k, data)
		wantContent(t, st, b.ID, k, "", data)
	}
	got, _, _ := listAll(t, st, b.ID, storage.ListOptions{})
	if len(got) != len(keys) {
		t.Fatalf("List returned %d keys %q, want %d", len(got), got, len(keys))
	}
}

func (s *suite) testIfMatch(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	pm := func(key, ifMatch, data string) (*storage.ObjectVersion, error) {
		return st.Put(ctx, b.ID, key, strings.NewReader(data), storage.PutOptions{Size: int64(len(data)), IfMatch: ifMatch})
	}
	v1, err := pm("k", "null", "one")
	noErr(t, "Put(IfMatch=null) of a new key", err)
	_, err = pm("k", "null", "two")
	wantErr(t, "Put(IfMatch=null) over a live head", err, storage.ErrConflict)
	v2, err := pm("k", v1.VersionID, "two")
	noErr(t, "Put(IfMatch=head)", err)
	_, err = pm("k", v1.VersionID, "three")
	wantErr(t, "Put(IfMatch=old version)", err, storage.ErrConflict)
	_, err = pm("k", "0d9e5cc4-7b30-4d43-9d7e-1a1f3b7c2a11", "three")
	wantErr(t, "Put(IfMatch=unknown)", err, storage.ErrConflict)
	wantVersions(t, st, b.ID, "k", v2.VersionID, v1.VersionID)

	_, err = st.Delete(ctx, b.ID, "k", storage.DeleteOptions{IfMatch: v1.VersionID})
	wantErr(t, "Delete(IfMatch=old version)", err, storage.ErrConflict)
	m, err := st.Delete(ctx, b.ID, "k", storage.DeleteOptions{IfMatch: v2.VersionID})
	noErr(t, "Delete(IfMatch=head)", err)
	// With a delete marker as head there is no live head: "null" matches.
	v3, err := pm("k", "null", "three")
	noErr(t, "Put(IfMatch=null) over a delete marker", err)
	wantVersions(t, st, b.ID, "k", v3.VersionID, m.VersionID, v2.VersionID, v1.VersionID)
	wantContent(t, st, b.ID, "k", "", []byte("three"))
	wantSize(t, st, b.ID, 3+3+5)
}

func (s *suite) testMimetype(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	for _, k := range []string{"a.txt", "b.json", "noext", "c.png"} {
		v := put(t, st, b.ID, k, []byte("x"))
		if v.Mimetype == "" {
			t.Errorf("%s: no mimetype guessed", k)
		}
	}
	v := putOpts(t, st, b.ID, "d.txt", []byte("x"), storage.PutOptions{Size: 1, Mimetype: "image/png"})
	if v.Mimetype != "image/png" {
		t.Errorf("explicit mimetype %q, want image/png", v.Mimetype)
	}
}

func (s *suite) testDedup(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	o := newBucket(t, st, storage.BucketOptions{})
	data := content(42, 70_000)
	v1 := put(t, st, b.ID, "one", data)
	v2 := put(t, st, b.ID, "two", data)
	v3 := putOpts(t, st, o.ID, "three", data, storage.PutOptions{Size: -1})
	v4 := put(t, st, b.ID, "one", data) // a new version of the same bytes
	for _, v := range []*storage.ObjectVersion{v2, v3, v4} {
		if v.File.ID != v1.File.ID {
			t.Errorf("identical content of %q has file %s, want %s (dedup)", v.Key, v.File.ID, v1.File.ID)
		}
	}
	d := put(t, st, b.ID, "other", content(43, 70_000))
	if d.File.ID == v1.File.ID {
		t.Fatalf("different content shares file %s", d.File.ID)
	}
	// Removing one user of a shared file leaves the others readable.
	noErr(t, "RemoveVersion", st.RemoveVersion(t.Context(), b.ID, "two", v2.VersionID))
	wantContent(t, st, b.ID, "one", "", data)
	wantContent(t, st, o.ID, "three", "", data)
	wantContent(t, st, b.ID, "one", v1.VersionID, data)
}

func (s *suite) testConcurrentPuts(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	const workers, each = 8, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				seed := uint64(w*100 + i)
				data := content(seed, 1000+int(seed))
				if _, err := st.Put(ctx, b.ID, "same", bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
					errs <- fmt.Errorf("Put(same): %w", err)
				}
				if _, err := st.Put(ctx, b.ID, keyOf(seed), bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
					errs <- fmt.Errorf("Put(%s): %w", keyOf(seed), err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent put failed: %v", err)
	}
	vs := versions(t, st, b.ID, "same")
	if len(vs) != workers*each {
		t.Fatalf("%d versions of the key written concurrently, want %d", len(vs), workers*each)
	}
	heads := 0
	var total int64
	for _, v := range vs {
		if v.IsHead {
			heads++
		}
		total += 2 * v.Size()
	}
	if heads != 1 || !vs[0].IsHead {
		t.Fatalf("%d heads, first is head: %v", heads, vs[0].IsHead)
	}
	head, err := st.Stat(ctx, b.ID, "same", "")
	noErr(t, "Stat", err)
	if head.VersionID != vs[0].VersionID {
		t.Fatalf("Stat head %s, Versions head %s", head.VersionID, vs[0].VersionID)
	}
	for w := range workers {
		for i := range each {
			seed := uint64(w*100 + i)
			wantContent(t, st, b.ID, keyOf(seed), "", content(seed, 1000+int(seed)))
		}
	}
	wantSize(t, st, b.ID, total)
}
