package metadata

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// VersionRecord is an ObjectVersion as stored: its position among the
// versions of its key (Seq, larger is newer) travels with it.
type VersionRecord struct {
	ObjectVersion
	Seq uint64 `json:"seq"`
}

// FileRecord is a FileInstance as stored, with the location holding its blob.
type FileRecord struct {
	FileInstance
	Location string `json:"location_id"`
	// Inline files keep their bytes in the index (FileData), not in a
	// location: small files then cost no blob and no extra fsync.
	Inline bool `json:"inline,omitempty"`
}

// MultipartRecord is a Multipart as stored, with the options of the version
// it will create and the location of its blob.
type MultipartRecord struct {
	Multipart
	Location string            `json:"location_id"`
	Mimetype string            `json:"mimetype,omitempty"`
	IfMatch  string            `json:"if_match,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Attrs    map[string]string `json:"attrs,omitempty"`
}

// getJSON reads a record: binary for the hot types (records_codec.go),
// JSON for the others and for hot records written before the binary form.
func getJSON(tx Tx, key []byte, v any) error {
	b, err := tx.Get(key)
	if err != nil {
		return err
	}
	return unmarshalRecord(key, b, v)
}

// unmarshalRecord decodes a stored record found under key.
func unmarshalRecord(key, b []byte, v any) error {
	if err := decodeRecord(b, v); err != nil {
		return fmt.Errorf("%w: %q: %v", ErrCorrupt, key, err)
	}
	return nil
}

// setJSON writes a record in its stored form (see getJSON).
func setJSON(tx Tx, key []byte, v any) error {
	b, err := encodeRecord(v)
	if err != nil {
		return err
	}
	return tx.Set(key, b)
}

// IsNotFound reports whether err is ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// --- locations ---

// GetLocation reads a location by id.
func GetLocation(tx Tx, id string) (*Location, error) {
	var l Location
	if err := getJSON(tx, cat(pLocation, id), &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// PutLocation writes a location.
func PutLocation(tx Tx, l *Location) error { return setJSON(tx, cat(pLocation, l.ID), l) }

// ListLocations returns every location, by id.
func ListLocations(tx Tx) ([]*Location, error) {
	var out []*Location
	err := tx.Iterate([]byte(pLocation), nil, false, func(k, v []byte) (bool, error) {
		var l Location
		if err := json.Unmarshal(v, &l); err != nil {
			return false, fmt.Errorf("%w: %q: %v", ErrCorrupt, k, err)
		}
		out = append(out, &l)
		return true, nil
	})
	return out, err
}

// --- buckets ---

// GetBucket reads a bucket by id (deleted ones too).
func GetBucket(tx Tx, id string) (*Bucket, error) {
	var b Bucket
	if err := getJSON(tx, cat(pBucket, id), &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// PutBucket writes a bucket record (not its name index).
func PutBucket(tx Tx, b *Bucket) error { return setJSON(tx, cat(pBucket, b.ID), b) }

// DeleteBucketRecord removes a bucket record.
func DeleteBucketRecord(tx Tx, id string) error { return tx.Delete(cat(pBucket, id)) }

// BucketIDByName resolves a bucket name.
func BucketIDByName(tx Tx, name string) (string, error) {
	b, err := tx.Get(cat(pBucketName, name))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// SetBucketName maps name to id; DeleteBucketName removes the mapping.
func SetBucketName(tx Tx, name, id string) error { return tx.Set(cat(pBucketName, name), []byte(id)) }

// DeleteBucketName removes a name mapping.
func DeleteBucketName(tx Tx, name string) error { return tx.Delete(cat(pBucketName, name)) }

// ListBuckets returns every bucket record, deleted ones included.
func ListBuckets(tx Tx) ([]*Bucket, error) {
	var out []*Bucket
	err := tx.Iterate([]byte(pBucket), nil, false, func(k, v []byte) (bool, error) {
		var b Bucket
		if err := unmarshalRecord(k, v, &b); err != nil {
			return false, err
		}
		out = append(out, &b)
		return true, nil
	})
	return out, err
}

// --- files ---

// GetFile reads a file record.
func GetFile(tx Tx, id string) (*FileRecord, error) {
	var f FileRecord
	if err := getJSON(tx, cat(pFile, id), &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// PutFile writes a file record and keeps its dedup and fixity indexes.
// prev is the record being replaced (nil for a new file).
func PutFile(tx Tx, f, prev *FileRecord) error {
	if prev != nil {
		if err := tx.Delete(fixityKey(checkNS(prev.LastCheckAt), prev.ID)); err != nil {
			return err
		}
	}
	if f.BLAKE3 != "" && f.Readable {
		if err := tx.Set(cat(pFileSum, f.BLAKE3), []byte(f.ID)); err != nil {
			return err
		}
	}
	if f.Readable {
		if err := tx.Set(fixityKey(checkNS(f.LastCheckAt), f.ID), nil); err != nil {
			return err
		}
	}
	return setJSON(tx, cat(pFile, f.ID), f)
}

// DeleteFile removes a file record and its index entries.
func DeleteFile(tx Tx, f *FileRecord) error {
	if f.BLAKE3 != "" {
		if id, err := FileByBLAKE3(tx, f.BLAKE3); err == nil && id == f.ID {
			if err := tx.Delete(cat(pFileSum, f.BLAKE3)); err != nil {
				return err
			}
		}
	}
	if err := tx.Delete(fixityKey(checkNS(f.LastCheckAt), f.ID)); err != nil {
		return err
	}
	if f.Inline {
		if err := tx.Delete(cat(pFileData, f.ID)); err != nil {
			return err
		}
	}
	return tx.Delete(cat(pFile, f.ID))
}

// PutFileData stores the bytes of an inline file.
func PutFileData(tx Tx, fileID string, data []byte) error {
	return tx.Set(cat(pFileData, fileID), data)
}

// GetFileData returns the bytes of an inline file.
func GetFileData(tx Tx, fileID string) ([]byte, error) {
	return tx.Get(cat(pFileData, fileID))
}

func checkNS(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

// FileByBLAKE3 returns the id of the readable file with that checksum.
func FileByBLAKE3(tx Tx, sum string) (string, error) {
	b, err := tx.Get(cat(pFileSum, sum))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// FileReferenced reports whether any version uses the file.
func FileReferenced(tx Tx, fileID string) (bool, error) {
	found := false
	err := tx.Iterate(cat(pFileRef, fileID, "/"), nil, false, func(k, v []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}

// FileVersions returns the ids of the versions using the file.
func FileVersions(tx Tx, fileID string) ([]string, error) {
	p := cat(pFileRef, fileID, "/")
	var out []string
	err := tx.Iterate(p, nil, false, func(k, v []byte) (bool, error) {
		out = append(out, string(k[len(p):]))
		return true, nil
	})
	return out, err
}

// ListFiles calls fn for every file record in id order.
func ListFiles(tx Tx, fn func(f *FileRecord) (bool, error)) error {
	return tx.Iterate([]byte(pFile), nil, false, func(k, v []byte) (bool, error) {
		var f FileRecord
		if err := unmarshalRecord(k, v, &f); err != nil {
			return false, err
		}
		return fn(&f)
	})
}

// FixityQueue returns up to max readable file ids, least recently checked first.
func FixityQueue(tx Tx, max int) ([]string, error) {
	var out []string
	err := tx.Iterate([]byte(pFixity), nil, false, func(k, v []byte) (bool, error) {
		if len(k) < len(pFixity)+9 {
			return true, nil
		}
		out = append(out, string(k[len(pFixity)+9:]))
		return len(out) < max, nil
	})
	return out, err
}
