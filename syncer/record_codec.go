package syncer

import (
	"encoding/binary"
	"encoding/json"
	"errors"
)

// Journal records are stored in a compact binary form: a no-op rescan
// reads every record of the folder, and decoding 100k JSON records cost
// more than the walk it overlaps. Records written as JSON by earlier
// versions (they start with '{') are still read.
const recordV1 = 0x01

var errBadRecord = errors.New("sync journal: malformed record")

func encodeRecord(r *record) []byte {
	b := make([]byte, 0, 1+6*binary.MaxVarintLen64+len(r.Hash)+len(r.Key)+len(r.VersionID)+8)
	b = append(b, recordV1)
	b = binary.AppendUvarint(b, r.Stat.Dev)
	b = binary.AppendUvarint(b, r.Stat.Ino)
	b = binary.AppendVarint(b, r.Stat.Size)
	b = binary.AppendVarint(b, r.Stat.MtimeNs)
	b = binary.AppendVarint(b, r.Stat.CtimeNs)
	b = binary.AppendUvarint(b, uint64(r.Stat.Mode))
	for _, s := range []string{r.Hash, r.Key, r.VersionID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	c := byte(0)
	if r.Conflict {
		c = 1
	}
	return append(b, c)
}

func decodeRecord(b []byte, r *record) error {
	if len(b) > 0 && b[0] == '{' {
		return json.Unmarshal(b, r)
	}
	if len(b) == 0 || b[0] != recordV1 {
		return errBadRecord
	}
	d := recordDecoder{b: b[1:]}
	r.Stat.Dev = d.uvarint()
	r.Stat.Ino = d.uvarint()
	r.Stat.Size = d.varint()
	r.Stat.MtimeNs = d.varint()
	r.Stat.CtimeNs = d.varint()
	r.Stat.Mode = uint32(d.uvarint())
	r.Hash = d.str()
	r.Key = d.str()
	r.VersionID = d.str()
	if d.bad || len(d.b) != 1 {
		return errBadRecord
	}
	r.Conflict = d.b[0] == 1
	return nil
}

type recordDecoder struct {
	b   []byte
	bad bool
}

func (d *recordDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordDecoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
