package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage/blob"
)

// Adopter is an optional ability of stores with local blobs: make a file
// that already holds the whole content (a mount's staging file) the blob of
// a new head version by renaming it, so big files are not written twice.
type Adopter interface {
	Adopt(ctx context.Context, bucket, key, path string, opts AdoptOptions) (*ObjectVersion, error)
}

var _ Adopter = (*Store)(nil)

// AdoptOptions are Put's options plus the checksums the caller may have
// computed while the content was written (so the file is not read again).
type AdoptOptions struct {
	PutOptions // Size is ignored: the file's size is the content's
	// BLAKE3 is "blake3:<hex>" of the file, "" to hash it here. It is
	// trusted: only callers in this process that wrote the file pass it.
	BLAKE3 string
	// MD5 is "md5:<hex>" of the file, "" to compute it as Put would (in
	// a pass here up to Options.InlineMD5Max, else in the background).
	MD5 string
}

// Adopt makes the file at path the content of a new head version of key.
// On success the file is gone from path (it became a blob, or was removed
// because a file with the same BLAKE3 already exists); on error it is left
// where it was, unchanged. The file must not change during the call. When
// path is on another file system than the bucket's blobs, or the content
// is small enough to live inline, it is copied as Put would.
func (s *Store) Adopt(ctx context.Context, bucket, key, path string, opts AdoptOptions) (*ObjectVersion, error) {
	wrapErr := func(err error) error { return fmt.Errorf("adopt %s/%s: %w", bucket, key, err) }
	if err := ValidateKey(key); err != nil {
		return nil, wrapErr(err)
	}
	if err := validateTags(opts.Tags); err != nil {
		return nil, wrapErr(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, wrapErr(err)
	}
	size := fi.Size()
	var b *Bucket
	err = s.view(func(tx metadata.Tx) error {
		var err error
		if b, err = resolveBucket(tx, bucket); err != nil {
			return err
		}
		if err := checkSize(b, size); err != nil {
			return err
		}
		if b.Locked {
			return ErrLocked
		}
		head, err := metadata.GetHead(tx, b.ID, key)
		if err != nil && !metadata.IsNotFound(err) {
			return err
		}
		return checkIfMatch(opts.IfMatch, head)
	})
	if err != nil {
		return nil, wrapErr(err)
	}
	be, err := s.backend(b.Location)
	if err != nil {
		return nil, wrapErr(err)
	}
	ad, ok := be.(blob.Adopter)
	if !ok || (s.opts.InlineSize > 0 && size <= s.opts.InlineSize) {
		return s.adoptByCopy(ctx, bucket, key, path, size, opts)
	}
	file := &metadata.FileRecord{
		FileInstance: FileInstance{ID: uuid.NewString(), Readable: true, StorageClass: b.StorageClass},
	}
	file.MD5, file.BLAKE3 = opts.MD5, opts.BLAKE3
	// MD5 as Put does it: in the pass up to InlineMD5Max, else from the
	// background checksummer after the commit.
	wantMD5 := file.MD5 == "" && (opts.InlineMD5 || s.opts.InlineMD5Max < 0 || size <= s.opts.InlineMD5Max)
	if file.BLAKE3 == "" || wantMD5 {
		f, err := os.Open(path)
		if err != nil {
			return nil, wrapErr(err)
		}
		h := newHasherMD5(wantMD5)
		_, err = hashCopy(io.Discard, io.NewSectionReader(f, 0, size), h)
		f.Close()
		if err == nil && h.n != size {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, wrapErr(err)
		}
		md5sum, b3sum := h.sums()
		if file.BLAKE3 == "" {
			file.BLAKE3 = b3sum
		}
		if wantMD5 {
			file.MD5 = md5sum
		}
	}
	file.Size, file.Location, file.URI = size, b.Location, blobURI(be, file.ID)

	noSync := (opts.NoSync || noSyncFrom(ctx)) && s.c.canDefer()
	s.addPending(file.ID)
	defer s.donePending(file.ID)
	// Without sync the backend registers the blob so the committer flushes
	// it before any synced commit could make this record durable.
	if err := ad.Adopt(ctx, path, file.ID, noSync); err != nil {
		if errors.Is(err, syscall.EXDEV) {
			return s.adoptByCopy(ctx, bucket, key, path, size, opts)
		}
		return nil, wrapErr(mapBlobErr(err))
	}
	v, err := s.commitFile(ctx, bucket, key, file, nil, be, opts.PutOptions, noSync)
	if err != nil {
		if uerr := ad.Unadopt(file.ID, path); uerr != nil {
			s.log.Error("adopt: cannot give a staged file back", "path", path, "err", uerr)
			be.Remove(context.WithoutCancel(ctx), file.ID)
		}
		return nil, wrapErr(err)
	}
	return v, nil
}

// adoptByCopy is Adopt for content that cannot be renamed into place: a
// Put from the file, which is removed once the Put succeeded.
func (s *Store) adoptByCopy(ctx context.Context, bucket, key, path string, size int64, opts AdoptOptions) (*ObjectVersion, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("adopt %s/%s: %w", bucket, key, err)
	}
	po := opts.PutOptions
	po.Size = size
	v, err := s.Put(ctx, bucket, key, f, po)
	f.Close()
	if err == nil {
		os.Remove(path)
	}
	return v, err
}

// commitFile records file (whose blob is in be, or whose bytes are data
// when it is inline) as the new head of key, or links an existing file with
// the same content and frees file's blob. Put and Adopt end here; an MD5 the
// pass did not compute is queued for the background checksummer.
func (s *Store) commitFile(ctx context.Context, bucket, key string, file *metadata.FileRecord, data []byte, be blob.Backend, opts PutOptions, noSync bool) (*ObjectVersion, error) {
	o := origin(ctx)
	var out *ObjectVersion
	var pendingMD5 string
	err := s.c.submit(func(tx metadata.Tx, c *txCtx) error {
		b, err := writableBucket(tx, bucket)
		if err != nil {
			return err
		}
		if err := checkSize(b, file.Size); err != nil {
			return err
		}
		head, err := metadata.GetHead(tx, b.ID, key)
		if err != nil && !metadata.IsNotFound(err) {
			return err
		}
		if err := checkIfMatch(opts.IfMatch, head); err != nil {
			return err
		}
		file.StorageClass = b.StorageClass
		f, err := s.linkOrAddFile(tx, c, file, data, be)
		if err != nil {
			return err
		}
		pendingMD5 = ""
		switch {
		case f.MD5 != "":
		case f.ID == file.ID:
			// MD5 left to the background checksummer.
			if err := metadata.SetMD5Pending(tx, f.ID); err != nil {
				return err
			}
			pendingMD5 = f.ID
		case file.MD5 != "":
			// Same content as a file whose MD5 is pending: this pass has it.
			if err := recordMD5(tx, f.ID, file.MD5); err != nil {
				return err
			}
			nf := *f
			nf.MD5 = file.MD5
			f = &nf
		}
		v := newVersion(b.ID, key, &f.FileInstance, opts, c.versionSeq(headSeq(head)))
		if err := metadata.AddVersion(tx, v, head); err != nil {
			return err
		}
		b.Size += f.Size
		if err := metadata.PutBucket(tx, b); err != nil {
			return err
		}
		out = &v.ObjectVersion
		return c.emit(tx, versionEvent(EventPut, b, v, o))
	}, len(data), noSync)
	if err == nil && pendingMD5 != "" {
		s.queueMD5(pendingMD5)
	}
	return out, err
}
