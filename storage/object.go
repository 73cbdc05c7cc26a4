package storage

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
)

func seqTime(seq uint64) time.Time { return time.Unix(0, int64(seq)).UTC() }

// findVersion resolves (bucket, key, versionID) in tx; versionID "" is the
// head, and a head that is a delete marker is not found.
func findVersion(tx metadata.Tx, b *Bucket, key, versionID string) (*metadata.VersionRecord, error) {
	if versionID == "" {
		h, err := metadata.GetHead(tx, b.ID, key)
		if metadata.IsNotFound(err) || err == nil && h.File == nil {
			return nil, ErrNotFound
		}
		return h, err
	}
	v, err := metadata.GetVersion(tx, versionID)
	if metadata.IsNotFound(err) || err == nil && (v.BucketID != b.ID || v.Key != key) {
		return nil, fmt.Errorf("version %s: %w", versionID, ErrNotFound)
	}
	return v, err
}

// writableVersion resolves a version named by id (never the head by
// default) in a bucket that may be modified: RemoveVersion and Restore.
func writableVersion(tx metadata.Tx, bucket, key, versionID string) (*Bucket, *metadata.VersionRecord, error) {
	b, err := writableBucket(tx, bucket)
	if err != nil {
		return nil, nil, err
	}
	if versionID == "" {
		return nil, nil, fmt.Errorf("%w: empty version id", ErrInvalid)
	}
	v, err := findVersion(tx, b, key, versionID)
	if err != nil {
		return nil, nil, err
	}
	return b, v, nil
}

// Stat returns the head (a marker head is ErrNotFound) or a given version.
func (s *Store) Stat(ctx context.Context, bucket, key, versionID string) (*ObjectVersion, error) {
	var out *ObjectVersion
	err := s.view(func(tx metadata.Tx) error {
		b, err := resolveBucket(tx, bucket)
		if err != nil {
			return err
		}
		v, err := findVersion(tx, b, key, versionID)
		if err != nil {
			return err
		}
		out = &v.ObjectVersion
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stat %s/%s: %w", bucket, key, err)
	}
	return out, nil
}

// Versions returns every version of key, newest first, markers included.
func (s *Store) Versions(ctx context.Context, bucket, key string) ([]*ObjectVersion, error) {
	var out []*ObjectVersion
	err := s.view(func(tx metadata.Tx) error {
		b, err := resolveBucket(tx, bucket)
		if err != nil {
			return err
		}
		vs, err := metadata.Versions(tx, b.ID, key)
		for _, v := range vs {
			out = append(out, &v.ObjectVersion)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("versions %s/%s: %w", bucket, key, err)
	}
	return out, nil
}

// List returns a page of heads, of every file version (opts.Versions), or
// of the heads as of opts.At; see metadata.List for the cursor rules.
func (s *Store) List(ctx context.Context, bucket string, opts ListOptions) (*ListResult, error) {
	if opts.Limit < 0 {
		return nil, fmt.Errorf("list %s: %w: negative limit", bucket, ErrInvalid)
	}
	var out *ListResult
	err := s.view(func(tx metadata.Tx) error {
		b, err := resolveBucket(tx, bucket)
		if err != nil {
			return err
		}
		page, err := metadata.List(tx, b.ID, metadata.ListQuery{
			Prefix: opts.Prefix, Delimiter: opts.Delimiter, After: opts.After, Limit: opts.Limit,
			Versions: opts.Versions, At: opts.At,
		})
		if err != nil {
			return err
		}
		out = &ListResult{Prefixes: page.Prefixes, Next: page.Next}
		for _, v := range page.Objects {
			out.Objects = append(out.Objects, &v.ObjectVersion)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", bucket, err)
	}
	return out, nil
}

// Delete writes a delete marker as the new head; the bucket size does not
// change, since the deleted version stays.
func (s *Store) Delete(ctx context.Context, bucket, key string, opts DeleteOptions) (*ObjectVersion, error) {
	o := origin(ctx)
	var out *ObjectVersion
	err := s.writeOp(ctx, opts.NoSync, func(tx metadata.Tx, c *txCtx) error {
		b, err := writableBucket(tx, bucket)
		if err != nil {
			return err
		}
		head, err := metadata.GetHead(tx, b.ID, key)
		if metadata.IsNotFound(err) || err == nil && head.File == nil {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := checkIfMatch(opts.IfMatch, head); err != nil {
			return err
		}
		m := newVersion(b.ID, key, nil, PutOptions{Mimetype: head.Mimetype}, c.versionSeq(head.Seq))
		if err := metadata.AddVersion(tx, m, head); err != nil {
			return err
		}
		out = &m.ObjectVersion
		return c.emit(tx, versionEvent(EventDeleteMarker, b, m, o))
	})
	if err != nil {
		return nil, fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return out, nil
}

// dropVersion removes a version record and, when its file is no longer
// used by any version or upload, the file record, freeing the blob after
// commit. Bucket size is the caller's business.
func (s *Store) dropVersion(tx metadata.Tx, c *txCtx, v *metadata.VersionRecord) error {
	if _, err := metadata.RemoveVersion(tx, v); err != nil {
		return err
	}
	if v.File == nil {
		return nil
	}
	return s.releaseFile(tx, c, v.File.ID)
}

// releaseFile deletes an unreferenced file record and frees its blob after commit.
func (s *Store) releaseFile(tx metadata.Tx, c *txCtx, fileID string) error {
	used, err := metadata.FileReferenced(tx, fileID)
	if err != nil || used {
		return err
	}
	f, err := metadata.GetFile(tx, fileID)
	if metadata.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := metadata.DeleteFile(tx, f); err != nil {
		return err
	}
	if f.Inline {
		return nil // its bytes went with the record
	}
	loc := f.Location
	c.onCommit(func() {
		if be, err := s.backend(loc); err == nil {
			if err := be.Remove(context.Background(), fileID); err != nil {
				s.log.Warn("free blob", "file", fileID, "err", err)
			}
		}
	})
	return nil
}

// RemoveVersion deletes one version for good (a marker too); the head
// moves to the newest remaining version; the file is freed once unused.
func (s *Store) RemoveVersion(ctx context.Context, bucket, key, versionID string) error {
	o := origin(ctx)
	err := s.writeOp(ctx, false, func(tx metadata.Tx, c *txCtx) error {
		b, v, err := writableVersion(tx, bucket, key, versionID)
		if err != nil {
			return err
		}
		if err := s.dropVersion(tx, c, v); err != nil {
			return err
		}
		b.Size -= v.Size()
		if err := metadata.PutBucket(tx, b); err != nil {
			return err
		}
		return c.emit(tx, versionEvent(EventDelete, b, v, o))
	})
	if err != nil {
		return fmt.Errorf("remove %s/%s version %s: %w", bucket, key, versionID, err)
	}
	return nil
}

// Restore makes a copy of a version (sharing its file) the new head.
func (s *Store) Restore(ctx context.Context, bucket, key, versionID string) (*ObjectVersion, error) {
	o := origin(ctx)
	var out *ObjectVersion
	err := s.writeOp(ctx, false, func(tx metadata.Tx, c *txCtx) error {
		b, v, err := writableVersion(tx, bucket, key, versionID)
		if err != nil {
			return err
		}
		if v.File == nil {
			return fmt.Errorf("%w: version %s is a delete marker", ErrInvalid, versionID)
		}
		head, err := metadata.GetHead(tx, b.ID, key)
		if err != nil {
			return err
		}
		// Restoring the head itself is allowed (Invenio refuses it): it
		// just makes another identical head, and callers need not race.
		if err := checkSize(b, v.Size()); err != nil {
			return err
		}
		nv := copyVersion(v, b.ID, key, c.versionSeq(head.Seq))
		nv.Mimetype = v.Mimetype
		if err := metadata.AddVersion(tx, nv, head); err != nil {
			return err
		}
		b.Size += nv.Size()
		if err := metadata.PutBucket(tx, b); err != nil {
			return err
		}
		out = &nv.ObjectVersion
		return c.emit(tx, versionEvent(EventRestore, b, nv, o))
	})
	if err != nil {
		return nil, fmt.Errorf("restore %s/%s version %s: %w", bucket, key, versionID, err)
	}
	return out, nil
}

// Copy makes a new head at dst sharing the source version's file; the
// destination's quota is checked since its size grows.
func (s *Store) Copy(ctx context.Context, src CopySource, dstBucket, dstKey string, opts PutOptions) (*ObjectVersion, error) {
	wrapErr := func(err error) error {
		return fmt.Errorf("copy %s/%s to %s/%s: %w", src.Bucket, src.Key, dstBucket, dstKey, err)
	}
	if err := ValidateKey(dstKey); err != nil {
		return nil, wrapErr(err)
	}
	if err := validateTags(opts.Tags); err != nil {
		return nil, wrapErr(err)
	}
	o := origin(ctx)
	var out *ObjectVersion
	err := s.writeOp(ctx, opts.NoSync, func(tx metadata.Tx, c *txCtx) error {
		sb, err := resolveBucket(tx, src.Bucket)
		if err != nil {
			return err
		}
		v, err := findVersion(tx, sb, src.Key, src.VersionID)
		if err != nil {
			return err
		}
		if v.File == nil {
			return fmt.Errorf("%w: cannot copy a delete marker", ErrInvalid)
		}
		db, err := writableBucket(tx, dstBucket)
		if err != nil {
			return err
		}
		if err := checkSize(db, v.Size()); err != nil {
			return err
		}
		head, err := metadata.GetHead(tx, db.ID, dstKey)
		if err != nil && !metadata.IsNotFound(err) {
			return err
		}
		if err := checkIfMatch(opts.IfMatch, head); err != nil {
			return err
		}
		nv := copyVersion(v, db.ID, dstKey, c.versionSeq(headSeq(head)))
		if opts.Mimetype != "" {
			nv.Mimetype = opts.Mimetype
		}
		if opts.Tags != nil {
			nv.Tags = maps.Clone(opts.Tags)
		}
		if opts.Attrs != nil {
			nv.Attrs = maps.Clone(opts.Attrs)
		}
		if err := metadata.AddVersion(tx, nv, head); err != nil {
			return err
		}
		db.Size += nv.Size()
		if err := metadata.PutBucket(tx, db); err != nil {
			return err
		}
		out = &nv.ObjectVersion
		return c.emit(tx, versionEvent(EventCopy, db, nv, o))
	})
	if err != nil {
		return nil, wrapErr(err)
	}
	return out, nil
}

// SetAttrs replaces the attributes of a version in place.
func (s *Store) SetAttrs(ctx context.Context, bucket, key, versionID string, attrs map[string]string) (*ObjectVersion, error) {
	var out *ObjectVersion
	err := s.writeOp(ctx, false, func(tx metadata.Tx, c *txCtx) error {
		b, err := writableBucket(tx, bucket)
		if err != nil {
			return err
		}
		v, err := findVersion(tx, b, key, versionID)
		if err != nil {
			return err
		}
		v.Attrs = maps.Clone(attrs)
		v.Updated = now()
		out = &v.ObjectVersion
		if err := metadata.UpdateVersion(tx, v); err != nil {
			return err
		}
		// Mounts cache attributes for long: tell them.
		return c.emit(tx, versionEvent(EventAttrs, b, v, origin(ctx)))
	})
	if err != nil {
		return nil, fmt.Errorf("set attributes of %s/%s: %w", bucket, key, err)
	}
	return out, nil
}
