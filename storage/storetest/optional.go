package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// Snapshotter is the snapshot ability of stores that have it: a new bucket
// holding a copy of every head of bucket (same files, no bytes copied).
type Snapshotter interface {
	Snapshot(ctx context.Context, bucket string, opts storage.BucketOptions) (*storage.Bucket, error)
}

func (s *suite) testSnapshot(t *testing.T, st storage.ObjectStore) {
	sn, ok := st.(Snapshotter)
	if !ok {
		t.Skip("store has no Snapshot")
	}
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{Name: "orig"})
	put(t, st, b.ID, "a", []byte("a1"))
	a2 := put(t, st, b.ID, "a", []byte("a2"))
	put(t, st, b.ID, "gone", []byte("x"))
	_, err := st.Delete(ctx, b.ID, "gone", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	cd := put(t, st, b.ID, "c/d", []byte("cd"))

	snap, err := sn.Snapshot(ctx, "orig", storage.BucketOptions{Name: "snap"})
	noErr(t, "Snapshot", err)
	if snap.ID == b.ID || snap.Name != "snap" {
		t.Fatalf("Snapshot returned %+v", snap)
	}
	_, _, objs := listAll(t, st, snap.ID, storage.ListOptions{})
	files := map[string]string{}
	for _, v := range objs {
		files[v.Key] = v.File.ID
	}
	if len(files) != 2 || files["a"] != a2.File.ID || files["c/d"] != cd.File.ID {
		t.Fatalf("snapshot lists %v, want a->%s c/d->%s", files, a2.File.ID, cd.File.ID)
	}
	wantSize(t, st, snap.ID, 4)
	// The snapshot is independent of later changes to its source.
	put(t, st, b.ID, "a", []byte("a3"))
	_, err = st.Delete(ctx, b.ID, "c/d", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	wantContent(t, st, snap.ID, "a", "", []byte("a2"))
	wantContent(t, st, "snap", "c/d", "", []byte("cd"))

	_, err = sn.Snapshot(ctx, "nosuchbucket", storage.BucketOptions{})
	wantErr(t, "Snapshot(unknown bucket)", err, storage.ErrNotFound)
	_, err = sn.Snapshot(ctx, b.ID, storage.BucketOptions{Name: "snap"})
	wantErr(t, "Snapshot to a taken name", err, storage.ErrExists)
}

func (s *suite) testMove(t *testing.T, st storage.ObjectStore) {
	mv, ok := st.(storage.Mover)
	if !ok {
		t.Skip("store is not a storage.Mover")
	}
	ctx := t.Context()
	b := newBucket(t, st, storage.BucketOptions{})
	a := put(t, st, b.ID, "a", []byte("a"))
	put(t, st, b.ID, "dir/x", []byte("x"))
	put(t, st, b.ID, "dir/sub/y", []byte("y"))
	put(t, st, b.ID, "dirx", []byte("not under dir/"))

	noErr(t, "Move(key)", mv.Move(ctx, b.ID, "a", "b"))
	_, err := st.Stat(ctx, b.ID, "a", "")
	wantErr(t, "Stat(moved-away key)", err, storage.ErrNotFound)
	h, err := st.Stat(ctx, b.ID, "b", "")
	noErr(t, "Stat(moved key)", err)
	if h.File == nil || h.File.ID != a.File.ID {
		t.Fatalf("moved key %+v, want file %s (no bytes copied)", h, a.File.ID)
	}

	noErr(t, "Move(prefix)", mv.Move(ctx, b.ID, "dir/", "new/"))
	keys, _, _ := listAll(t, st, b.ID, storage.ListOptions{})
	if want := []string{"b", "dirx", "new/sub/y", "new/x"}; !slices.Equal(keys, want) {
		t.Fatalf("after moves List = %q, want %q", keys, want)
	}
	wantContent(t, st, b.ID, "new/sub/y", "", []byte("y"))
	wantErr(t, "Move(unknown key)", mv.Move(ctx, b.ID, "nokey", "other"), storage.ErrNotFound)
	wantErr(t, "Move to an invalid key", mv.Move(ctx, b.ID, "b", "../b"), storage.ErrInvalidKey)
}

func (s *suite) testEvents(t *testing.T, st storage.ObjectStore) {
	es, ok := st.(storage.EventSource)
	if !ok {
		t.Skip("store is not a storage.EventSource")
	}
	ctx := t.Context()
	var last uint64
	drain := func(wait time.Duration) []storage.Event {
		t.Helper()
		var out []storage.Event
		for {
			evs, err := es.Events(ctx, last, 100, wait)
			noErr(t, "Events", err)
			if len(evs) == 0 {
				return out
			}
			for _, e := range evs {
				if e.Seq <= last {
					t.Fatalf("event seq %d after %d: not increasing", e.Seq, last)
				}
				last = e.Seq
			}
			out = append(out, evs...)
			wait = 0
		}
	}
	drain(0)

	b := newBucket(t, st, storage.BucketOptions{Name: "ev"})
	v1 := put(t, st, b.ID, "k", []byte("one"))
	put(t, st, b.ID, "k", []byte("two"))
	_, err := st.Copy(ctx, storage.CopySource{Bucket: b.ID, Key: "k"}, b.ID, "k2", storage.PutOptions{})
	noErr(t, "Copy", err)
	_, err = st.Delete(ctx, b.ID, "k", storage.DeleteOptions{})
	noErr(t, "Delete", err)
	r, err := st.Restore(ctx, b.ID, "k", v1.VersionID)
	noErr(t, "Restore", err)
	noErr(t, "RemoveVersion", st.RemoveVersion(ctx, b.ID, "k", r.VersionID))

	evs := drain(0)
	var names []string
	for _, e := range evs {
		if e.Name == storage.EventAccessed {
			continue // downloads may be recorded
		}
		names = append(names, e.Name)
		if e.BucketID != b.ID || e.ID == "" {
			t.Errorf("event %+v: want bucket %s and an id", e, b.ID)
		}
	}
	want := []string{storage.EventBucketCreated, storage.EventPut, storage.EventPut, storage.EventCopy,
		storage.EventDeleteMarker, storage.EventRestore, storage.EventDelete}
	if !slices.Equal(names, want) {
		t.Fatalf("events %q, want %q", names, want)
	}
	for _, e := range evs {
		if e.Name == storage.EventPut && e.Key == "k" && e.VersionID == v1.VersionID {
			if e.Size != 3 || e.BLAKE3 != v1.File.BLAKE3 {
				t.Errorf("put event %+v: want size 3 and blake3 %s", e, v1.File.BLAKE3)
			}
			goto found
		}
	}
	t.Fatalf("no put event for version %s in %+v", v1.VersionID, evs)
found:

	// The origin of a write (who caused it, how many function calls deep)
	// travels into its event: triggers stop loops with it.
	octx := storage.WithOrigin(ctx, storage.Origin{Kind: "sync", Hops: 2})
	ov, err := st.Put(octx, b.ID, "from-sync", bytes.NewReader([]byte("s")), storage.PutOptions{Size: 1})
	noErr(t, "Put with an origin", err)
	evs = drain(0)
	if len(evs) != 1 || evs[0].VersionID != ov.VersionID || evs[0].Origin.Kind != "sync" || evs[0].Origin.Hops != 2 {
		t.Fatalf("event of a put with origin sync/2: %+v", evs)
	}

	// A waiting reader is woken by a change.
	done := make(chan []storage.Event, 1)
	go func() {
		evs, _ := es.Events(ctx, last, 10, 30*time.Second)
		done <- evs
	}()
	time.Sleep(50 * time.Millisecond)
	put(t, st, b.ID, "late", []byte("late"))
	got := <-done
	if len(got) == 0 || got[0].Key != "late" || got[0].Name != storage.EventPut {
		t.Fatalf("waiting Events returned %+v, want the put of late", got)
	}
}

func (s *suite) testOpenBlob(t *testing.T, st storage.ObjectStore) {
	bo, ok := st.(storage.BlobOpener)
	if !ok {
		t.Skip("store is not a storage.BlobOpener")
	}
	b := newBucket(t, st, storage.BucketOptions{})
	data := content(11, 200_000)
	v := put(t, st, b.ID, "k", data)
	r, err := bo.OpenBlob(t.Context(), v)
	noErr(t, "OpenBlob", err)
	defer r.Close()
	for _, x := range []struct{ off, n int }{{0, 10}, {4096, 8192}, {199_990, 10}} {
		buf := make([]byte, x.n)
		n, err := r.ReadAt(buf, int64(x.off))
		if n != x.n || !bytes.Equal(buf, data[x.off:x.off+x.n]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", x.off, x.n, n, err)
		}
	}
}
