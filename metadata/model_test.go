package metadata

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func FuzzVersionKey(f *testing.F) {
	f.Add("b1", "a/b.txt", uint64(1), "a", uint64(2))
	f.Add("0b8c", "", uint64(0), "\x01", ^uint64(0))
	f.Add("x", "dir/", uint64(1<<40), "dir", uint64(5))
	f.Fuzz(func(t *testing.T, bucket, key string, seq uint64, key2 string, seq2 uint64) {
		if strings.ContainsAny(bucket, "/\x00") || bucket == "" || strings.IndexByte(key, 0) >= 0 || strings.IndexByte(key2, 0) >= 0 {
			t.Skip()
		}
		k := VersionKey(bucket, key, seq)
		b, kk, s, err := DecodeVersionKey(k)
		if err != nil || b != bucket || kk != key || s != seq {
			t.Fatalf("round trip of (%q,%q,%d) = (%q,%q,%d,%v)", bucket, key, seq, b, kk, s, err)
		}
		if !bytes.HasPrefix(k, VersionsPrefix(bucket, key)) {
			t.Fatalf("version key outside its key's prefix")
		}
		// Order: by key, then newest (largest seq) first.
		k2 := VersionKey(bucket, key2, seq2)
		got := bytes.Compare(k, k2)
		want := strings.Compare(key, key2)
		if want == 0 {
			switch {
			case seq > seq2:
				want = -1
			case seq < seq2:
				want = 1
			}
		}
		if got != want {
			t.Fatalf("order of (%q,%d) vs (%q,%d) = %d, want %d", key, seq, key2, seq2, got, want)
		}
	})
}

func FuzzDecodeVersionKey(f *testing.F) {
	f.Add([]byte("st/v/b/k\x00\x00\x00\x00\x00\x00\x00\x00\x01"))
	f.Add([]byte("st/v/"))
	f.Fuzz(func(t *testing.T, k []byte) {
		b, key, seq, err := DecodeVersionKey(k)
		if err != nil {
			return
		}
		if got := VersionKey(b, key, seq); !bytes.Equal(got, k) {
			t.Fatalf("decode(%q) re-encodes to %q", k, got)
		}
	})
}

// countingTx counts the records a listing reads.
type countingTx struct {
	Tx
	n int
}

func (c *countingTx) Iterate(prefix, start []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	return c.Tx.Iterate(prefix, start, reverse, func(k, v []byte) (bool, error) {
		c.n++
		return fn(k, v)
	})
}

func addVersion(t *testing.T, tx Tx, bucket, key string, seq uint64, marker bool) *VersionRecord {
	t.Helper()
	prev, err := GetHead(tx, bucket, key)
	if IsNotFound(err) {
		prev = nil
	} else if err != nil {
		t.Fatal(err)
	}
	v := &VersionRecord{ObjectVersion: ObjectVersion{
		VersionID: fmt.Sprintf("v-%s-%d", key, seq), BucketID: bucket, Key: key,
		Created: time.Unix(0, int64(seq)),
	}, Seq: seq}
	if !marker {
		v.File = &FileInstance{ID: "f-" + v.VersionID, Size: 1}
	}
	if err := AddVersion(tx, v, prev); err != nil {
		t.Fatal(err)
	}
	return v
}

func listAll(t *testing.T, db DB, bucket string, q ListQuery) (objs, prefixes []string, pages int) {
	t.Helper()
	for {
		var page *ListPage
		db.View(func(tx Tx) error {
			var err error
			page, err = List(tx, bucket, q)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		pages++
		for _, o := range page.Objects {
			objs = append(objs, fmt.Sprintf("%s@%d", o.Key, o.Seq))
		}
		prefixes = append(prefixes, page.Prefixes...)
		if page.Next == "" {
			return
		}
		q.After = page.Next
	}
}

func TestListingModes(t *testing.T) {
	forEachDB(t, func(t *testing.T, db DB) {
		err := db.Update(func(tx Tx) error {
			addVersion(t, tx, "B", "a", 1, false)
			addVersion(t, tx, "B", "a", 5, false)
			addVersion(t, tx, "B", "d/x", 2, false)
			addVersion(t, tx, "B", "d/x", 6, true) // deleted at 6
			addVersion(t, tx, "B", "d/y", 3, false)
			addVersion(t, tx, "B", "e", 4, false)
			addVersion(t, tx, "B", "e", 7, true)
			addVersion(t, tx, "C", "a", 1, false) // another bucket
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			q             ListQuery
			objs, prefixs string
		}{
			{ListQuery{}, "[a@5 d/y@3]", "[]"},
			{ListQuery{Delimiter: "/"}, "[a@5]", "[d/]"},
			{ListQuery{Prefix: "d/"}, "[d/y@3]", "[]"},
			{ListQuery{Versions: true}, "[a@5 a@1 d/x@2 d/y@3 e@4]", "[]"},
			{ListQuery{Versions: true, Delimiter: "/"}, "[a@5 a@1 e@4]", "[d/]"},
			{ListQuery{At: time.Unix(0, 4)}, "[a@1 d/x@2 d/y@3 e@4]", "[]"},
			{ListQuery{At: time.Unix(0, 6)}, "[a@5 d/y@3 e@4]", "[]"},
			{ListQuery{At: time.Unix(0, 0)}, "[]", "[]"},
		} {
			for _, limit := range []int{0, 1, 2} {
				q := c.q
				q.Limit = limit
				objs, prefixes, _ := listAll(t, db, "B", q)
				if fmt.Sprint(objs) != c.objs || fmt.Sprint(prefixes) != c.prefixs {
					t.Errorf("List(%+v) = %v %v, want %s %s", q, objs, prefixes, c.objs, c.prefixs)
				}
			}
		}
	})
}

// TestListingCostIndependentOfBucketSize: listing a folder of 20 keys next
// to a sibling folder of thousands reads about as many records as the page
// holds, however big the sibling is.
func TestListingCostIndependentOfBucketSize(t *testing.T) {
	db := NewMemory()
	defer db.Close()
	var seq uint64
	db.Update(func(tx Tx) error {
		for i := 0; i < 20; i++ {
			seq++
			addVersion(t, tx, "B", fmt.Sprintf("small/f%02d", i), seq, false)
		}
		for i := 0; i < 3000; i++ {
			seq++
			addVersion(t, tx, "B", fmt.Sprintf("big/sub%d/f%d", i%100, i), seq, false)
			seq++
			addVersion(t, tx, "B", fmt.Sprintf("small/sub%d/f%d", i%3, i), seq, false)
		}
		return nil
	})
	db.View(func(tx Tx) error {
		ct := &countingTx{Tx: tx}
		page, err := List(ct, "B", ListQuery{Prefix: "small/", Delimiter: "/"})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Objects) != 20 || len(page.Prefixes) != 3 || page.Next != "" {
			t.Fatalf("page: %d objects, %v prefixes, next %q", len(page.Objects), page.Prefixes, page.Next)
		}
		if ct.n > 30 {
			t.Fatalf("listing read %d records for a page of 23 entries", ct.n)
		}
		ct.n = 0
		page, err = List(ct, "B", ListQuery{Delimiter: "/"})
		if err != nil || len(page.Prefixes) != 2 || ct.n > 5 {
			t.Fatalf("root: %v %v, read %d records", page.Prefixes, err, ct.n)
		}
		return nil
	})
}

func TestVersionChain(t *testing.T) {
	forEachDB(t, func(t *testing.T, db DB) {
		var v1, v2, v3 *VersionRecord
		db.Update(func(tx Tx) error {
			v1 = addVersion(t, tx, "B", "k", 10, false)
			v2 = addVersion(t, tx, "B", "k", 20, false)
			v3 = addVersion(t, tx, "B", "k", 30, true)
			return nil
		})
		check := func(want string, head string) {
			t.Helper()
			db.View(func(tx Tx) error {
				vs, err := Versions(tx, "B", "k")
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, v := range vs {
					got = append(got, fmt.Sprintf("%d:%v", v.Seq, v.IsHead))
				}
				if fmt.Sprint(got) != want {
					t.Fatalf("versions = %v, want %s", got, want)
				}
				h, err := GetHead(tx, "B", "k")
				if head == "" {
					if !IsNotFound(err) {
						t.Fatalf("head = %v, %v; want none", h, err)
					}
				} else if err != nil || h.VersionID != head {
					t.Fatalf("head = %v, %v; want %s", h, err, head)
				}
				live, _ := AnyLiveHead(tx, "B", "k")
				if live != (head != "" && head != v3.VersionID) {
					t.Fatalf("live index = %v with head %s", live, head)
				}
				// The live-head record is the head itself unless that is a marker.
				lh, err := GetLiveHead(tx, "B", "k")
				if live {
					if err != nil || !reflect.DeepEqual(lh, h) {
						t.Fatalf("live head = %+v, %v; want %+v", lh, err, h)
					}
				} else if !IsNotFound(err) {
					t.Fatalf("live head = %v, %v; want none", lh, err)
				}
				return nil
			})
		}
		check("[30:true 20:false 10:false]", v3.VersionID)
		db.Update(func(tx Tx) error {
			nh, err := RemoveVersion(tx, v3)
			if err != nil || nh.VersionID != v2.VersionID {
				t.Fatalf("new head %v %v", nh, err)
			}
			return nil
		})
		check("[20:true 10:false]", v2.VersionID)
		db.Update(func(tx Tx) error {
			if _, err := RemoveVersion(tx, v1); err != nil {
				t.Fatal(err)
			}
			refs, _ := FileVersions(tx, v1.File.ID)
			if len(refs) != 0 {
				t.Fatalf("reverse index still has %v", refs)
			}
			return nil
		})
		check("[20:true]", v2.VersionID)
		db.Update(func(tx Tx) error {
			if nh, err := RemoveVersion(tx, v2); err != nil || nh != nil {
				t.Fatalf("removing the last version: %v %v", nh, err)
			}
			return nil
		})
		check("[]", "")
	})
}

func TestEventsAndCursors(t *testing.T) {
	forEachDB(t, func(t *testing.T, db DB) {
		db.Update(func(tx Tx) error {
			for i := uint64(1); i <= 300; i++ {
				if err := AppendEvent(tx, &Event{Seq: i, Name: EventPut}); err != nil {
					t.Fatal(err)
				}
			}
			return SetCursor(tx, "c", 42)
		})
		db.View(func(tx Tx) error {
			last, err := LastEventSeq(tx)
			if err != nil || last != 300 {
				t.Fatalf("last = %d, %v", last, err)
			}
			evs, _ := ReadEvents(tx, 255, 10)
			if len(evs) != 10 || evs[0].Seq != 256 || evs[9].Seq != 265 {
				t.Fatalf("read after 255: %d events from %d", len(evs), evs[0].Seq)
			}
			if c, _ := GetCursor(tx, "c"); c != 42 {
				t.Fatalf("cursor = %d", c)
			}
			if c, _ := GetCursor(tx, "other"); c != 0 {
				t.Fatalf("unknown cursor = %d", c)
			}
			return nil
		})
		db.Update(func(tx Tx) error {
			n, err := TrimEvents(tx, 100, 1000)
			if err != nil || n != 100 {
				t.Fatalf("trim = %d, %v", n, err)
			}
			return nil
		})
		db.View(func(tx Tx) error {
			evs, _ := ReadEvents(tx, 0, 1)
			if len(evs) != 1 || evs[0].Seq != 101 {
				t.Fatalf("after trim: %v", evs)
			}
			return nil
		})
	})
}
