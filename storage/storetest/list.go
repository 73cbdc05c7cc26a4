package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// listFixture is a small tree: files at the root, two folders, a nested one.
var listFixture = []string{
	"a.txt", "d/e/z1", "d/e/z2", "d/x0", "d/x1", "d/x2", "d/y", "e/f", "e/g/h", "f00", "f01", "f02", "f03", "z",
}

func (s *suite) testListHeads(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	// Written out of order; listed in key order.
	for i, k := range slices.Backward(listFixture) {
		put(t, st, b.ID, k, content(uint64(i), 10+i))
	}
	put(t, st, b.ID, "gone", []byte("x"))
	_, err := st.Delete(ctx, b.ID, "gone", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	put(t, st, b.ID, "z", []byte("z2")) // an overwrite lists once, as its head

	keys, prefixes, objs := listAll(t, st, b.ID, storage.ListOptions{})
	if !slices.Equal(keys, listFixture) || len(prefixes) != 0 {
		t.Fatalf("List = %q %q, want %q", keys, prefixes, listFixture)
	}
	for _, v := range objs {
		if !v.IsHead || v.File == nil || v.BucketID != b.ID {
			t.Fatalf("listed version %+v is not a live head", v)
		}
	}
	if objs[len(objs)-1].File.Size != 2 {
		t.Fatalf("List shows an old version of z: %+v", objs[len(objs)-1])
	}
	keys, _, _ = listAll(t, st, b.ID, storage.ListOptions{Prefix: "d/"})
	if want := []string{"d/e/z1", "d/e/z2", "d/x0", "d/x1", "d/x2", "d/y"}; !slices.Equal(keys, want) {
		t.Fatalf("List(prefix d/) = %q, want %q", keys, want)
	}
	keys, _, _ = listAll(t, st, b.ID, storage.ListOptions{Prefix: "f0"})
	if want := []string{"f00", "f01", "f02", "f03"}; !slices.Equal(keys, want) {
		t.Fatalf("List(prefix f0) = %q, want %q", keys, want)
	}
	keys, prefixes, _ = listAll(t, st, b.ID, storage.ListOptions{Prefix: "nothing/"})
	if len(keys)+len(prefixes) != 0 {
		t.Fatalf("List(prefix nothing/) = %q %q", keys, prefixes)
	}
	empty := newBucket(t, st, storage.BucketOptions{})
	r, err := st.List(ctx, empty.ID, storage.ListOptions{})
	noErr(t, "List(empty bucket)", err)
	if len(r.Objects)+len(r.Prefixes) != 0 || r.Next != "" {
		t.Fatalf("List of an empty bucket: %+v", r)
	}
}

func (s *suite) testListDelimiter(t *testing.T, st storage.ObjectStore) {
	b := newBucket(t, st, storage.BucketOptions{})
	for i, k := range listFixture {
		put(t, st, b.ID, k, content(uint64(i), 5))
	}
	put(t, st, b.ID, "emptydir/", nil)
	cases := []struct {
		prefix        string
		keys, prefix2 []string
	}{
		{"", []string{"a.txt", "f00", "f01", "f02", "f03", "z"}, []string{"d/", "e/", "emptydir/"}},
		{"d/", []string{"d/x0", "d/x1", "d/x2", "d/y"}, []string{"d/e/"}},
		{"d/e/", []string{"d/e/z1", "d/e/z2"}, nil},
		{"e/", []string{"e/f"}, []string{"e/g/"}},
		{"emptydir/", []string{"emptydir/"}, nil},
		{"f", []string{"f00", "f01", "f02", "f03"}, nil},
	}
	for _, c := range cases {
		for _, limit := range []int{0, 1, 2, 3} {
			keys, prefixes, _ := listAll(t, st, b.ID, storage.ListOptions{Prefix: c.prefix, Delimiter: "/", Limit: limit})
			if !slices.Equal(keys, c.keys) || !slices.Equal(prefixes, c.prefix2) {
				t.Fatalf("List(prefix %q, delimiter /, limit %d) = %q %q, want %q %q", c.prefix, limit, keys, prefixes, c.keys, c.prefix2)
			}
		}
	}
}

func (s *suite) testListPaging(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	var all []string
	for i := range 45 {
		k := fmt.Sprintf("k%03d", i)
		if i%5 == 0 {
			k = fmt.Sprintf("dir%02d/file", i)
		}
		all = append(all, k)
	}
	for i, k := range all {
		put(t, st, b.ID, k, content(uint64(i), 3))
	}
	slices.Sort(all)
	for _, limit := range []int{1, 4, 7, 44, 45, 46} {
		keys, _, _ := listAll(t, st, b.ID, storage.ListOptions{Limit: limit})
		if !slices.Equal(keys, all) {
			t.Fatalf("paging with limit %d: %q, want %q", limit, keys, all)
		}
	}
	// The first page of a limited listing is full and has a cursor.
	r, err := st.List(ctx, b.ID, storage.ListOptions{Limit: 10})
	noErr(t, "List", err)
	if len(r.Objects) != 10 || r.Next == "" {
		t.Fatalf("first page: %d objects, next %q", len(r.Objects), r.Next)
	}
	// After resumes strictly after a key.
	keys, _, _ := listAll(t, st, b.ID, storage.ListOptions{After: all[9]})
	if !slices.Equal(keys, all[10:]) {
		t.Fatalf("List(After %q) = %q, want %q", all[9], keys, all[10:])
	}
}

func (s *suite) testListVersions(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	want := map[string]bool{}
	for i := range 3 {
		want[put(t, st, b.ID, "a", content(uint64(i), 4)).VersionID] = true
	}
	want[put(t, st, b.ID, "b", []byte("b")).VersionID] = true
	_, err := st.Delete(ctx, b.ID, "b", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	want[put(t, st, b.ID, "c/d", []byte("c")).VersionID] = true
	for _, limit := range []int{0, 1, 2, 5} {
		_, _, objs := listAll(t, st, b.ID, storage.ListOptions{Versions: true, Limit: limit})
		got := map[string]bool{}
		prev := ""
		for _, v := range objs {
			if v.Key < prev {
				t.Fatalf("List(Versions) not in key order: %q after %q", v.Key, prev)
			}
			prev = v.Key
			if v.DeleteMarker() {
				continue // a store may list markers, flagged
			}
			if got[v.VersionID] {
				t.Fatalf("List(Versions, limit %d) lists %s twice", limit, v.VersionID)
			}
			got[v.VersionID] = true
		}
		if len(got) != len(want) {
			t.Fatalf("List(Versions, limit %d): %d file versions, want %d", limit, len(got), len(want))
		}
		for id := range want {
			if !got[id] {
				t.Fatalf("List(Versions, limit %d) misses %s", limit, id)
			}
		}
	}
}

func (s *suite) testListAt(t *testing.T, st storage.ObjectStore) {
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	a1 := put(t, st, b.ID, "a", []byte("a1"))
	b1 := put(t, st, b.ID, "b", []byte("b1"))
	// Timestamps come from the store's clock; wait so that "before" and
	// "after" are told apart at any sane clock resolution.
	time.Sleep(20 * time.Millisecond)
	a2 := put(t, st, b.ID, "a", []byte("a2"))
	_, err := st.Delete(ctx, b.ID, "b", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	put(t, st, b.ID, "c", []byte("c1"))
	if !a2.Created.After(b1.Created) {
		t.Fatalf("version created %v is not after %v", a2.Created, b1.Created)
	}
	at := b1.Created.Add(a2.Created.Sub(b1.Created) / 2)

	_, _, objs := listAll(t, st, b.ID, storage.ListOptions{At: at})
	got := map[string]string{}
	for _, v := range objs {
		got[v.Key] = v.VersionID
	}
	want := map[string]string{"a": a1.VersionID, "b": b1.VersionID}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List(At) = %v, want %v", got, want)
	}
	_, _, objs = listAll(t, st, b.ID, storage.ListOptions{At: a1.Created.Add(-time.Hour)})
	if len(objs) != 0 {
		t.Fatalf("List(At before any write) = %d objects", len(objs))
	}
	keys, _, _ := listAll(t, st, b.ID, storage.ListOptions{})
	if !slices.Equal(keys, []string{"a", "c"}) {
		t.Fatalf("List(now) = %q", keys)
	}
}
