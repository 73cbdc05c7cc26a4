package metadata

import (
	"bytes"
	"fmt"
)

// GetHead returns the head of (bucket, key), which may be a delete marker,
// or ErrNotFound when the key has no version at all.
func GetHead(tx Tx, bucketID, key string) (*VersionRecord, error) {
	// The head record is a pointer to the version's record; keeping it
	// small keeps big transactions (directory moves) within badger's limits.
	vk, err := tx.Get(HeadKey(bucketID, key))
	if err != nil {
		return nil, err
	}
	var v VersionRecord
	if err := getJSON(tx, vk, &v); err != nil {
		if IsNotFound(err) {
			return nil, fmt.Errorf("%w: head of %q points to a missing version", ErrCorrupt, key)
		}
		return nil, err
	}
	return &v, nil
}

// GetLiveHead returns the head of (bucket, key) from its live-head record
// (one read, where GetHead takes two), or ErrNotFound when the key has no
// version or its head is a delete marker.
func GetLiveHead(tx Tx, bucketID, key string) (*VersionRecord, error) {
	var v VersionRecord
	if err := getJSON(tx, LiveKey(bucketID, key), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// GetVersion returns a version by id.
func GetVersion(tx Tx, versionID string) (*VersionRecord, error) {
	vk, err := tx.Get(cat(pVersionID, versionID))
	if err != nil {
		return nil, err
	}
	var v VersionRecord
	if err := getJSON(tx, vk, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// AddVersion stores v as the new head of its key. The caller has read the
// previous head (prev, nil if none) and chosen v.Seq greater than its Seq.
func AddVersion(tx Tx, v, prev *VersionRecord) error {
	if prev != nil {
		if v.Seq <= prev.Seq {
			return fmt.Errorf("metadata: version seq %d not after head seq %d of %q", v.Seq, prev.Seq, v.Key)
		}
		p := *prev
		p.IsHead = false
		if err := setJSON(tx, VersionKey(p.BucketID, p.Key, p.Seq), &p); err != nil {
			return err
		}
	}
	v.IsHead = true
	vk := VersionKey(v.BucketID, v.Key, v.Seq)
	if err := setJSON(tx, vk, v); err != nil {
		return err
	}
	if err := tx.Set(cat(pVersionID, v.VersionID), vk); err != nil {
		return err
	}
	if v.File != nil {
		if err := tx.Set(cat(pFileRef, v.File.ID, "/", v.VersionID), []byte(v.BucketID)); err != nil {
			return err
		}
	}
	return setHead(tx, v)
}

func setHead(tx Tx, v *VersionRecord) error {
	if err := tx.Set(HeadKey(v.BucketID, v.Key), VersionKey(v.BucketID, v.Key, v.Seq)); err != nil {
		return err
	}
	if v.File == nil {
		return tx.Delete(LiveKey(v.BucketID, v.Key))
	}
	return setJSON(tx, LiveKey(v.BucketID, v.Key), v)
}

// UpdateVersion rewrites a version in place (attributes, tags).
func UpdateVersion(tx Tx, v *VersionRecord) error {
	if err := setJSON(tx, VersionKey(v.BucketID, v.Key, v.Seq), v); err != nil {
		return err
	}
	if v.IsHead {
		return setHead(tx, v)
	}
	return nil
}

// RemoveVersion deletes one version; when it was the head, the newest
// remaining version becomes the head. It returns the new head (nil if the
// key has no version left).
func RemoveVersion(tx Tx, v *VersionRecord) (*VersionRecord, error) {
	if err := tx.Delete(VersionKey(v.BucketID, v.Key, v.Seq)); err != nil {
		return nil, err
	}
	if err := tx.Delete(cat(pVersionID, v.VersionID)); err != nil {
		return nil, err
	}
	if v.File != nil {
		if err := tx.Delete(cat(pFileRef, v.File.ID, "/", v.VersionID)); err != nil {
			return nil, err
		}
	}
	hk, err := tx.Get(HeadKey(v.BucketID, v.Key))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(hk, VersionKey(v.BucketID, v.Key, v.Seq)) {
		return GetHead(tx, v.BucketID, v.Key)
	}
	// The iterator sees this transaction's deletes made before it.
	var next *VersionRecord
	err = tx.Iterate(VersionsPrefix(v.BucketID, v.Key), nil, false, func(k, val []byte) (bool, error) {
		var r VersionRecord
		if err := unmarshalRecord(k, val, &r); err != nil {
			return false, err
		}
		next = &r
		return false, nil
	})
	if err != nil {
		return nil, err
	}
	if next == nil {
		if err := tx.Delete(HeadKey(v.BucketID, v.Key)); err != nil {
			return nil, err
		}
		return nil, tx.Delete(LiveKey(v.BucketID, v.Key))
	}
	next.IsHead = true
	if err := setJSON(tx, VersionKey(next.BucketID, next.Key, next.Seq), next); err != nil {
		return nil, err
	}
	return next, setHead(tx, next)
}

// Versions returns every version of (bucket, key), newest first.
func Versions(tx Tx, bucketID, key string) ([]*VersionRecord, error) {
	var out []*VersionRecord
	err := tx.Iterate(VersionsPrefix(bucketID, key), nil, false, func(k, val []byte) (bool, error) {
		var r VersionRecord
		if err := unmarshalRecord(k, val, &r); err != nil {
			return false, err
		}
		out = append(out, &r)
		return true, nil
	})
	return out, err
}

// BucketVersions calls fn for every version in the bucket whose key starts
// with prefix, in key order and newest first per key.
func BucketVersions(tx Tx, bucketID, prefix string, fn func(v *VersionRecord) (bool, error)) error {
	return tx.Iterate(cat(pVersion, bucketID, "/", prefix), nil, false, func(k, val []byte) (bool, error) {
		var r VersionRecord
		if err := unmarshalRecord(k, val, &r); err != nil {
			return false, err
		}
		return fn(&r)
	})
}

// LiveHeads calls fn for every live head in the bucket whose key starts with
// prefix, in key order.
func LiveHeads(tx Tx, bucketID, prefix string, fn func(v *VersionRecord) (bool, error)) error {
	return tx.Iterate(cat(pLive, bucketID, "/", prefix), nil, false, func(k, val []byte) (bool, error) {
		var r VersionRecord
		if err := unmarshalRecord(k, val, &r); err != nil {
			return false, err
		}
		return fn(&r)
	})
}

// AnyLiveHead reports whether the bucket has a live head under prefix.
func AnyLiveHead(tx Tx, bucketID, prefix string) (bool, error) {
	found := false
	err := tx.Iterate(cat(pLive, bucketID, "/", prefix), nil, false, func(k, v []byte) (bool, error) {
		found = true
		return false, nil
	})
	return found, err
}
