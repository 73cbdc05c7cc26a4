package syncer

import (
	"encoding/json"
	"testing"
)

func TestRecordCodecRoundTripAndJSON(t *testing.T) {
	recs := []record{
		{},
		{Stat: statTuple{Dev: 2049, Ino: 1 << 40, Size: 5 << 30, MtimeNs: -1, CtimeNs: 1733500000123456789, Mode: 0o100644},
			Hash: "blake3:abc", Key: "dir/ä ö/f.txt", VersionID: "v-1", Conflict: true},
		{Hash: "link:../x", Key: "l"},
	}
	for _, r := range recs {
		var got record
		if err := decodeRecord(encodeRecord(&r), &got); err != nil || got != r {
			t.Fatalf("binary round trip of %+v: %+v, %v", r, got, err)
		}
		j, _ := json.Marshal(r)
		got = record{}
		if err := decodeRecord(j, &got); err != nil || got != r {
			t.Fatalf("JSON record %s read as %+v, %v", j, got, err)
		}
		b := encodeRecord(&r)
		for n := 0; n < len(b); n++ {
			if err := decodeRecord(b[:n], &got); err == nil {
				t.Fatalf("truncated record (%d of %d bytes) accepted", n, len(b))
			}
		}
	}
}
