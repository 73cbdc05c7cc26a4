package metadata

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The hot records (VersionRecord, including its FileInstance; FileRecord;
// Bucket) are stored in a compact binary form: decoding JSON was about a
// third of the CPU of a small download. A record starts with a format byte:
// codecV1 for the layout below, '{' for JSON written by earlier versions,
// which is still read, so old data directories open unchanged and their
// records move to the binary form as they are rewritten.
//
// Layout v1 (after the format byte): fields in declaration order; strings
// and maps are uvarint lengths and bytes, integers varints (sizes zigzag),
// booleans a flags byte, times a flag byte (0 zero time, 1 set) then
// seconds (varint) and nanoseconds (uvarint) since the Unix epoch, read
// back in UTC. Decoding converts the record's bytes to one string and
// slices every string field out of it: one allocation for all of them.
const codecV1 = 0x01

// errShort is wrapped in ErrCorrupt when a record ends early.
var errShort = errors.New("record truncated")

// encodeRecord returns the stored form of v; only the hot record types
// have a binary form, the others stay JSON.
func encodeRecord(v any) ([]byte, error) {
	var e enc
	switch r := v.(type) {
	case *VersionRecord:
		e.b = make([]byte, 0, 256)
		e.b = append(e.b, codecV1)
		e.version(r)
	case *FileRecord:
		e.b = make([]byte, 0, 256)
		e.b = append(e.b, codecV1)
		e.fileRecord(r)
	case *Bucket:
		e.b = make([]byte, 0, 192)
		e.b = append(e.b, codecV1)
		e.bucket(r)
	default:
		return json.Marshal(v)
	}
	return e.b, nil
}

// decodeRecord fills v from its stored form (binary or JSON).
func decodeRecord(b []byte, v any) error {
	if len(b) == 0 || b[0] != codecV1 {
		return json.Unmarshal(b, v)
	}
	d := dec{s: string(b[1:])}
	switch r := v.(type) {
	case *VersionRecord:
		d.version(r)
	case *FileRecord:
		d.fileRecord(r)
	case *Bucket:
		d.bucket(r)
	default:
		return fmt.Errorf("binary record for a %T", v)
	}
	if d.err == nil && d.i != len(d.s) {
		d.err = fmt.Errorf("%d trailing bytes", len(d.s)-d.i)
	}
	return d.err
}

type enc struct{ b []byte }

func (e *enc) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *enc) int(n int64) { e.b = binary.AppendVarint(e.b, n) }

func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.b = binary.AppendVarint(e.b, t.Unix())
	e.b = binary.AppendUvarint(e.b, uint64(t.Nanosecond()))
}

func (e *enc) strMap(m map[string]string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(m)))
	for k, v := range m {
		e.str(k)
		e.str(v)
	}
}

func (e *enc) flags(bits ...bool) {
	var f byte
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	e.b = append(e.b, f)
}

func (e *enc) file(f *FileInstance) {
	e.str(f.ID)
	e.str(f.URI)
	e.int(f.Size)
	e.str(f.MD5)
	e.str(f.BLAKE3)
	check := byte(0) // LastCheck: 0 nil, 1 false, 2 true
	if f.LastCheck != nil {
		check = 1
		if *f.LastCheck {
			check = 2
		}
	}
	e.flags(f.Readable, f.Writable)
	e.b = append(e.b, check)
	e.str(f.StorageClass)
	e.time(f.LastCheckAt)
}

func (e *enc) version(v *VersionRecord) {
	e.str(v.VersionID)
	e.str(v.BucketID)
	e.str(v.Key)
	if v.File == nil {
		e.b = append(e.b, 0)
	} else {
		e.b = append(e.b, 1)
		e.file(v.File)
	}
	e.str(v.Mimetype)
	e.flags(v.IsHead)
	e.strMap(v.Tags)
	e.strMap(v.Attrs)
	e.time(v.Created)
	e.time(v.Updated)
	e.b = binary.AppendUvarint(e.b, v.Seq)
}

func (e *enc) fileRecord(f *FileRecord) {
	e.file(&f.FileInstance)
	e.str(f.Location)
	e.flags(f.Inline)
}

func (e *enc) bucket(b *Bucket) {
	e.str(b.ID)
	e.str(b.Name)
	e.str(b.Location)
	e.str(b.StorageClass)
	e.int(b.Size)
	e.int(b.QuotaSize)
	e.int(b.MaxFileSize)
	e.flags(b.Locked, b.Deleted)
	e.strMap(b.Tags)
	e.time(b.Created)
	e.time(b.Updated)
}

// dec reads the v1 layout; the first error sticks and later reads return
// zero values, so decoders need not check after every field.
type dec struct {
	s   string
	i   int
	err error
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.i = len(d.s)
}

func (d *dec) byte() byte {
	if d.i >= len(d.s) {
		d.fail(errShort)
		return 0
	}
	c := d.s[d.i]
	d.i++
	return c
}

func (d *dec) uvarint() uint64 {
	var x uint64
	var shift uint
	for n := 0; n < binary.MaxVarintLen64; n++ {
		if d.i >= len(d.s) {
			d.fail(errShort)
			return 0
		}
		c := d.s[d.i]
		d.i++
		if c < 0x80 {
			if n == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail(errors.New("varint overflows 64 bits"))
	return 0
}

func (d *dec) int() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *dec) str() string {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.i) {
		d.fail(errShort)
		return ""
	}
	s := d.s[d.i : d.i+int(n)]
	d.i += int(n)
	return s
}

func (d *dec) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.fail(errors.New("bad time flag"))
		return time.Time{}
	}
	sec := d.int()
	ns := d.uvarint()
	if ns >= 1e9 {
		d.fail(errors.New("nanoseconds out of range"))
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (d *dec) strMap() map[string]string {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	// Each entry takes at least two bytes: a corrupt count cannot make
	// us allocate more than the record could hold.
	if n > uint64(len(d.s)-d.i)/2 {
		d.fail(errShort)
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *dec) flags(n int) byte {
	f := d.byte()
	if f>>n != 0 {
		d.fail(fmt.Errorf("unknown flags %#x", f))
	}
	return f
}

func (d *dec) file(f *FileInstance) {
	f.ID = d.str()
	f.URI = d.str()
	f.Size = d.int()
	f.MD5 = d.str()
	f.BLAKE3 = d.str()
	fl := d.flags(2)
	f.Readable, f.Writable = fl&1 != 0, fl&2 != 0
	switch d.byte() {
	case 0:
	case 1:
		f.LastCheck = new(bool)
	case 2:
		t := true
		f.LastCheck = &t
	default:
		d.fail(errors.New("bad last_check"))
	}
	f.StorageClass = d.str()
	f.LastCheckAt = d.time()
}

func (d *dec) version(v *VersionRecord) {
	v.VersionID = d.str()
	v.BucketID = d.str()
	v.Key = d.str()
	switch d.byte() {
	case 0:
	case 1:
		v.File = new(FileInstance)
		d.file(v.File)
	default:
		d.fail(errors.New("bad file flag"))
	}
	v.Mimetype = d.str()
	v.IsHead = d.flags(1)&1 != 0
	v.Tags = d.strMap()
	v.Attrs = d.strMap()
	v.Created = d.time()
	v.Updated = d.time()
	v.Seq = d.uvarint()
}

func (d *dec) fileRecord(f *FileRecord) {
	d.file(&f.FileInstance)
	f.Location = d.str()
	f.Inline = d.flags(1)&1 != 0
}

func (d *dec) bucket(b *Bucket) {
	b.ID = d.str()
	b.Name = d.str()
	b.Location = d.str()
	b.StorageClass = d.str()
	b.Size = d.int()
	b.QuotaSize = d.int()
	b.MaxFileSize = d.int()
	fl := d.flags(2)
	b.Locked, b.Deleted = fl&1 != 0, fl&2 != 0
	b.Tags = d.strMap()
	b.Created = d.time()
	b.Updated = d.time()
}
