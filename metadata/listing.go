package metadata

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// ListQuery selects one page of a bucket listing.
type ListQuery struct {
	Prefix    string
	Delimiter string
	// After is the Next of the previous page.
	After string
	Limit int // <= 0: 1000
	// Versions lists every version with a file instead of the heads.
	Versions bool
	// At lists the heads as they were at that time (newest version created
	// at or before At; keys whose version then was a marker are absent).
	At time.Time
}

// ListPage is one page of a listing.
type ListPage struct {
	Objects  []*VersionRecord
	Prefixes []string
	Next     string // "" at the end
}

// DefaultListLimit is the page size when none is given.
const DefaultListLimit = 1000

// List lists a bucket. With a delimiter, each common prefix is reported
// once and the scan then seeks past every key under it, so the cost of a
// page depends on the page, not on how many keys the bucket holds.
func List(tx Tx, bucketID string, q ListQuery) (*ListPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	mode := modeHeads
	base := pLive + bucketID + "/"
	if q.Versions || !q.At.IsZero() {
		base = pVersion + bucketID + "/"
		mode = modeVersions
		if !q.At.IsZero() {
			mode = modeAt
		}
	}
	l := lister{tx: tx, q: q, mode: mode, base: base, limit: limit, page: &ListPage{}}
	start := l.startAfter()
	for start != nil {
		next, err := l.scan(start)
		if err != nil {
			return nil, err
		}
		start = next
	}
	return l.page, nil
}

const (
	modeHeads = iota
	modeVersions
	modeAt
)

type lister struct {
	tx    Tx
	q     ListQuery
	mode  int
	base  string
	limit int
	page  *ListPage
	count int
	last  string // cursor of the last entry emitted
	done  bool
	// modeAt: the key whose as-of version has been decided.
	decided    string
	hasDecided bool
}

func (l *lister) startAfter() []byte {
	a := l.q.After
	if a == "" {
		return []byte(l.base + l.q.Prefix)
	}
	if k, seq, ok := strings.Cut(a, "\x00"); ok && l.mode == modeVersions {
		raw, err := hex.DecodeString(seq)
		if err == nil && len(raw) == 8 {
			return []byte(l.base + k + "\x00" + string(raw) + "\x00")
		}
		a = k
	}
	if d := l.q.Delimiter; d != "" && strings.HasPrefix(a, l.q.Prefix) && strings.Contains(a[len(l.q.Prefix):], d) {
		return PrefixEnd([]byte(l.base + a))
	}
	if l.mode == modeHeads {
		return []byte(l.base + a + "\x00")
	}
	return []byte(l.base + a + "\x01")
}

// scan iterates from start; it returns where to seek next (nil when done).
func (l *lister) scan(start []byte) ([]byte, error) {
	var reseek []byte
	err := l.tx.Iterate([]byte(l.base+l.q.Prefix), start, false, func(k, val []byte) (bool, error) {
		rest := string(k[len(l.base):])
		key, seq := rest, ""
		if l.mode != modeHeads {
			if len(rest) < 9 || rest[len(rest)-9] != 0 {
				return false, fmt.Errorf("%w: version key %q", ErrCorrupt, k)
			}
			key, seq = rest[:len(rest)-9], rest[len(rest)-8:]
		}
		if d := l.q.Delimiter; d != "" {
			if i := strings.Index(key[len(l.q.Prefix):], d); i >= 0 {
				cp := key[:len(l.q.Prefix)+i+len(d)]
				if !l.emit(nil, cp, cp) {
					return false, nil
				}
				reseek = PrefixEnd([]byte(l.base + cp))
				return false, nil
			}
		}
		if l.mode == modeAt && l.hasDecided && l.decided == key {
			return true, nil
		}
		var r VersionRecord
		if err := unmarshalRecord(k, val, &r); err != nil {
			return false, err
		}
		switch l.mode {
		case modeHeads:
			return l.emit(&r, "", key), nil
		case modeVersions:
			if r.File == nil {
				return true, nil
			}
			return l.emit(&r, "", key+"\x00"+hex.EncodeToString([]byte(seq))), nil
		default:
			if r.Created.After(l.q.At) {
				return true, nil
			}
			l.decided, l.hasDecided = key, true
			if r.File == nil {
				return true, nil
			}
			return l.emit(&r, "", key), nil
		}
	})
	if err != nil || l.done {
		return nil, err
	}
	return reseek, nil
}

// emit adds an object or a common prefix; false once the page is full.
func (l *lister) emit(v *VersionRecord, prefix, cursor string) bool {
	if l.count == l.limit {
		l.page.Next = l.last
		l.done = true
		return false
	}
	if v != nil {
		l.page.Objects = append(l.page.Objects, v)
	} else {
		l.page.Prefixes = append(l.page.Prefixes, prefix)
	}
	l.count++
	l.last = cursor
	return true
}
