package metadata

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func randString(r *rand.Rand) string {
	const chars = "abcXYZ019/._-\x00\xff é漢"
	n := r.IntN(12)
	if r.IntN(8) == 0 {
		n = 200 + r.IntN(200)
	}
	var b strings.Builder
	for range n {
		b.WriteByte(chars[r.IntN(len(chars))])
	}
	return b.String()
}

func randMap(r *rand.Rand) map[string]string {
	n := r.IntN(4)
	if n == 0 {
		return nil
	}
	m := map[string]string{}
	for range n {
		m[randString(r)] = randString(r)
	}
	return m
}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(5) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(-r.Int64N(1<<35), r.Int64N(1e9)).UTC()
	}
	return time.Unix(r.Int64N(1<<34), r.Int64N(1e9)).UTC()
}

func randInt(r *rand.Rand) int64 {
	switch r.IntN(5) {
	case 0:
		return 0
	case 1:
		return math.MaxInt64
	case 2:
		return -r.Int64()
	}
	return r.Int64N(1 << 40)
}

func randFile(r *rand.Rand) FileInstance {
	f := FileInstance{
		ID: randString(r), URI: randString(r), Size: randInt(r), MD5: randString(r), BLAKE3: randString(r),
		Readable: r.IntN(2) == 0, Writable: r.IntN(2) == 0, StorageClass: randString(r), LastCheckAt: randTime(r),
	}
	if k := r.IntN(3); k > 0 {
		b := k == 2
		f.LastCheck = &b
	}
	return f
}

func randVersion(r *rand.Rand) *VersionRecord {
	v := &VersionRecord{ObjectVersion: ObjectVersion{
		VersionID: randString(r), BucketID: randString(r), Key: randString(r), Mimetype: randString(r),
		IsHead: r.IntN(2) == 0, Tags: randMap(r), Attrs: randMap(r), Created: randTime(r), Updated: randTime(r),
	}, Seq: r.Uint64()}
	if r.IntN(4) > 0 {
		f := randFile(r)
		v.File = &f
	}
	return v
}

func randBucket(r *rand.Rand) *Bucket {
	return &Bucket{
		ID: randString(r), Name: randString(r), Location: randString(r), StorageClass: randString(r),
		Size: randInt(r), QuotaSize: randInt(r), MaxFileSize: randInt(r), Locked: r.IntN(2) == 0,
		Deleted: r.IntN(2) == 0, Tags: randMap(r), Created: randTime(r), Updated: randTime(r),
	}
}

func randRecord(r *rand.Rand) any {
	switch r.IntN(3) {
	case 0:
		return randVersion(r)
	case 1:
		return &FileRecord{FileInstance: randFile(r), Location: randString(r), Inline: r.IntN(2) == 0}
	}
	return randBucket(r)
}

func roundTrip(t *testing.T, in any) {
	t.Helper()
	b, err := encodeRecord(in)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != codecV1 {
		t.Fatalf("%T encoded with format byte %#x", in, b[0])
	}
	out := reflect.New(reflect.TypeOf(in).Elem()).Interface()
	if err := decodeRecord(b, out); err != nil {
		t.Fatalf("decode %T: %v", in, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip of %T:\n in  %+v\n out %+v", in, in, out)
	}
	// Every strict prefix is a truncated record, never a silent success.
	for n := 1; n < len(b); n++ {
		if err := decodeRecord(b[:n], reflect.New(reflect.TypeOf(in).Elem()).Interface()); err == nil {
			t.Fatalf("%T truncated to %d of %d bytes decoded without error", in, n, len(b))
		}
	}
}

func TestRecordCodecRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		roundTrip(t, randRecord(r))
	}
	// Zero values of each type.
	roundTrip(t, &VersionRecord{})
	roundTrip(t, &FileRecord{})
	roundTrip(t, &Bucket{})
}

// TestRecordCodecReadsJSON: records written as JSON by earlier versions
// decode to the same values, so old data directories still open.
func TestRecordCodecReadsJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		in := randRecord(r)
		// JSON carries UTF-8 only; keep the strings it can carry unchanged.
		js, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		want := reflect.New(reflect.TypeOf(in).Elem()).Interface()
		if err := json.Unmarshal(js, want); err != nil {
			t.Fatal(err)
		}
		got := reflect.New(reflect.TypeOf(in).Elem()).Interface()
		if err := decodeRecord(js, got); err != nil {
			t.Fatalf("decode JSON %T: %v", in, err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("JSON %s:\n want %+v\n got  %+v", js, want, got)
		}
		// Rewriting a JSON record in the binary form keeps it equal.
		roundTrip(t, got)
	}
}

// TestOldJSONRecordsInDB: a DB whose hot records are JSON (an earlier
// version's) reads them through the model functions and rewrites them binary.
func TestOldJSONRecordsInDB(t *testing.T) {
	db := NewMemory()
	f := FileInstance{ID: "f1", URI: "inline:f1", Size: 3, MD5: "md5:x", BLAKE3: "blake3:y", Readable: true, StorageClass: "S"}
	v := &VersionRecord{ObjectVersion: ObjectVersion{VersionID: "v1", BucketID: "b1", Key: "k", File: &f, IsHead: true,
		Created: time.Unix(100, 5).UTC(), Updated: time.Unix(100, 5).UTC()}, Seq: 1}
	b := &Bucket{ID: "b1", Location: "l", StorageClass: "S", Created: time.Unix(1, 0).UTC()}
	fr := &FileRecord{FileInstance: f, Location: "l", Inline: true}
	err := db.Update(func(tx Tx) error {
		for key, rec := range map[string]any{
			string(VersionKey("b1", "k", 1)): v, string(LiveKey("b1", "k")): v,
			pBucket + "b1": b, pFile + "f1": fr,
		} {
			js, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := tx.Set([]byte(key), js); err != nil {
				return err
			}
		}
		if err := tx.Set(HeadKey("b1", "k"), VersionKey("b1", "k", 1)); err != nil {
			return err
		}
		return tx.Set([]byte(pVersionID+"v1"), VersionKey("b1", "k", 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx Tx) error {
		h, err := GetHead(tx, "b1", "k")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(h, v) {
			t.Errorf("head %+v, want %+v", h, v)
		}
		gb, err := GetBucket(tx, "b1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(gb, b) {
			t.Errorf("bucket %+v, want %+v", gb, b)
		}
		gf, err := GetFile(tx, "f1")
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(gf, fr) {
			t.Errorf("file %+v, want %+v", gf, fr)
		}
		var live []*VersionRecord
		if err := LiveHeads(tx, "b1", "", func(r *VersionRecord) (bool, error) { live = append(live, r); return true, nil }); err != nil {
			return err
		}
		if len(live) != 1 || !reflect.DeepEqual(live[0], v) {
			t.Errorf("live heads %+v", live)
		}
		h.Tags = map[string]string{"a": "b"}
		return UpdateVersion(tx, h)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx Tx) error {
		raw, err := tx.Get(VersionKey("b1", "k", 1))
		if err != nil {
			return err
		}
		if raw[0] != codecV1 {
			t.Errorf("rewritten version record starts with %q, want the binary form", raw[0])
		}
		h, err := GetVersion(tx, "v1")
		if err != nil {
			return err
		}
		if h.Tags["a"] != "b" || h.File == nil || h.File.BLAKE3 != "blake3:y" {
			t.Errorf("rewritten version %+v", h)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzRecordDecode: arbitrary bytes never panic; what decodes re-encodes
// and decodes to the same value.
func FuzzRecordDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		b, _ := encodeRecord(randRecord(r))
		f.Add(b)
	}
	f.Add([]byte{codecV1})
	f.Add([]byte(`{"id":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range []any{&VersionRecord{}, &FileRecord{}, &Bucket{}} {
			if decodeRecord(data, v) != nil || len(data) == 0 || data[0] != codecV1 {
				continue
			}
			b, err := encodeRecord(v)
			if err != nil {
				t.Fatal(err)
			}
			again := reflect.New(reflect.TypeOf(v).Elem()).Interface()
			if err := decodeRecord(b, again); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			if !reflect.DeepEqual(v, again) {
				t.Fatalf("re-decode differs:\n %+v\n %+v", v, again)
			}
		}
	})
}
