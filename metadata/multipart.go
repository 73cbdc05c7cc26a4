package metadata

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// GetMultipart reads an upload.
func GetMultipart(tx Tx, uploadID string) (*MultipartRecord, error) {
	var m MultipartRecord
	if err := getJSON(tx, cat(pMultipart, uploadID), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// PutMultipart writes an upload and its bucket index entry.
func PutMultipart(tx Tx, m *MultipartRecord) error {
	if err := tx.Set(cat(pBucketMP, m.BucketID, "/", m.UploadID), nil); err != nil {
		return err
	}
	return setJSON(tx, cat(pMultipart, m.UploadID), m)
}

// DeleteMultipart removes an upload with its parts. It iterates, so call it
// after the transaction's other reads of the parts.
func DeleteMultipart(tx Tx, m *MultipartRecord) error {
	parts, err := Parts(tx, m.UploadID)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := tx.Delete(partKey(m.UploadID, p.Number)); err != nil {
			return err
		}
	}
	if err := tx.Delete(cat(pBucketMP, m.BucketID, "/", m.UploadID)); err != nil {
		return err
	}
	return tx.Delete(cat(pMultipart, m.UploadID))
}

// BucketMultiparts returns the upload ids of a bucket.
func BucketMultiparts(tx Tx, bucketID string) ([]string, error) {
	p := cat(pBucketMP, bucketID, "/")
	var out []string
	err := tx.Iterate(p, nil, false, func(k, v []byte) (bool, error) {
		out = append(out, string(k[len(p):]))
		return true, nil
	})
	return out, err
}

// ListMultiparts calls fn for every upload of every bucket.
func ListMultiparts(tx Tx, fn func(m *MultipartRecord) (bool, error)) error {
	return tx.Iterate([]byte(pMultipart), nil, false, func(k, v []byte) (bool, error) {
		var m MultipartRecord
		if err := json.Unmarshal(v, &m); err != nil {
			return false, fmt.Errorf("%w: %q: %v", ErrCorrupt, k, err)
		}
		return fn(&m)
	})
}

// PutPart records an uploaded part (replacing an earlier upload of it).
func PutPart(tx Tx, uploadID string, p *Part) error {
	return setJSON(tx, partKey(uploadID, p.Number), p)
}

// Parts returns the uploaded parts of an upload by number.
func Parts(tx Tx, uploadID string) ([]*Part, error) {
	var out []*Part
	err := tx.Iterate(cat(pPart, uploadID, "/"), nil, false, func(k, v []byte) (bool, error) {
		var p Part
		if err := json.Unmarshal(v, &p); err != nil {
			return false, fmt.Errorf("%w: %q: %v", ErrCorrupt, k, err)
		}
		out = append(out, &p)
		return true, nil
	})
	return out, err
}

// --- events ---

// AppendEvent writes ev into the outbox under ev.Seq, which the caller
// assigns from its sequencer (larger than every committed event's).
func AppendEvent(tx Tx, ev *Event) error { return setJSON(tx, eventKey(ev.Seq), ev) }

// ReadEvents returns up to limit events with Seq > after, oldest first.
func ReadEvents(tx Tx, after uint64, limit int) ([]Event, error) {
	var out []Event
	err := tx.Iterate([]byte(pEvent), eventKey(after+1), false, func(k, v []byte) (bool, error) {
		var e Event
		if err := json.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("%w: %q: %v", ErrCorrupt, k, err)
		}
		out = append(out, e)
		return len(out) < limit, nil
	})
	return out, err
}

// LastEventSeq returns the newest event's Seq (0 when there is none).
func LastEventSeq(tx Tx) (uint64, error) {
	var seq uint64
	err := tx.Iterate([]byte(pEvent), nil, true, func(k, v []byte) (bool, error) {
		if len(k) == len(pEvent)+8 {
			seq = binary.BigEndian.Uint64(k[len(pEvent):])
		}
		return false, nil
	})
	return seq, err
}

// TrimEvents deletes up to max events with Seq <= upTo; it returns how many.
func TrimEvents(tx Tx, upTo uint64, max int) (int, error) {
	var keys [][]byte
	err := tx.Iterate([]byte(pEvent), nil, false, func(k, v []byte) (bool, error) {
		if len(k) != len(pEvent)+8 || binary.BigEndian.Uint64(k[len(pEvent):]) > upTo {
			return false, nil
		}
		keys = append(keys, append([]byte(nil), k...))
		return len(keys) < max, nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := tx.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// GetCursor returns a consumer's acknowledged seq (0 if none).
func GetCursor(tx Tx, consumer string) (uint64, error) {
	b, err := tx.Get(cat(pCursor, consumer))
	if IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: cursor %q", ErrCorrupt, consumer)
	}
	return binary.BigEndian.Uint64(b), nil
}

// SetCursor stores a consumer's acknowledged seq.
func SetCursor(tx Tx, consumer string, seq uint64) error {
	return tx.Set(cat(pCursor, consumer), []byte(u64(seq)))
}
