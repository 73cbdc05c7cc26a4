package storetest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/zeebo/blake3"
)

// Run runs the whole contract suite with DefaultOptions. open returns a
// fresh, empty store for one subtest and registers the store's Close (and
// the shutdown of anything behind it, such as a server) with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) storage.ObjectStore) {
	RunWithOptions(t, DefaultOptions(), open)
}

// RunWithOptions runs the whole contract suite; every subtest gets its own
// store from open.
func RunWithOptions(t *testing.T, o Options, open func(t *testing.T) storage.ObjectStore) {
	d := DefaultOptions()
	if o.MinPartSize <= 0 {
		o.MinPartSize = d.MinPartSize
	}
	if o.MaxPartSize <= 0 {
		o.MaxPartSize = d.MaxPartSize
	}
	if o.MaxParts <= 0 {
		o.MaxParts = d.MaxParts
	}
	s := &suite{o: o}
	tests := []struct {
		name string
		fn   func(t *testing.T, st storage.ObjectStore)
	}{
		{"BucketCreateGet", s.testBucketCreateGet},
		{"BucketNameTaken", s.testBucketNameTaken},
		{"BucketUnknown", s.testBucketUnknown},
		{"BucketUpdate", s.testBucketUpdate},
		{"BucketDelete", s.testBucketDelete},
		{"BucketLocked", s.testBucketLocked},
		{"Quota", s.testQuota},
		{"MaxFileSize", s.testMaxFileSize},
		{"SizeAccounting", s.testSizeAccounting},

		{"PutGetStat", s.testPutGetStat},
		{"PutEmpty", s.testPutEmpty},
		{"PutUnknownSize", s.testPutUnknownSize},
		{"PutShortBody", s.testPutShortBody},
		{"InvalidKeys", s.testInvalidKeys},
		{"ValidKeys", s.testValidKeys},
		{"IfMatch", s.testIfMatch},
		{"Mimetype", s.testMimetype},
		{"Dedup", s.testDedup},
		{"ConcurrentPuts", s.testConcurrentPuts},

		{"Overwrite", s.testOverwrite},
		{"DeleteMarker", s.testDeleteMarker},
		{"RemoveVersion", s.testRemoveVersion},
		{"Restore", s.testRestore},
		{"Copy", s.testCopy},
		{"SetAttrs", s.testSetAttrs},
		{"UnknownVersion", s.testUnknownVersion},

		{"ListHeads", s.testListHeads},
		{"ListDelimiter", s.testListDelimiter},
		{"ListPaging", s.testListPaging},
		{"ListVersions", s.testListVersions},
		{"ListAt", s.testListAt},

		{"MultipartFlow", s.testMultipartFlow},
		{"MultipartExactMultiple", s.testMultipartExactMultiple},
		{"MultipartInitErrors", s.testMultipartInitErrors},
		{"MultipartPartErrors", s.testMultipartPartErrors},
		{"MultipartAbort", s.testMultipartAbort},
		{"MultipartConcurrentParts", s.testMultipartConcurrentParts},

		{"Snapshot", s.testSnapshot},
		{"Move", s.testMove},
		{"Events", s.testEvents},
		{"OpenBlob", s.testOpenBlob},
	}
	for _, tc := range tests {
		if !strings.HasPrefix(tc.name, o.Only) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

type suite struct {
	o Options
}

// ---- helpers shared by the test files ----

// content returns n deterministic pseudo-random bytes; equal seeds give
// equal bytes (and so exercise dedup), different seeds different bytes.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func md5Of(b []byte) string {
	s := md5.Sum(b)
	return "md5:" + hex.EncodeToString(s[:])
}

func blake3Of(b []byte) string {
	s := blake3.Sum256(b)
	return "blake3:" + hex.EncodeToString(s[:])
}

func newBucket(t *testing.T, st storage.ObjectStore, o storage.BucketOptions) *storage.Bucket {
	t.Helper()
	b, err := st.CreateBucket(t.Context(), o)
	if err != nil {
		t.Fatalf("CreateBucket(%+v): %v", o, err)
	}
	if b.ID == "" {
		t.Fatalf("CreateBucket returned a bucket without id: %+v", b)
	}
	return b
}

func put(t *testing.T, st storage.ObjectStore, bucket, key string, data []byte) *storage.ObjectVersion {
	t.Helper()
	return putOpts(t, st, bucket, key, data, storage.PutOptions{Size: int64(len(data))})
}

func putOpts(t *testing.T, st storage.ObjectStore, bucket, key string, data []byte, o storage.PutOptions) *storage.ObjectVersion {
	t.Helper()
	v, err := st.Put(t.Context(), bucket, key, bytes.NewReader(data), o)
	if err != nil {
		t.Fatalf("Put(%s, %q, %d bytes): %v", bucket, key, len(data), err)
	}
	checkVersion(t, v, key, data)
	return v
}

// checkVersion asserts that v is a file version of key holding data.
func checkVersion(t *testing.T, v *storage.ObjectVersion, key string, data []byte) {
	t.Helper()
	if v == nil {
		t.Fatalf("nil version for %q", key)
	}
	if v.VersionID == "" || v.Key != key || v.File == nil {
		t.Fatalf("version %+v: want a file version of %q with an id", v, key)
	}
	if v.File.ID == "" || v.File.Size != int64(len(data)) {
		t.Fatalf("version of %q: file %+v, want size %d and an id", key, v.File, len(data))
	}
	if got, want := v.File.MD5, md5Of(data); got != want {
		t.Errorf("version of %q: MD5 %s, want %s", key, got, want)
	}
	if got, want := v.File.BLAKE3, blake3Of(data); got != want {
		t.Errorf("version of %q: BLAKE3 %s, want %s", key, got, want)
	}
}

// read returns the whole content of a version (versionID "" = head).
func read(t *testing.T, st storage.ObjectStore, bucket, key, versionID string) []byte {
	t.Helper()
	return readRange(t, st, bucket, key, versionID, 0, -1)
}

func readRange(t *testing.T, st storage.ObjectStore, bucket, key, versionID string, off, n int64) []byte {
	t.Helper()
	rc, v, err := st.Get(t.Context(), bucket, key, versionID, off, n)
	if err != nil {
		t.Fatalf("Get(%s, %q, %q, %d, %d): %v", bucket, key, versionID, off, n, err)
	}
	defer rc.Close()
	if v == nil || v.Key != key || (versionID != "" && v.VersionID != versionID) {
		t.Fatalf("Get(%q, %q) returned version %+v", key, versionID, v)
	}
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b
}

func wantContent(t *testing.T, st storage.ObjectStore, bucket, key, versionID string, want []byte) {
	t.Helper()
	got := read(t, st, bucket, key, versionID)
	if !bytes.Equal(got, want) {
		t.Fatalf("content of %q@%q: %d bytes %.20q, want %d bytes %.20q", key, versionID, len(got), got, len(want), want)
	}
}

// wantErr fails unless err matches one of the sentinels.
func wantErr(t *testing.T, what string, err error, sentinels ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want %v", what, sentinels)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: error %q, want one matching %v", what, err, sentinels)
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func bucketSize(t *testing.T, st storage.ObjectStore, bucket string) int64 {
	t.Helper()
	b, err := st.GetBucket(t.Context(), bucket)
	if err != nil {
		t.Fatalf("GetBucket(%s): %v", bucket, err)
	}
	return b.Size
}

func wantSize(t *testing.T, st storage.ObjectStore, bucket string, want int64) {
	t.Helper()
	if got := bucketSize(t, st, bucket); got != want {
		t.Fatalf("bucket size %d, want %d", got, want)
	}
}

func versions(t *testing.T, st storage.ObjectStore, bucket, key string) []*storage.ObjectVersion {
	t.Helper()
	vs, err := st.Versions(t.Context(), bucket, key)
	if err != nil {
		t.Fatalf("Versions(%q): %v", key, err)
	}
	return vs
}

// wantVersions asserts the version ids of key, newest first, and that only
// the first is flagged head.
func wantVersions(t *testing.T, st storage.ObjectStore, bucket, key string, ids ...string) []*storage.ObjectVersion {
	t.Helper()
	vs := versions(t, st, bucket, key)
	got := make([]string, len(vs))
	for i, v := range vs {
		got[i] = v.VersionID
		if v.IsHead != (i == 0) {
			t.Errorf("Versions(%q)[%d] %s: IsHead=%v", key, i, v.VersionID, v.IsHead)
		}
		if v.Key != key {
			t.Errorf("Versions(%q)[%d] has key %q", key, i, v.Key)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("Versions(%q) = %v, want %v (newest first)", key, got, ids)
	}
	return vs
}

// listAll pages through a listing with the given page size.
func listAll(t *testing.T, st storage.ObjectStore, bucket string, o storage.ListOptions) (keys, prefixes []string, objs []*storage.ObjectVersion) {
	t.Helper()
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("listing did not end after 10000 pages")
		}
		r, err := st.List(t.Context(), bucket, o)
		if err != nil {
			t.Fatalf("List(%+v): %v", o, err)
		}
		if o.Limit > 0 && len(r.Objects)+len(r.Prefixes) > o.Limit {
			t.Fatalf("List page of %d objects + %d prefixes, limit %d", len(r.Objects), len(r.Prefixes), o.Limit)
		}
		for _, v := range r.Objects {
			keys = append(keys, v.Key)
			objs = append(objs, v)
		}
		prefixes = append(prefixes, r.Prefixes...)
		if r.Next == "" {
			return keys, prefixes, objs
		}
		if r.Next == o.After {
			t.Fatalf("List cursor did not advance from %q", o.After)
		}
		o.After = r.Next
	}
}

func keyOf(seed uint64) string { return fmt.Sprintf("obj-%04d", seed) }
