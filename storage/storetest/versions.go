package storetest

import (
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

const unknownID = "0d9e5cc4-7b30-4d43-9d7e-1a1f3b7c2a11"

func (s *suite) testOverwrite(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	v1 := put(t, st, b.ID, "k", []byte("one"))
	v2 := put(t, st, b.ID, "k", []byte("two!"))
	v3 := put(t, st, b.ID, "k", []byte("three"))
	if v1.VersionID == v2.VersionID || v2.VersionID == v3.VersionID {
		t.Fatalf("version ids repeat: %s %s %s", v1.VersionID, v2.VersionID, v3.VersionID)
	}
	vs := wantVersions(t, st, b.ID, "k", v3.VersionID, v2.VersionID, v1.VersionID)
	for i, want := range []string{"three", "two!", "one"} {
		wantContent(t, st, b.ID, "k", vs[i].VersionID, []byte(want))
	}
	wantContent(t, st, b.ID, "k", "", []byte("three"))
	old, err := st.Stat(t.Context(), b.ID, "k", v1.VersionID)
	noErr(t, "Stat(old)", err)
	if old.IsHead || old.File == nil || old.File.Size != 3 {
		t.Fatalf("old version %+v", old)
	}
	wantSize(t, st, b.ID, 12)
}

func (s *suite) testDeleteMarker(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	v1 := put(t, st, b.ID, "k", []byte("one"))
	m, err := st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	if m == nil || !m.DeleteMarker() || !m.IsHead || m.Key != "k" || m.VersionID == "" || m.VersionID == v1.VersionID {
		t.Fatalf("Delete returned %+v, want a head delete marker", m)
	}
	_, err = st.Stat(ctx, b.ID, "k", "")
	wantErr(t, "Stat of a deleted key", err, storage.ErrNotFound)
	_, _, err = st.Get(ctx, b.ID, "k", "", 0, -1)
	wantErr(t, "Get of a deleted key", err, storage.ErrNotFound)
	sm, err := st.Stat(ctx, b.ID, "k", m.VersionID)
	noErr(t, "Stat(marker id)", err)
	if !sm.DeleteMarker() || !sm.IsHead {
		t.Fatalf("Stat(marker id) = %+v", sm)
	}
	_, _, err = st.Get(ctx, b.ID, "k", m.VersionID, 0, -1)
	wantErr(t, "Get of a delete marker", err, storage.ErrNotFound)
	// The old version stays readable by id.
	wantContent(t, st, b.ID, "k", v1.VersionID, []byte("one"))
	vs := wantVersions(t, st, b.ID, "k", m.VersionID, v1.VersionID)
	if !vs[0].DeleteMarker() || vs[1].DeleteMarker() {
		t.Fatalf("Versions flags: %+v %+v", vs[0], vs[1])
	}
	_, err = st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	wantErr(t, "Delete of a deleted key", err, storage.ErrNotFound)
	_, err = st.Delete(ctx, b.ID, "never", storage.DeleteOptions{})
	wantErr(t, "Delete of an unknown key", err, storage.ErrNotFound)
	keys, _, _ := listAll(t, st, b.ID, storage.ListOptions{})
	if len(keys) != 0 {
		t.Fatalf("List shows deleted keys %v", keys)
	}
	// A new put revives the key.
	v2 := put(t, st, b.ID, "k", []byte("two"))
	wantVersions(t, st, b.ID, "k", v2.VersionID, m.VersionID, v1.VersionID)
	wantContent(t, st, b.ID, "k", "", []byte("two"))
}

func (s *suite) testRemoveVersion(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	v1 := put(t, st, b.ID, "k", []byte("one"))
	v2 := put(t, st, b.ID, "k", []byte("two"))
	v3 := put(t, st, b.ID, "k", []byte("three"))

	// Removing the head reveals the previous version (an undo).
	noErr(t, "RemoveVersion(head)", st.RemoveVersion(ctx, b.ID, "k", v3.VersionID))
	wantVersions(t, st, b.ID, "k", v2.VersionID, v1.VersionID)
	h, err := st.Stat(ctx, b.ID, "k", "")
	noErr(t, "Stat", err)
	if h.VersionID != v2.VersionID || !h.IsHead {
		t.Fatalf("head after removing the head: %+v, want %s", h, v2.VersionID)
	}
	wantContent(t, st, b.ID, "k", "", []byte("two"))
	_, err = st.Stat(ctx, b.ID, "k", v3.VersionID)
	wantErr(t, "Stat(removed version)", err, storage.ErrNotFound)
	wantErr(t, "RemoveVersion twice", st.RemoveVersion(ctx, b.ID, "k", v3.VersionID), storage.ErrNotFound)

	// Removing an old version leaves the head alone.
	noErr(t, "RemoveVersion(old)", st.RemoveVersion(ctx, b.ID, "k", v1.VersionID))
	wantVersions(t, st, b.ID, "k", v2.VersionID)

	// Removing a head delete marker undeletes.
	m, err := st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	noErr(t, "RemoveVersion(marker)", st.RemoveVersion(ctx, b.ID, "k", m.VersionID))
	wantContent(t, st, b.ID, "k", "", []byte("two"))

	// Removing the version under a marker keeps the marker as head.
	m, err = st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	noErr(t, "RemoveVersion(under marker)", st.RemoveVersion(ctx, b.ID, "k", v2.VersionID))
	wantVersions(t, st, b.ID, "k", m.VersionID)
	_, err = st.Stat(ctx, b.ID, "k", "")
	wantErr(t, "Stat with only a marker", err, storage.ErrNotFound)

	// Removing the last version makes the key unknown.
	noErr(t, "RemoveVersion(last)", st.RemoveVersion(ctx, b.ID, "k", m.VersionID))
	vs, err := st.Versions(ctx, b.ID, "k")
	if err == nil && len(vs) != 0 {
		t.Fatalf("Versions after removing all: %d versions", len(vs))
	}
	if err != nil {
		wantErr(t, "Versions after removing all", err, storage.ErrNotFound)
	}
	_, err = st.Stat(ctx, b.ID, "k", "")
	wantErr(t, "Stat after removing all", err, storage.ErrNotFound)
	wantSize(t, st, b.ID, 0)
	// The key can be written again.
	put(t, st, b.ID, "k", []byte("again"))
	wantErr(t, "RemoveVersion(unknown id)", st.RemoveVersion(ctx, b.ID, "k", unknownID), storage.ErrNotFound)
	wantErr(t, "RemoveVersion(unknown key)", st.RemoveVersion(ctx, b.ID, "nokey", unknownID), storage.ErrNotFound)
}

func (s *suite) testRestore(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	v1 := put(t, st, b.ID, "k", []byte("one"))
	v2 := put(t, st, b.ID, "k", []byte("two"))
	r, err := st.Restore(ctx, b.ID, "k", v1.VersionID)
	noErr(t, "Restore", err)
	if r.VersionID == v1.VersionID || r.VersionID == v2.VersionID || !r.IsHead || r.File == nil || r.File.ID != v1.File.ID {
		t.Fatalf("Restore returned %+v, want a new head sharing file %s", r, v1.File.ID)
	}
	wantVersions(t, st, b.ID, "k", r.VersionID, v2.VersionID, v1.VersionID)
	wantContent(t, st, b.ID, "k", "", []byte("one"))

	// Restore brings back a deleted key.
	m, err := st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	r2, err := st.Restore(ctx, b.ID, "k", v2.VersionID)
	noErr(t, "Restore after delete", err)
	wantVersions(t, st, b.ID, "k", r2.VersionID, m.VersionID, r.VersionID, v2.VersionID, v1.VersionID)
	wantContent(t, st, b.ID, "k", "", []byte("two"))

	_, err = st.Restore(ctx, b.ID, "k", m.VersionID)
	wantErr(t, "Restore(delete marker)", err, storage.ErrInvalid, storage.ErrNotFound, storage.ErrConflict)
	_, err = st.Restore(ctx, b.ID, "k", unknownID)
	wantErr(t, "Restore(unknown version)", err, storage.ErrNotFound)
	_, err = st.Restore(ctx, b.ID, "nokey", v1.VersionID)
	wantErr(t, "Restore(version of another key)", err, storage.ErrNotFound)
}

func (s *suite) testCopy(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{Name: "src"})
	o := newBucket(t, st, storage.BucketOptions{Name: "dst"})
	v1 := put(t, st, b.ID, "a", []byte("one"))
	v2 := put(t, st, b.ID, "a", []byte("two"))

	c, err := st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "a"}, b.ID, "b", storage.PutOptions{})
	noErr(t, "Copy(head)", err)
	if c.Key != "b" || !c.IsHead || c.File == nil || c.File.ID != v2.File.ID || c.BucketID != b.ID {
		t.Fatalf("Copy returned %+v, want head b with file %s", c, v2.File.ID)
	}
	wantContent(t, st, b.ID, "b", "", []byte("two"))

	c2, err := st.Copy(ctx, storage.CopySource{Bucket: "src", Key: "a", VersionID: v1.VersionID}, "dst", "x/a", storage.PutOptions{})
	noErr(t, "Copy(old version, other bucket)", err)
	if c2.BucketID != o.ID || c2.File == nil || c2.File.ID != v1.File.ID {
		t.Fatalf("Copy to other bucket returned %+v", c2)
	}
	wantContent(t, st, o.ID, "x/a", "", []byte("one"))

	// Copy over an existing key makes a new version there.
	c3, err := st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "a", VersionID: v1.VersionID}, b.ID, "b", storage.PutOptions{})
	noErr(t, "Copy over existing", err)
	wantVersions(t, st, b.ID, "b", c3.VersionID, c.VersionID)
	wantContent(t, st, b.ID, "b", "", []byte("one"))
	// The source is unchanged.
	wantVersions(t, st, b.ID, "a", v2.VersionID, v1.VersionID)

	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "nokey"}, b.ID, "z", storage.PutOptions{})
	wantErr(t, "Copy(unknown key)", err, storage.ErrNotFound)
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "a", VersionID: unknownID}, b.ID, "z", storage.PutOptions{})
	wantErr(t, "Copy(unknown version)", err, storage.ErrNotFound)
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "a"}, "nobucket", "z", storage.PutOptions{})
	wantErr(t, "Copy(to unknown bucket)", err, storage.ErrNotFound)
	m, err := st.Delete(ctx, b.ID, "a", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "a"}, b.ID, "z", storage.PutOptions{})
	wantErr(t, "Copy(deleted key)", err, storage.ErrNotFound)
	_, err = st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "a", VersionID: m.VersionID}, b.ID, "z", storage.PutOptions{})
	wantErr(t, "Copy(delete marker)", err, storage.ErrInvalid, storage.ErrNotFound, storage.ErrConflict)
	_, err = st.Stat(ctx, b.ID, "z", "")
	wantErr(t, "Stat of a refused copy", err, storage.ErrNotFound)
}

func (s *suite) testSetAttrs(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	v1 := putOpts(t, st, b.ID, "k", []byte("one"), storage.PutOptions{Size: 3, Attrs: map[string]string{"mode": "420"}})
	v2 := put(t, st, b.ID, "k", []byte("two"))

	u, err := st.SetAttrs(ctx, b.ID, "k", v2.VersionID, map[string]string{"mode": "384", "uid": "1000"})
	noErr(t, "SetAttrs(head)", err)
	if u.VersionID != v2.VersionID || u.Attrs["mode"] != "384" || u.Attrs["uid"] != "1000" || u.File == nil || u.File.ID != v2.File.ID {
		t.Fatalf("SetAttrs returned %+v", u)
	}
	h, err := st.Stat(ctx, b.ID, "k", "")
	noErr(t, "Stat", err)
	if h.VersionID != v2.VersionID || h.Attrs["mode"] != "384" || h.Attrs["uid"] != "1000" {
		t.Fatalf("Stat after SetAttrs: %+v", h)
	}
	// Replace, not merge.
	_, err = st.SetAttrs(ctx, b.ID, "k", v2.VersionID, map[string]string{"mtime": "5"})
	noErr(t, "SetAttrs(replace)", err)
	h, err = st.Stat(ctx, b.ID, "k", "")
	noErr(t, "Stat", err)
	if len(h.Attrs) != 1 || h.Attrs["mtime"] != "5" {
		t.Fatalf("attrs after replace: %v, want only mtime=5", h.Attrs)
	}
	// An old version can be changed too, still without a new version.
	_, err = st.SetAttrs(ctx, b.ID, "k", v1.VersionID, map[string]string{"mode": "256"})
	noErr(t, "SetAttrs(old)", err)
	o, err := st.Stat(ctx, b.ID, "k", v1.VersionID)
	noErr(t, "Stat(old)", err)
	if o.Attrs["mode"] != "256" || o.IsHead {
		t.Fatalf("old version after SetAttrs: %+v", o)
	}
	wantVersions(t, st, b.ID, "k", v2.VersionID, v1.VersionID)
	wantContent(t, st, b.ID, "k", "", []byte("two"))

	_, err = st.SetAttrs(ctx, b.ID, "k", unknownID, map[string]string{"mode": "1"})
	wantErr(t, "SetAttrs(unknown version)", err, storage.ErrNotFound)
	_, err = st.SetAttrs(ctx, b.ID, "nokey", "", map[string]string{"mode": "1"})
	wantErr(t, "SetAttrs(unknown key)", err, storage.ErrNotFound)
}

func (s *suite) testUnknownVersion(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	v := put(t, st, b.ID, "k", []byte("one"))
	put(t, st, b.ID, "other", []byte("other"))
	for _, id := range []string{unknownID, "not-a-uuid"} {
		_, err := st.Stat(ctx, b.ID, "k", id)
		wantErr(t, "Stat(unknown version "+id+")", err, storage.ErrNotFound, storage.ErrInvalid)
		_, _, err = st.Get(ctx, b.ID, "k", id, 0, -1)
		wantErr(t, "Get(unknown version "+id+")", err, storage.ErrNotFound, storage.ErrInvalid)
	}
	// A version id of another key is not a version of this key.
	_, err := st.Stat(ctx, b.ID, "other", v.VersionID)
	wantErr(t, "Stat(version of another key)", err, storage.ErrNotFound)
	_, _, err = st.Get(ctx, b.ID, "other", v.VersionID, 0, -1)
	wantErr(t, "Get(version of another key)", err, storage.ErrNotFound)
	wantErr(t, "RemoveVersion(version of another key)", st.RemoveVersion(ctx, b.ID, "other", v.VersionID), storage.ErrNotFound)
	wantVersions(t, st, b.ID, "k", v.VersionID)
	_, err = st.Versions(ctx, b.ID, "nokey")
	if err != nil {
		wantErr(t, "Versions(unknown key)", err, storage.ErrNotFound)
	}
}
