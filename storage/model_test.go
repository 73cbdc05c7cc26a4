package storage_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// -seed replays one run of the randomized model test.
var modelSeed = flag.Uint64("seed", 0, "seed of TestModelVersioning (0 = random)")

// mVersion is the model of one object version.
type mVersion struct {
	id      string
	content int // index into the content pool; -1 = delete marker
	created time.Time
}

// model is the whole store as a map: bucket id -> key -> versions, oldest first.
type model map[string]map[string][]mVersion

func (m model) head(b, k string) (mVersion, bool) {
	vs := m[b][k]
	if len(vs) == 0 {
		return mVersion{}, false
	}
	return vs[len(vs)-1], true
}

func (m model) live(b, k string) bool {
	h, ok := m.head(b, k)
	return ok && h.content >= 0
}

func (m model) size(b string, pool [][]byte) int64 {
	var n int64
	for _, vs := range m[b] {
		for _, v := range vs {
			if v.content >= 0 {
				n += int64(len(pool[v.content]))
			}
		}
	}
	return n
}

var modelKeys = []string{"a", "b", "d/c", "d/e/f", "d/g", "z"}

// TestModelVersioning runs random put (plain and If-Match), delete,
// restore, remove, copy, move and snapshot operations (and reopens) against
// a Store and a map model, and compares them after every step: heads,
// versions newest first, markers, bucket sizes, contents, dedup, and the
// listing as of a past moment.
func TestModelVersioning(t *testing.T) {
	seeds := []uint64{*modelSeed}
	if *modelSeed == 0 {
		seeds = []uint64{rand.Uint64(), rand.Uint64()}
		if testing.Short() {
			seeds = seeds[:1]
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d (replay: go test ./storage -run TestModelVersioning -seed=%d)", seed, seed)
			runModel(t, seed, 300)
		})
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	ctx := t.Context()
	r := rand.New(rand.NewPCG(seed, seed>>7|1))
	dir := t.TempDir()
	opts := storage.DefaultOptions()
	st, err := storage.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()

	// A small pool of contents, so puts often repeat bytes (dedup).
	var pool [][]byte
	for i := range 6 {
		b := make([]byte, []int{0, 1, 100, 4096, 70_000, 5}[i])
		for j := range b {
			b[j] = byte(r.UintN(256))
		}
		pool = append(pool, b)
	}
	m := model{}
	var buckets []string
	newBucket := func() {
		b, err := st.CreateBucket(ctx, storage.BucketOptions{})
		if err != nil {
			t.Fatalf("CreateBucket: %v", err)
		}
		buckets = append(buckets, b.ID)
		m[b.ID] = map[string][]mVersion{}
	}
	newBucket()
	newBucket()

	fail := func(step int, format string, a ...any) {
		t.Helper()
		t.Fatalf("seed %d step %d: %s", seed, step, fmt.Sprintf(format, a...))
	}
	for step := range steps {
		b := buckets[r.IntN(len(buckets))]
		k := modelKeys[r.IntN(len(modelKeys))]
		var op string
		switch p := r.IntN(100); {
		case p < 30:
			op = "put"
			c := r.IntN(len(pool))
			v, err := st.Put(ctx, b, k, bytes.NewReader(pool[c]), storage.PutOptions{Size: int64(len(pool[c]))})
			if err != nil {
				fail(step, "Put(%s): %v", k, err)
			}
			m[b][k] = append(m[b][k], mVersion{v.VersionID, c, v.Created})
		case p < 35:
			op = "put-if-match"
			c := r.IntN(len(pool))
			vs := m[b][k]
			ifMatch, ok := "null", !m.live(b, k)
			if len(vs) > 0 && r.IntN(3) > 0 {
				i := r.IntN(len(vs))
				ifMatch, ok = vs[i].id, i == len(vs)-1
			}
			v, err := st.Put(ctx, b, k, bytes.NewReader(pool[c]), storage.PutOptions{Size: int64(len(pool[c])), IfMatch: ifMatch})
			if !ok {
				if !errors.Is(err, storage.ErrConflict) {
					fail(step, "Put(%s, IfMatch %s) not matching the head: %v, want ErrConflict", k, ifMatch, err)
				}
				break
			}
			if err != nil {
				fail(step, "Put(%s, IfMatch %s): %v", k, ifMatch, err)
			}
			m[b][k] = append(m[b][k], mVersion{v.VersionID, c, v.Created})
		case p < 50:
			op = "delete"
			v, err := st.Delete(ctx, b, k, storage.DeleteOptions{})
			if !m.live(b, k) {
				if !errors.Is(err, storage.ErrNotFound) {
					fail(step, "Delete(%s) without a live head: %v, want ErrNotFound", k, err)
				}
				break
			}
			if err != nil {
				fail(step, "Delete(%s): %v", k, err)
			}
			m[b][k] = append(m[b][k], mVersion{v.VersionID, -1, v.Created})
		case p < 60:
			op = "restore"
			vs := m[b][k]
			if len(vs) == 0 {
				break
			}
			old := vs[r.IntN(len(vs))]
			v, err := st.Restore(ctx, b, k, old.id)
			if old.content < 0 {
				if err == nil {
					fail(step, "Restore(%s) of a delete marker succeeded", k)
				}
				break
			}
			if err != nil {
				fail(step, "Restore(%s, %s): %v", k, old.id, err)
			}
			m[b][k] = append(m[b][k], mVersion{v.VersionID, old.content, v.Created})
		case p < 73:
			op = "remove"
			vs := m[b][k]
			if len(vs) == 0 || r.IntN(10) == 0 {
				id := "0d9e5cc4-7b30-4d43-9d7e-1a1f3b7c2a11"
				if err := st.RemoveVersion(ctx, b, k, id); !errors.Is(err, storage.ErrNotFound) {
					fail(step, "RemoveVersion(%s, unknown): %v, want ErrNotFound", k, err)
				}
				break
			}
			i := r.IntN(len(vs))
			if err := st.RemoveVersion(ctx, b, k, vs[i].id); err != nil {
				fail(step, "RemoveVersion(%s, %s): %v", k, vs[i].id, err)
			}
			m[b][k] = slices.Delete(vs, i, i+1)
		case p < 86:
			op = "copy"
			db := buckets[r.IntN(len(buckets))]
			dk := modelKeys[r.IntN(len(modelKeys))]
			v, err := st.Copy(ctx, storage.CopySource{Bucket: b, Key: k}, db, dk, storage.PutOptions{Size: -1})
			if !m.live(b, k) {
				if !errors.Is(err, storage.ErrNotFound) {
					fail(step, "Copy(%s) without a live head: %v, want ErrNotFound", k, err)
				}
				break
			}
			if err != nil {
				fail(step, "Copy(%s -> %s): %v", k, dk, err)
			}
			h, _ := m.head(b, k)
			m[db][dk] = append(m[db][dk], mVersion{v.VersionID, h.content, v.Created})
		case p < 92:
			op = "move"
			dk := modelKeys[r.IntN(len(modelKeys))]
			if dk == k {
				break
			}
			err := st.Move(ctx, b, k, dk)
			if !m.live(b, k) {
				if !errors.Is(err, storage.ErrNotFound) {
					fail(step, "Move(%s) without a live head: %v, want ErrNotFound", k, err)
				}
				break
			}
			if err != nil {
				fail(step, "Move(%s -> %s): %v", k, dk, err)
			}
			// A move is a new head at dst sharing the file and a delete
			// marker at src; Move returns neither, so read them back.
			h, _ := m.head(b, k)
			nv, err := st.Stat(ctx, b, dk, "")
			if err != nil {
				fail(step, "Stat(%s) after a move to it: %v", dk, err)
			}
			vs, err := st.Versions(ctx, b, k)
			if err != nil || len(vs) == 0 || !vs[0].DeleteMarker() {
				fail(step, "Versions(%s) after moving it away: %v, want a delete marker first", k, err)
			}
			m[b][dk] = append(m[b][dk], mVersion{nv.VersionID, h.content, nv.Created})
			m[b][k] = append(m[b][k], mVersion{vs[0].VersionID, -1, vs[0].Created})
		case p < 95:
			op = "snapshot"
			if len(buckets) >= 5 {
				break
			}
			sb, err := st.Snapshot(ctx, b, storage.BucketOptions{})
			if err != nil {
				fail(step, "Snapshot: %v", err)
			}
			buckets = append(buckets, sb.ID)
			m[sb.ID] = map[string][]mVersion{}
			res, err := st.List(ctx, sb.ID, storage.ListOptions{})
			if err != nil {
				fail(step, "List(snapshot): %v", err)
			}
			for _, v := range res.Objects {
				h, ok := m.head(b, v.Key)
				if !ok || h.content < 0 {
					fail(step, "snapshot has %s, not live in the source", v.Key)
				}
				m[sb.ID][v.Key] = []mVersion{{v.VersionID, h.content, v.Created}}
			}
		default:
			op = "reopen"
			if err := st.Close(); err != nil {
				fail(step, "Close: %v", err)
			}
			if st, err = storage.Open(dir, opts); err != nil {
				fail(step, "reopen: %v", err)
			}
		}
		if err := checkModel(t, st, m, buckets, pool, r); err != nil {
			fail(step, "after %s of %s: %v", op, k, err)
		}
	}
}

// checkModel compares every bucket of the store with the model.
func checkModel(t *testing.T, st storage.ObjectStore, m model, buckets []string, pool [][]byte, r *rand.Rand) error {
	ctx := t.Context()
	fileOf := map[int]string{} // content -> the one file instance holding it
	for _, b := range buckets {
		// Heads, through the listing.
		res, err := st.List(ctx, b, storage.ListOptions{})
		if err != nil {
			return fmt.Errorf("List: %w", err)
		}
		var got, want []string
		for _, v := range res.Objects {
			got = append(got, v.Key+"@"+v.VersionID)
		}
		for k := range m[b] {
			if h, ok := m.head(b, k); ok && h.content >= 0 {
				want = append(want, k+"@"+h.id)
			}
		}
		sort.Strings(want)
		if !slices.Equal(got, want) {
			return fmt.Errorf("bucket %s lists %v, model %v", b, got, want)
		}
		if err := checkAt(t, st, m, b, r); err != nil {
			return err
		}
		bk, err := st.GetBucket(ctx, b)
		if err != nil {
			return err
		}
		if want := m.size(b, pool); bk.Size != want {
			return fmt.Errorf("bucket %s size %d, model %d", b, bk.Size, want)
		}
		for _, k := range modelKeys {
			mvs := m[b][k]
			vs, err := st.Versions(ctx, b, k)
			if err != nil && !(errors.Is(err, storage.ErrNotFound) && len(mvs) == 0) {
				return fmt.Errorf("Versions(%s): %w", k, err)
			}
			if len(vs) != len(mvs) {
				return fmt.Errorf("Versions(%s): %d versions, model %d", k, len(vs), len(mvs))
			}
			for i, v := range vs {
				mv := mvs[len(mvs)-1-i]
				if v.VersionID != mv.id || v.DeleteMarker() != (mv.content < 0) || v.IsHead != (i == 0) {
					return fmt.Errorf("Versions(%s)[%d] = %s marker=%v head=%v, model %s marker=%v",
						k, i, v.VersionID, v.DeleteMarker(), v.IsHead, mv.id, mv.content < 0)
				}
				if mv.content >= 0 {
					if v.File.BLAKE3 != blake3Hex(pool[mv.content]) {
						return fmt.Errorf("%s@%s has checksum %s, want that of content %d", k, v.VersionID, v.File.BLAKE3, mv.content)
					}
					if f, ok := fileOf[mv.content]; ok && f != v.File.ID {
						return fmt.Errorf("content %d in two files %s and %s (no dedup)", mv.content, f, v.File.ID)
					}
					fileOf[mv.content] = v.File.ID
				}
			}
			_, err = st.Stat(ctx, b, k, "")
			if live := len(mvs) > 0 && mvs[len(mvs)-1].content >= 0; live != (err == nil) {
				return fmt.Errorf("Stat(%s) live=%v, err %v", k, live, err)
			}
			// Read one random version's bytes.
			if len(mvs) > 0 {
				mv := mvs[r.IntN(len(mvs))]
				rc, _, err := st.Get(ctx, b, k, mv.id, 0, -1)
				if mv.content < 0 {
					if !errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("Get of marker %s: %v, want ErrNotFound", mv.id, err)
					}
					continue
				}
				if err != nil {
					return fmt.Errorf("Get(%s@%s): %w", k, mv.id, err)
				}
				data, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(data, pool[mv.content]) {
					return fmt.Errorf("Get(%s@%s): %d bytes, %v; want content %d", k, mv.id, len(data), err, mv.content)
				}
			}
		}
	}
	return nil
}

// checkAt lists bucket b as of a random moment between two of its versions'
// creation times (never on one, where "at or before" would be a matter of
// clock resolution) and compares with the model: per key the newest
// remaining version created before that moment, absent if it is a marker.
func checkAt(t *testing.T, st storage.ObjectStore, m model, b string, r *rand.Rand) error {
	var times []time.Time
	for _, vs := range m[b] {
		for _, v := range vs {
			times = append(times, v.created)
		}
	}
	if len(times) == 0 {
		return nil
	}
	slices.SortFunc(times, time.Time.Compare)
	times = slices.CompactFunc(times, time.Time.Equal)
	i := r.IntN(len(times))
	at := times[i].Add(-time.Microsecond)
	if i > 0 {
		at = times[i-1].Add(times[i].Sub(times[i-1]) / 2)
	}
	var want []string
	for k, vs := range m[b] {
		for j := len(vs) - 1; j >= 0; j-- {
			if vs[j].created.Before(at) {
				if vs[j].content >= 0 {
					want = append(want, k+"@"+vs[j].id)
				}
				break
			}
		}
	}
	sort.Strings(want)
	res, err := st.List(t.Context(), b, storage.ListOptions{At: at})
	if err != nil {
		return fmt.Errorf("List(At): %w", err)
	}
	var got []string
	for _, v := range res.Objects {
		got = append(got, v.Key+"@"+v.VersionID)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("bucket %s as of %v lists %v, model %v", b, at, got, want)
	}
	return nil
}
