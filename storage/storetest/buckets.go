package storetest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

func (s *suite) testBucketCreateGet(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{Name: "photos", QuotaSize: 1 << 30, MaxFileSize: 1 << 20, Tags: map[string]string{"team": "a"}})
	if b.Name != "photos" || b.QuotaSize != 1<<30 || b.MaxFileSize != 1<<20 || b.Size != 0 || b.Locked || b.Deleted {
		t.Fatalf("new bucket %+v", b)
	}
	if b.StorageClass != "S" {
		t.Errorf("default storage class %q, want S", b.StorageClass)
	}
	if b.Tags["team"] != "a" {
		t.Errorf("tags %v, want team=a", b.Tags)
	}
	for _, ref := range []string{b.ID, "photos"} {
		g, err := st.GetBucket(ctx, ref)
		noErr(t, "GetBucket("+ref+")", err)
		if g.ID != b.ID || g.Name != "photos" || g.QuotaSize != b.QuotaSize || g.MaxFileSize != b.MaxFileSize {
			t.Fatalf("GetBucket(%s) = %+v, want %+v", ref, g, b)
		}
	}
	// Names are optional; unnamed buckets are addressed by id.
	u1 := newBucket(t, st, storage.BucketOptions{})
	u2 := newBucket(t, st, storage.BucketOptions{})
	if u1.ID == u2.ID || u1.ID == b.ID {
		t.Fatalf("bucket ids not unique: %s %s %s", b.ID, u1.ID, u2.ID)
	}
	put(t, st, u1.ID, "x", []byte("in u1"))
	wantContent(t, st, u1.ID, "x", "", []byte("in u1"))

	all, err := st.ListBuckets(ctx)
	noErr(t, "ListBuckets", err)
	seen := map[string]bool{}
	for _, x := range all {
		seen[x.ID] = true
	}
	for _, id := range []string{b.ID, u1.ID, u2.ID} {
		if !seen[id] {
			t.Errorf("ListBuckets misses %s", id)
		}
	}
}

func (s *suite) testBucketNameTaken(t *testing.T, st storage.ObjectStore) {
	newBucket(t, st, storage.BucketOptions{Name: "dup"})
	_, err := st.CreateBucket(t.Context(), storage.BucketOptions{Name: "dup"})
	wantErr(t, "CreateBucket with a taken name", err, storage.ErrExists)
}

func (s *suite) testBucketUnknown(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	newBucket(t, st, storage.BucketOptions{Name: "known"})
	for _, ref := range []string{"nosuchbucket", "0d9e5cc4-7b30-4d43-9d7e-1a1f3b7c2a11"} {
		_, err := st.GetBucket(ctx, ref)
		wantErr(t, "GetBucket(unknown)", err, storage.ErrNotFound)
		locked := true
		_, err = st.UpdateBucket(ctx, ref, storage.BucketUpdate{Locked: &locked})
		wantErr(t, "UpdateBucket(unknown)", err, storage.ErrNotFound)
		wantErr(t, "DeleteBucket(unknown)", st.DeleteBucket(ctx, ref, false), storage.ErrNotFound)
		_, err = st.Put(ctx, ref, "k", strings.NewReader("x"), storage.PutOptions{Size: 1})
		wantErr(t, "Put(unknown bucket)", err, storage.ErrNotFound)
		_, err = st.Stat(ctx, ref, "k", "")
		wantErr(t, "Stat(unknown bucket)", err, storage.ErrNotFound)
		_, _, err = st.Get(ctx, ref, "k", "", 0, -1)
		wantErr(t, "Get(unknown bucket)", err, storage.ErrNotFound)
		_, err = st.List(ctx, ref, storage.ListOptions{})
		wantErr(t, "List(unknown bucket)", err, storage.ErrNotFound)
		_, err = st.Versions(ctx, ref, "k")
		wantErr(t, "Versions(unknown bucket)", err, storage.ErrNotFound)
		_, err = st.Delete(ctx, ref, "k", storage.DeleteOptions{})
		wantErr(t, "Delete(unknown bucket)", err, storage.ErrNotFound)
		_, err = st.InitMultipart(ctx, ref, "k", 3*s.o.MinPartSize, s.o.MinPartSize, storage.PutOptions{Size: 3 * s.o.MinPartSize})
		wantErr(t, "InitMultipart(unknown bucket)", err, storage.ErrNotFound)
		_, err = st.ListMultiparts(ctx, ref)
		wantErr(t, "ListMultiparts(unknown bucket)", err, storage.ErrNotFound)
		_, err = st.Copy(ctx, storage.CopySource{Bucket: ref, Key: "k"}, "known", "k", storage.PutOptions{})
		wantErr(t, "Copy(from unknown bucket)", err, storage.ErrNotFound)
	}
}

func (s *suite) testBucketUpdate(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{Name: "upd", Tags: map[string]string{"a": "1"}})
	q, m := int64(1000), int64(100)
	u, err := st.UpdateBucket(ctx, "upd", storage.BucketUpdate{QuotaSize: &q, MaxFileSize: &m})
	noErr(t, "UpdateBucket", err)
	if u.QuotaSize != q || u.MaxFileSize != m || u.ID != b.ID {
		t.Fatalf("UpdateBucket returned %+v", u)
	}
	if u.Tags["a"] != "1" {
		t.Errorf("tags changed by an update without tags: %v", u.Tags)
	}
	u, err = st.UpdateBucket(ctx, b.ID, storage.BucketUpdate{Tags: map[string]string{"b": "2"}})
	noErr(t, "UpdateBucket(tags)", err)
	g, err := st.GetBucket(ctx, b.ID)
	noErr(t, "GetBucket", err)
	if g.QuotaSize != q || g.MaxFileSize != m || g.Tags["b"] != "2" {
		t.Fatalf("after updates: %+v", g)
	}
	// Zero clears a limit (0 = unlimited).
	zero := int64(0)
	_, err = st.UpdateBucket(ctx, b.ID, storage.BucketUpdate{MaxFileSize: &zero})
	noErr(t, "UpdateBucket(max=0)", err)
	put(t, st, b.ID, "big", bytes.Repeat([]byte("x"), 500))
}

func (s *suite) testBucketDelete(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{Name: "del"})
	put(t, st, b.ID, "k", []byte("v"))
	wantErr(t, "DeleteBucket(onlyIfEmpty) with a live object", st.DeleteBucket(ctx, b.ID, true), storage.ErrNotEmpty)
	if _, err := st.GetBucket(ctx, b.ID); err != nil {
		t.Fatalf("bucket gone after a refused delete: %v", err)
	}
	_, err := st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	// Only a delete marker left: the bucket counts as empty.
	noErr(t, "DeleteBucket(onlyIfEmpty) with only delete markers", st.DeleteBucket(ctx, "del", true))
	_, err = st.GetBucket(ctx, b.ID)
	wantErr(t, "GetBucket(deleted)", err, storage.ErrNotFound)
	_, err = st.GetBucket(ctx, "del")
	wantErr(t, "GetBucket(deleted, by name)", err, storage.ErrNotFound)
	_, err = st.Put(ctx, b.ID, "k2", strings.NewReader("x"), storage.PutOptions{Size: 1})
	wantErr(t, "Put into a deleted bucket", err, storage.ErrNotFound)
	_, err = st.List(ctx, b.ID, storage.ListOptions{})
	wantErr(t, "List of a deleted bucket", err, storage.ErrNotFound)
	all, err := st.ListBuckets(ctx)
	noErr(t, "ListBuckets", err)
	for _, x := range all {
		if x.ID == b.ID {
			t.Fatalf("ListBuckets lists deleted bucket %+v", x)
		}
	}

	// Without onlyIfEmpty a bucket with objects is deleted too.
	b2 := newBucket(t, st, storage.BucketOptions{})
	put(t, st, b2.ID, "k", []byte("v"))
	noErr(t, "DeleteBucket(non-empty)", st.DeleteBucket(ctx, b2.ID, false))
	_, err = st.Stat(ctx, b2.ID, "k", "")
	wantErr(t, "Stat in a deleted bucket", err, storage.ErrNotFound)
}

func (s *suite) testBucketLocked(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	other := newBucket(t, st, storage.BucketOptions{})
	v1 := put(t, st, b.ID, "k", []byte("one"))
	v2 := put(t, st, b.ID, "k", []byte("two"))
	src := put(t, st, other.ID, "src", []byte("src"))
	size := bucketSize(t, st, b.ID)

	yes, no := true, false
	u, err := st.UpdateBucket(ctx, b.ID, storage.BucketUpdate{Locked: &yes})
	noErr(t, "lock", err)
	if !u.Locked {
		t.Fatalf("UpdateBucket(Locked) returned %+v", u)
	}
	_, err = st.Put(ctx, b.ID, "new", strings.NewReader("x"), storage.PutOptions{Size: 1})
	wantErr(t, "Put into a locked bucket", err, storage.ErrLocked)
	_, err = st.Put(ctx, b.ID, "k", strings.NewReader("x"), storage.PutOptions{Size: 1})
	wantErr(t, "overwrite in a locked bucket", err, storage.ErrLocked)
	_, err = st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	wantErr(t, "Delete in a locked bucket", err, storage.ErrLocked)
	wantErr(t, "RemoveVersion in a locked bucket", st.RemoveVersion(ctx, b.ID, "k", v1.VersionID), storage.ErrLocked)
	_, err = st.Restore(ctx, b.ID, "k", v1.VersionID)
	wantErr(t, "Restore in a locked bucket", err, storage.ErrLocked)
	_, err = st.Copy(ctx, storage.CopySource{Bucket: other.ID, Key: "src"}, b.ID, "copy", storage.PutOptions{})
	wantErr(t, "Copy into a locked bucket", err, storage.ErrLocked)
	_, err = st.SetAttrs(ctx, b.ID, "k", v2.VersionID, map[string]string{"mode": "644"})
	wantErr(t, "SetAttrs in a locked bucket", err, storage.ErrLocked)
	_, err = st.InitMultipart(ctx, b.ID, "mp", 2*s.o.MinPartSize+1, s.o.MinPartSize, storage.PutOptions{Size: 2*s.o.MinPartSize + 1})
	wantErr(t, "InitMultipart in a locked bucket", err, storage.ErrLocked)

	// Reads still work, and nothing changed.
	wantContent(t, st, b.ID, "k", "", []byte("two"))
	wantContent(t, st, b.ID, "k", v1.VersionID, []byte("one"))
	wantVersions(t, st, b.ID, "k", v2.VersionID, v1.VersionID)
	wantSize(t, st, b.ID, size)
	if _, err := st.List(ctx, b.ID, storage.ListOptions{}); err != nil {
		t.Fatalf("List of a locked bucket: %v", err)
	}
	// Copying out of a locked bucket is a read of it.
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "k"}, other.ID, "fromlocked", storage.PutOptions{})
	noErr(t, "Copy out of a locked bucket", err)
	_ = src

	_, err = st.UpdateBucket(ctx, b.ID, storage.BucketUpdate{Locked: &no})
	noErr(t, "unlock", err)
	put(t, st, b.ID, "new", []byte("after unlock"))
}

func (s *suite) testQuota(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{QuotaSize: 100})
	put(t, st, b.ID, "a", content(1, 60))
	_, err := st.Put(ctx, b.ID, "b", bytes.NewReader(content(2, 50)), storage.PutOptions{Size: 50})
	wantErr(t, "Put over quota (announced size)", err, storage.ErrQuotaExceeded)
	_, err = st.Put(ctx, b.ID, "b", bytes.NewReader(content(2, 50)), storage.PutOptions{Size: -1})
	wantErr(t, "Put over quota (unknown size)", err, storage.ErrQuotaExceeded)
	// An overwrite is a new version and needs quota too.
	_, err = st.Put(ctx, b.ID, "a", bytes.NewReader(content(3, 41)), storage.PutOptions{Size: 41})
	wantErr(t, "overwrite over quota", err, storage.ErrQuotaExceeded)
	_, err = st.Stat(ctx, b.ID, "b", "")
	wantErr(t, "Stat of a refused put", err, storage.ErrNotFound)
	wantSize(t, st, b.ID, 60)
	if vs := versions(t, st, b.ID, "a"); len(vs) != 1 {
		t.Fatalf("refused overwrite left %d versions", len(vs))
	}

	// Exactly filling the quota is allowed.
	put(t, st, b.ID, "b", content(4, 40))
	wantSize(t, st, b.ID, 100)
	_, err = st.Put(ctx, b.ID, "c", bytes.NewReader([]byte{1}), storage.PutOptions{Size: 1})
	wantErr(t, "Put into a full bucket", err, storage.ErrQuotaExceeded)
	// Identical content still counts per version (dedup saves disk, not quota).
	_, err = st.Put(ctx, b.ID, "c", bytes.NewReader(content(4, 40)), storage.PutOptions{Size: 40})
	wantErr(t, "deduplicated Put into a full bucket", err, storage.ErrQuotaExceeded)
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "b"}, b.ID, "c", storage.PutOptions{})
	wantErr(t, "Copy into a full bucket", err, storage.ErrQuotaExceeded)

	// A soft delete keeps the version (and its bytes); a removal frees quota.
	_, err = st.Delete(ctx, b.ID, "a", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	wantSize(t, st, b.ID, 100)
	vs := versions(t, st, b.ID, "a")
	noErr(t, "RemoveVersion", st.RemoveVersion(ctx, b.ID, "a", vs[1].VersionID))
	wantSize(t, st, b.ID, 40)
	put(t, st, b.ID, "c", content(5, 60))
	wantSize(t, st, b.ID, 100)

	// Raising the quota lets writes in again.
	q := int64(200)
	_, err = st.UpdateBucket(ctx, b.ID, storage.BucketUpdate{QuotaSize: &q})
	noErr(t, "UpdateBucket(quota)", err)
	put(t, st, b.ID, "d", content(6, 100))
	wantSize(t, st, b.ID, 200)
}

func (s *suite) testMaxFileSize(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{MaxFileSize: 10})
	put(t, st, b.ID, "ok", content(1, 10))
	_, err := st.Put(ctx, b.ID, "big", bytes.NewReader(content(2, 11)), storage.PutOptions{Size: 11})
	wantErr(t, "Put over max file size", err, storage.ErrTooLarge)
	_, err = st.Put(ctx, b.ID, "big", bytes.NewReader(content(2, 11)), storage.PutOptions{Size: -1})
	wantErr(t, "Put over max file size (unknown size)", err, storage.ErrTooLarge)
	_, err = st.Stat(ctx, b.ID, "big", "")
	wantErr(t, "Stat of a refused put", err, storage.ErrNotFound)
	wantSize(t, st, b.ID, 10)
}

func (s *suite) testSizeAccounting(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	o := newBucket(t, st, storage.BucketOptions{})
	a1 := put(t, st, b.ID, "a", content(1, 10))
	a2 := put(t, st, b.ID, "a", content(2, 20))
	put(t, st, b.ID, "b", content(3, 5))
	wantSize(t, st, b.ID, 35)
	put(t, st, b.ID, "dup", content(3, 5)) // same bytes as b: counted again
	wantSize(t, st, b.ID, 40)
	_, err := st.Delete(ctx, b.ID, "a", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	wantSize(t, st, b.ID, 40) // the deleted version still exists
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "b"}, b.ID, "c", storage.PutOptions{})
	noErr(t, "Copy", err)
	wantSize(t, st, b.ID, 45)
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "b"}, o.ID, "c", storage.PutOptions{})
	noErr(t, "Copy to another bucket", err)
	wantSize(t, st, b.ID, 45)
	wantSize(t, st, o.ID, 5)
	_, err = st.Restore(ctx, b.ID, "a", a1.VersionID)
	noErr(t, "Restore", err)
	wantSize(t, st, b.ID, 55)
	noErr(t, "RemoveVersion", st.RemoveVersion(ctx, b.ID, "a", a2.VersionID))
	wantSize(t, st, b.ID, 35)
	noErr(t, "RemoveVersion", st.RemoveVersion(ctx, b.ID, "a", a1.VersionID))
	wantSize(t, st, b.ID, 25)
	// Removing a delete marker frees nothing.
	vs := versions(t, st, b.ID, "a")
	for _, v := range vs {
		if v.DeleteMarker() {
			noErr(t, "RemoveVersion(marker)", st.RemoveVersion(ctx, b.ID, "a", v.VersionID))
		}
	}
	wantSize(t, st, b.ID, 25)
	// A multipart upload reserves its size until it completes or is aborted.
	n := 2*s.o.MinPartSize + 7
	mp, err := st.InitMultipart(ctx, b.ID, "mp", n, s.o.MinPartSize, storage.PutOptions{Size: n})
	noErr(t, "InitMultipart", err)
	wantSize(t, st, b.ID, 25+n)
	noErr(t, "AbortMultipart", st.AbortMultipart(ctx, mp.UploadID))
	wantSize(t, st, b.ID, 25)
}
