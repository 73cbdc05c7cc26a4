package storage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"sort"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/metadata"
)

// partRange returns bytes [start, end) of part n, or an error when n is
// out of range. A last part of full size (size an exact multiple of the
// part size) is accepted: the upstream defect (spec §8.3) is not reproduced.
func partRange(m *Multipart, n int) (start, end int64, err error) {
	if n < 0 || n >= m.Parts() {
		return 0, 0, fmt.Errorf("%w: part number %d, allowed 0..%d", ErrInvalid, n, m.Parts()-1)
	}
	start = int64(n) * m.PartSize
	return start, min(start+m.PartSize, m.Size), nil
}

// InitMultipart starts an upload in parts (spec §8.1): it allocates the
// final blob at full size and reserves size in the bucket.
func (s *Store) InitMultipart(ctx context.Context, bucket, key string, size, partSize int64, opts PutOptions) (*Multipart, error) {
	wrapErr := func(err error) error { return fmt.Errorf("init multipart %s/%s: %w", bucket, key, err) }
	if err := ValidateKey(key); err != nil {
		return nil, wrapErr(err)
	}
	if err := validateTags(opts.Tags); err != nil {
		return nil, wrapErr(err)
	}
	switch {
	case partSize < s.opts.MinPartSize || partSize > s.opts.MaxPartSize:
		return nil, wrapErr(fmt.Errorf("%w: part size %d, allowed %d..%d", ErrInvalid, partSize, s.opts.MinPartSize, s.opts.MaxPartSize))
	case size <= s.opts.MinPartSize:
		return nil, wrapErr(fmt.Errorf("%w: size %d, a multipart upload must be larger than %d bytes", ErrInvalid, size, s.opts.MinPartSize))
	case size > partSize*int64(s.opts.MaxParts):
		return nil, wrapErr(fmt.Errorf("%w: size %d needs more than %d parts of %d bytes", ErrInvalid, size, s.opts.MaxParts, partSize))
	}
	var b *Bucket
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		if b, err = writableBucket(tx, bucket); err != nil {
			return err
		}
		return checkSize(b, size)
	}); err != nil {
		return nil, wrapErr(err)
	}
	be, err := s.backend(b.Location)
	if err != nil {
		return nil, wrapErr(err)
	}
	fileID := uuid.NewString()
	s.addPending(fileID)
	defer s.donePending(fileID)
	if err := be.Allocate(ctx, fileID, size); err != nil {
		return nil, wrapErr(mapBlobErr(err))
	}
	var out *Multipart
	err = s.c.do(func(tx metadata.Tx, c *txCtx) error {
		b, err := writableBucket(tx, bucket)
		if err != nil {
			return err
		}
		if err := checkSize(b, size); err != nil {
			return err
		}
		t := now()
		f := &metadata.FileRecord{
			FileInstance: FileInstance{ID: fileID, URI: blobURI(be, fileID), Size: size, Writable: true, StorageClass: b.StorageClass},
			Location:     b.Location,
		}
		if err := metadata.PutFile(tx, f, nil); err != nil {
			return err
		}
		m := &metadata.MultipartRecord{
			Multipart: Multipart{UploadID: uuid.NewString(), BucketID: b.ID, Key: key, Size: size, PartSize: partSize, FileID: fileID, Created: t, Updated: t},
			Location:  b.Location, Mimetype: opts.Mimetype, IfMatch: opts.IfMatch,
			Tags: maps.Clone(opts.Tags), Attrs: maps.Clone(opts.Attrs),
		}
		if err := metadata.PutMultipart(tx, m); err != nil {
			return err
		}
		b.Size += size // the reservation (spec §7.6)
		out = &m.Multipart
		return metadata.PutBucket(tx, b)
	})
	if err != nil {
		be.Remove(context.WithoutCancel(ctx), fileID)
		return nil, wrapErr(err)
	}
	return out, nil
}

// getUpload reads an upload whose bucket still exists (locked is fine: part
// upload, complete and abort are allowed on locked buckets, spec §7.5).
func getUpload(tx metadata.Tx, uploadID string) (*metadata.MultipartRecord, *Bucket, error) {
	m, err := metadata.GetMultipart(tx, uploadID)
	if metadata.IsNotFound(err) {
		return nil, nil, fmt.Errorf("upload %s: %w", uploadID, ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	b, err := resolveBucket(tx, m.BucketID)
	if err != nil {
		return nil, nil, fmt.Errorf("upload %s: %w", uploadID, ErrNotFound)
	}
	return m, b, nil
}

// UploadPart writes part n in place at its offset and fdatasyncs it before
// recording it; a part may be uploaded again until the upload completes.
func (s *Store) UploadPart(ctx context.Context, uploadID string, n int, r io.Reader, size int64) (*Part, error) {
	var p *Part
	err := s.uploads.shared(uploadID, func() error {
		var err error
		p, err = s.uploadPart(ctx, uploadID, n, r, size)
		return err
	})
	return p, err
}

func (s *Store) uploadPart(ctx context.Context, uploadID string, n int, r io.Reader, size int64) (*Part, error) {
	wrapErr := func(err error) error { return fmt.Errorf("upload part %d of %s: %w", n, uploadID, err) }
	var m *metadata.MultipartRecord
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		m, _, err = getUpload(tx, uploadID)
		return err
	}); err != nil {
		return nil, wrapErr(err)
	}
	if m.Completed {
		return nil, wrapErr(fmt.Errorf("%w: upload already completed", ErrConflict))
	}
	start, end, err := partRange(&m.Multipart, n)
	if err != nil {
		return nil, wrapErr(err)
	}
	if size != end-start {
		return nil, wrapErr(fmt.Errorf("%w: part %d must have %d bytes, got %d", ErrInvalid, n, end-start, size))
	}
	be, err := s.backend(m.Location)
	if err != nil {
		return nil, wrapErr(err)
	}
	rh := s.hashes.get(&m.Multipart, be)
	if rh != nil {
		rh.writing(n)
	}
	lr := &limitedReader{r: r, limit: size, err: fmt.Errorf("%w: part body longer than %d bytes", ErrInvalid, size), ctx: ctx}
	body := &partBody{r: lr, md5: md5.New(), left: size}
	written, err := be.WriteAt(ctx, m.FileID, start, body)
	if err == nil && written < size {
		err = fmt.Errorf("%w: got %d of %d bytes", ErrShortBody, written, size)
	}
	if err != nil {
		return nil, wrapErr(mapBlobErr(err))
	}
	t := now()
	p := &Part{Number: n, Start: start, End: end, Checksum: "md5:" + hex.EncodeToString(body.md5.Sum(nil)), Created: t, Updated: t}
	err = s.c.do(func(tx metadata.Tx, c *txCtx) error {
		m, _, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		if m.Completed {
			return fmt.Errorf("%w: upload already completed", ErrConflict)
		}
		return metadata.PutPart(tx, uploadID, p)
	})
	if err != nil {
		return nil, wrapErr(err)
	}
	if rh != nil {
		rh.recorded(n)
	}
	return p, nil
}

// GetMultipart returns an upload (completed ones too, with VersionID).
func (s *Store) GetMultipart(ctx context.Context, uploadID string) (*Multipart, error) {
	var out *Multipart
	err := s.view(func(tx metadata.Tx) error {
		m, _, err := getUpload(tx, uploadID)
		if err == nil {
			out = &m.Multipart
		}
		return err
	})
	return out, err
}

// ListParts returns the uploaded parts by number.
func (s *Store) ListParts(ctx context.Context, uploadID string) ([]*Part, error) {
	var out []*Part
	err := s.view(func(tx metadata.Tx) error {
		if _, _, err := getUpload(tx, uploadID); err != nil {
			return err
		}
		var err error
		out, err = metadata.Parts(tx, uploadID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list parts: %w", err)
	}
	return out, nil
}

// ListMultiparts returns a bucket's uploads, oldest first.
func (s *Store) ListMultiparts(ctx context.Context, bucket string) ([]*Multipart, error) {
	var out []*Multipart
	err := s.view(func(tx metadata.Tx) error {
		b, err := resolveBucket(tx, bucket)
		if err != nil {
			return err
		}
		ids, err := metadata.BucketMultiparts(tx, b.ID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			m, err := metadata.GetMultipart(tx, id)
			if err != nil {
				return err
			}
			out = append(out, &m.Multipart)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list uploads of %s: %w", bucket, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// CompleteMultipart checks that every part is there, hashes the assembled
// blob once (MD5 and BLAKE3), and then records the new head in O(1): the
// upload's file instance becomes the version's file.
func (s *Store) CompleteMultipart(ctx context.Context, uploadID string) (*ObjectVersion, error) {
	var v *ObjectVersion
	err := s.uploads.exclusive(uploadID, func() error {
		var err error
		v, err = s.completeMultipart(ctx, uploadID)
		return err
	})
	return v, err
}

func (s *Store) completeMultipart(ctx context.Context, uploadID string) (*ObjectVersion, error) {
	wrapErr := func(err error) error { return fmt.Errorf("complete upload %s: %w", uploadID, err) }
	var m *metadata.MultipartRecord
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		if m, _, err = getUpload(tx, uploadID); err != nil {
			return err
		}
		if m.Completed {
			return fmt.Errorf("%w: upload already completed", ErrConflict)
		}
		parts, err := metadata.Parts(tx, uploadID)
		if err != nil {
			return err
		}
		if len(parts) != m.Parts() {
			return fmt.Errorf("%w: %d of %d parts uploaded", ErrConflict, len(parts), m.Parts())
		}
		return nil
	}); err != nil {
		return nil, wrapErr(err)
	}
	be, err := s.backend(m.Location)
	if err != nil {
		return nil, wrapErr(err)
	}
	r, err := be.Open(ctx, m.FileID)
	if err != nil {
		return nil, wrapErr(mapBlobErr(err))
	}
	md5sum, b3sum, ok, err := "", "", false, error(nil)
	if rh := s.hashes.take(uploadID); rh != nil {
		// Most of the blob was hashed while the parts arrived.
		md5sum, b3sum, ok, err = rh.finish(r)
	}
	if !ok && err == nil {
		md5sum, b3sum, err = hashReaderAt(r, m.Size)
	}
	r.Close()
	if err != nil {
		return nil, wrapErr(mapBlobErr(err))
	}
	o := origin(ctx)
	var out *ObjectVersion
	err = s.c.do(func(tx metadata.Tx, c *txCtx) error {
		m, b, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		if m.Completed {
			return fmt.Errorf("%w: upload already completed", ErrConflict)
		}
		head, err := metadata.GetHead(tx, b.ID, m.Key)
		if err != nil && !metadata.IsNotFound(err) {
			return err
		}
		if err := checkIfMatch(m.IfMatch, head); err != nil {
			return err
		}
		prev, err := metadata.GetFile(tx, m.FileID)
		if err != nil {
			return err
		}
		file := *prev
		file.MD5, file.BLAKE3, file.Readable, file.Writable = md5sum, b3sum, true, false
		f, err := s.linkOrAddFileReplacing(tx, c, &file, prev, be)
		if err != nil {
			return err
		}
		v := newVersion(b.ID, m.Key, &f.FileInstance, PutOptions{Mimetype: m.Mimetype, Tags: m.Tags, Attrs: m.Attrs}, c.versionSeq(headSeq(head)))
		if err := metadata.AddVersion(tx, v, head); err != nil {
			return err
		}
		// The reservation becomes the version's size: net zero (spec §7.6).
		m.Completed, m.VersionID, m.Updated = true, v.VersionID, now()
		if err := metadata.PutMultipart(tx, m); err != nil {
			return err
		}
		out = &v.ObjectVersion
		return c.emit(tx, versionEvent(EventCompleteMultipart, b, v, o))
	})
	if err != nil {
		return nil, wrapErr(err)
	}
	return out, nil
}

// linkOrAddFileReplacing is linkOrAddFile for a file record that already
// exists (an upload's): a duplicate drops the upload's record and blob.
func (s *Store) linkOrAddFileReplacing(tx metadata.Tx, c *txCtx, file, prev *metadata.FileRecord, be interface {
	Remove(context.Context, string) error
}) (*metadata.FileRecord, error) {
	if id, err := metadata.FileByBLAKE3(tx, file.BLAKE3); err == nil && id != file.ID {
		if f, err := metadata.GetFile(tx, id); err == nil && f.Readable && f.Size == file.Size {
			if err := metadata.DeleteFile(tx, prev); err != nil {
				return nil, err
			}
			dropID := file.ID
			c.onCommit(func() { be.Remove(context.Background(), dropID) })
			return f, nil
		}
	}
	return file, metadata.PutFile(tx, file, prev)
}

// AbortMultipart drops an incomplete upload: its reservation is given back
// and its blob freed. A completed upload cannot be aborted (ErrConflict).
func (s *Store) AbortMultipart(ctx context.Context, uploadID string) error {
	if err := s.dropMultipart(ctx, uploadID, true); err != nil {
		return fmt.Errorf("abort upload %s: %w", uploadID, err)
	}
	return nil
}

// dropMultipart removes an upload. An incomplete one gives back its size
// reservation and frees its blob; a completed one (only with !mustBeOpen)
// just loses its records, its file belonging to the version it made.
func (s *Store) dropMultipart(ctx context.Context, uploadID string, mustBeOpen bool) error {
	if rh := s.hashes.take(uploadID); rh != nil {
		rh.drop()
	}
	return s.c.do(func(tx metadata.Tx, c *txCtx) error {
		m, err := metadata.GetMultipart(tx, uploadID)
		if metadata.IsNotFound(err) {
			return fmt.Errorf("upload %s: %w", uploadID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if m.Completed && mustBeOpen {
			return fmt.Errorf("%w: upload already completed", ErrConflict)
		}
		b, err := metadata.GetBucket(tx, m.BucketID)
		if err != nil && !metadata.IsNotFound(err) {
			return err
		}
		if mustBeOpen && (b == nil || b.Deleted) {
			return fmt.Errorf("upload %s: %w", uploadID, ErrNotFound)
		}
		if err := metadata.DeleteMultipart(tx, m); err != nil {
			return err
		}
		if m.Completed {
			return nil
		}
		if b != nil {
			b.Size -= m.Size
			if err := metadata.PutBucket(tx, b); err != nil {
				return err
			}
		}
		return s.releaseFile(tx, c, m.FileID)
	})
}
