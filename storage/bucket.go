package storage

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/metadata"
)

// MaxBucketNameLength is the longest bucket name accepted, in bytes.
const MaxBucketNameLength = 100

// validateBucketName checks a bucket name: it becomes a directory name on
// the mount, and must not be mistaken for a bucket id.
func validateBucketName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty bucket name", ErrInvalid)
	case len(name) > MaxBucketNameLength:
		return fmt.Errorf("%w: bucket name has %d bytes, at most %d allowed", ErrInvalid, len(name), MaxBucketNameLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: bucket name is not valid UTF-8", ErrInvalid)
	case name == "." || name == "..":
		return fmt.Errorf("%w: bucket name %q", ErrInvalid, name)
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || unicode.IsControl(r) }):
		return fmt.Errorf("%w: bucket name %q contains / or a control character", ErrInvalid, name)
	case isUUID(name):
		return fmt.Errorf("%w: bucket name %q looks like a bucket id", ErrInvalid, name)
	}
	return nil
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// validateTags checks Invenio's tag limits (key and value at most 255 characters).
func validateTags(tags map[string]string) error {
	for k, v := range tags {
		if k == "" || utf8.RuneCountInString(k) > 255 || utf8.RuneCountInString(v) > 255 {
			return fmt.Errorf("%w: tag %q: keys must be 1..255 and values at most 255 characters", ErrInvalid, k)
		}
	}
	return nil
}

// resolveBucket finds a live (not deleted) bucket by id or name.
func resolveBucket(tx metadata.Tx, ref string) (*Bucket, error) {
	id := ref
	if !isUUID(ref) {
		var err error
		if id, err = metadata.BucketIDByName(tx, ref); err != nil {
			if metadata.IsNotFound(err) {
				return nil, fmt.Errorf("bucket %q: %w", ref, ErrNotFound)
			}
			return nil, err
		}
	}
	b, err := metadata.GetBucket(tx, id)
	if metadata.IsNotFound(err) || err == nil && b.Deleted {
		return nil, fmt.Errorf("bucket %q: %w", ref, ErrNotFound)
	}
	return b, err
}

// writableBucket is resolveBucket that also refuses locked buckets.
func writableBucket(tx metadata.Tx, ref string) (*Bucket, error) {
	b, err := resolveBucket(tx, ref)
	if err != nil {
		return nil, err
	}
	if b.Locked {
		return nil, fmt.Errorf("bucket %q: %w", ref, ErrLocked)
	}
	return b, nil
}

// CreateBucket creates a bucket in opts.Location (default: the default
// location) and records an s3:BucketCreated event.
func (s *Store) CreateBucket(ctx context.Context, opts BucketOptions) (*Bucket, error) {
	if opts.Name != "" {
		if err := validateBucketName(opts.Name); err != nil {
			return nil, fmt.Errorf("create bucket: %w", err)
		}
	}
	if err := validateBucketOptions(opts); err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", opts.Name, err)
	}
	var out *Bucket
	err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
		b, err := newBucket(tx, opts)
		if err != nil {
			return err
		}
		if err := c.emit(tx, &Event{Name: EventBucketCreated, BucketID: b.ID, BucketName: b.Name, Origin: origin(ctx)}); err != nil {
			return err
		}
		out = b
		return nil
	})
	return out, err
}

func validateBucketOptions(opts BucketOptions) error {
	if opts.StorageClass != "" && opts.StorageClass != "S" && opts.StorageClass != "A" {
		return fmt.Errorf("%w: storage class %q, allowed S or A", ErrInvalid, opts.StorageClass)
	}
	if opts.QuotaSize < 0 || opts.MaxFileSize < 0 {
		return fmt.Errorf("%w: negative quota or maximum file size", ErrInvalid)
	}
	return validateTags(opts.Tags)
}

// newBucket writes a bucket record (and its name) inside an op.
func newBucket(tx metadata.Tx, opts BucketOptions) (*Bucket, error) {
	loc, err := pickLocation(tx, opts.Location)
	if err != nil {
		return nil, err
	}
	if opts.Name != "" {
		if _, err := metadata.BucketIDByName(tx, opts.Name); err == nil {
			return nil, fmt.Errorf("create bucket %q: %w", opts.Name, ErrExists)
		} else if !metadata.IsNotFound(err) {
			return nil, err
		}
	}
	t := now()
	b := &Bucket{
		ID: uuid.NewString(), Name: opts.Name, Location: loc.ID, StorageClass: opts.StorageClass,
		QuotaSize: opts.QuotaSize, MaxFileSize: opts.MaxFileSize, Tags: maps.Clone(opts.Tags),
		Created: t, Updated: t,
	}
	if b.StorageClass == "" {
		b.StorageClass = "S"
	}
	if b.Name != "" {
		if err := metadata.SetBucketName(tx, b.Name, b.ID); err != nil {
			return nil, err
		}
	}
	return b, metadata.PutBucket(tx, b)
}

func pickLocation(tx metadata.Tx, ref string) (*Location, error) {
	locs, err := metadata.ListLocations(tx)
	if err != nil {
		return nil, err
	}
	for _, l := range locs {
		if ref == "" && l.Default || ref != "" && (l.ID == ref || l.Name == ref) {
			return l, nil
		}
	}
	return nil, fmt.Errorf("location %q: %w", ref, ErrNotFound)
}

// GetBucket returns a live bucket by id or name.
func (s *Store) GetBucket(ctx context.Context, bucket string) (*Bucket, error) {
	var b *Bucket
	err := s.view(func(tx metadata.Tx) error {
		var err error
		b, err = resolveBucket(tx, bucket)
		return err
	})
	return b, err
}

// ListBuckets returns the live buckets, oldest first.
func (s *Store) ListBuckets(ctx context.Context) ([]*Bucket, error) {
	var out []*Bucket
	err := s.view(func(tx metadata.Tx) error {
		all, err := metadata.ListBuckets(tx)
		for _, b := range all {
			if !b.Deleted {
				out = append(out, b)
			}
		}
		return err
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// UpdateBucket changes lock, limits and tags; it works on locked buckets
// (that is how they are unlocked).
func (s *Store) UpdateBucket(ctx context.Context, bucket string, u BucketUpdate) (*Bucket, error) {
	if u.QuotaSize != nil && *u.QuotaSize < 0 || u.MaxFileSize != nil && *u.MaxFileSize < 0 {
		return nil, fmt.Errorf("update bucket %q: %w: negative quota or maximum file size", bucket, ErrInvalid)
	}
	if err := validateTags(u.Tags); err != nil {
		return nil, fmt.Errorf("update bucket %q: %w", bucket, err)
	}
	var out *Bucket
	err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
		b, err := resolveBucket(tx, bucket)
		if err != nil {
			return err
		}
		if u.Locked != nil {
			b.Locked = *u.Locked
		}
		if u.QuotaSize != nil {
			b.QuotaSize = *u.QuotaSize
		}
		if u.MaxFileSize != nil {
			b.MaxFileSize = *u.MaxFileSize
		}
		if u.Tags != nil {
			b.Tags = maps.Clone(u.Tags)
		}
		b.Updated = now()
		out = b
		return metadata.PutBucket(tx, b)
	})
	return out, err
}

// DeleteBucket soft-deletes a bucket (it becomes invisible and its name
// free); with onlyIfEmpty it refuses while a live head exists.
func (s *Store) DeleteBucket(ctx context.Context, bucket string, onlyIfEmpty bool) error {
	return s.c.do(func(tx metadata.Tx, c *txCtx) error {
		b, err := resolveBucket(tx, bucket)
		if err != nil {
			return err
		}
		if onlyIfEmpty {
			live, err := metadata.AnyLiveHead(tx, b.ID, "")
			if err != nil {
				return err
			}
			if live {
				return fmt.Errorf("delete bucket %q: %w", bucket, ErrNotEmpty)
			}
		}
		return softDelete(tx, c, b, origin(ctx))
	})
}

// softDelete marks a bucket deleted and frees its name for reuse.
func softDelete(tx metadata.Tx, c *txCtx, b *Bucket, o Origin) error {
	b.Deleted = true
	b.Updated = now()
	if b.Name != "" {
		if id, err := metadata.BucketIDByName(tx, b.Name); err == nil && id == b.ID {
			if err := metadata.DeleteBucketName(tx, b.Name); err != nil {
				return err
			}
		}
	}
	if err := metadata.PutBucket(tx, b); err != nil {
		return err
	}
	return c.emit(tx, &Event{Name: EventBucketRemoved, BucketID: b.ID, BucketName: b.Name, Origin: o})
}

// Snapshot creates a new bucket holding a copy of every head of bucket
// (same file instances, no bytes copied). The heads are read from one
// consistent view; the copies are written in transactions of at most
// snapshotChunk keys, so a crash midway leaves a partial snapshot bucket
// (every copy in it whole), never a changed source.
func (s *Store) Snapshot(ctx context.Context, bucket string, opts BucketOptions) (*Bucket, error) {
	wrapErr := func(err error) error { return fmt.Errorf("snapshot %s: %w", bucket, err) }
	if opts.Name != "" {
		if err := validateBucketName(opts.Name); err != nil {
			return nil, wrapErr(err)
		}
	}
	if err := validateBucketOptions(opts); err != nil {
		return nil, wrapErr(err)
	}
	var heads []*metadata.VersionRecord
	var src *Bucket
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		if src, err = resolveBucket(tx, bucket); err != nil {
			return err
		}
		return metadata.LiveHeads(tx, src.ID, "", func(v *metadata.VersionRecord) (bool, error) {
			heads = append(heads, v)
			return true, nil
		})
	}); err != nil {
		return nil, wrapErr(err)
	}
	if opts.Location == "" {
		opts.Location = src.Location
	}
	if opts.StorageClass == "" {
		opts.StorageClass = src.StorageClass
	}
	o := origin(ctx)
	var dst *Bucket
	for first := true; first || len(heads) > 0; first = false {
		chunk := heads[:min(len(heads), snapshotChunk)]
		heads = heads[len(chunk):]
		err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
			var b *Bucket
			var err error
			if first {
				if b, err = newBucket(tx, opts); err != nil {
					return err
				}
				if err := c.emit(tx, &Event{Name: EventBucketCreated, BucketID: b.ID, BucketName: b.Name, Origin: o}); err != nil {
					return err
				}
			} else if b, err = metadata.GetBucket(tx, dst.ID); err != nil {
				return err
			}
			for _, h := range chunk {
				nv := copyVersion(h, b.ID, h.Key, c.versionSeq(0))
				if err := metadata.AddVersion(tx, nv, nil); err != nil {
					return err
				}
				b.Size += nv.Size()
			}
			dst = b
			return metadata.PutBucket(tx, b)
		})
		if err != nil {
			return nil, wrapErr(err)
		}
	}
	return dst, nil
}

// snapshotChunk is how many heads one snapshot transaction copies.
const snapshotChunk = 200

// RemoveBucket removes a bucket permanently with all its versions and
// uploads; blobs no longer referenced are freed. Refused when locked.
func (s *Store) RemoveBucket(ctx context.Context, bucket string) error {
	var id string
	o := origin(ctx)
	// First mark it deleted, so nothing new arrives while it is emptied.
	err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
		// By id a soft-deleted bucket can still be removed for good.
		var b *Bucket
		var err error
		if isUUID(bucket) {
			b, err = metadata.GetBucket(tx, bucket)
		} else {
			b, err = resolveBucket(tx, bucket)
		}
		if err != nil {
			if metadata.IsNotFound(err) {
				return fmt.Errorf("bucket %q: %w", bucket, ErrNotFound)
			}
			return err
		}
		if b.Locked {
			return fmt.Errorf("remove bucket %q: %w", bucket, ErrLocked)
		}
		id = b.ID
		if b.Deleted {
			return nil
		}
		return softDelete(tx, c, b, o)
	})
	if err != nil {
		return err
	}
	var uploads []string
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		uploads, err = metadata.BucketMultiparts(tx, id)
		return err
	}); err != nil {
		return err
	}
	for _, u := range uploads {
		if err := s.dropMultipart(ctx, u, false); err != nil && !isNotFound(err) {
			return err
		}
	}
	// Then remove its versions in bounded transactions.
	for {
		n := 0
		err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
			var vs []*metadata.VersionRecord
			if err := metadata.BucketVersions(tx, id, "", func(v *metadata.VersionRecord) (bool, error) {
				vs = append(vs, v)
				return len(vs) < 500, nil
			}); err != nil {
				return err
			}
			n = len(vs)
			for _, v := range vs {
				if err := s.dropVersion(tx, c, v); err != nil {
					return err
				}
			}
			if n == 0 {
				return metadata.DeleteBucketRecord(tx, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
}
