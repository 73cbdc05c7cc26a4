package storage

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/zeebo/blake3"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage/blob"
)

// Get opens a byte range of a version. A full read verifies the content
// against its BLAKE3 and ends in ErrChecksum instead of io.EOF when the
// blob was damaged; a blob of the wrong size fails at once.
func (s *Store) Get(ctx context.Context, bucket, key, versionID string, offset, length int64) (io.ReadCloser, *ObjectVersion, error) {
	wrapErr := func(err error) error { return fmt.Errorf("get %s/%s: %w", bucket, key, err) }
	var (
		v *metadata.VersionRecord
		b *Bucket
	)
	err := s.view(func(tx metadata.Tx) error {
		var err error
		if b, err = resolveBucket(tx, bucket); err != nil {
			return err
		}
		v, err = findVersion(tx, b, key, versionID)
		return err
	})
	if err != nil {
		return nil, nil, wrapErr(err)
	}
	if v.File == nil {
		return nil, nil, wrapErr(fmt.Errorf("version %s is a delete marker: %w", v.VersionID, ErrNotFound))
	}
	size := v.File.Size
	if offset < 0 || offset > size {
		return nil, nil, wrapErr(fmt.Errorf("%w: offset %d outside 0..%d", ErrInvalid, offset, size))
	}
	if length < 0 || offset+length > size {
		length = size - offset
	}
	r, err := s.openFile(ctx, v.File)
	if err != nil {
		return nil, nil, wrapErr(err)
	}
	if s.opts.DownloadEvents {
		o := origin(ctx)
		if err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
			return c.emit(tx, versionEvent(EventAccessed, b, v, o))
		}); err != nil {
			s.log.Warn("download event", "bucket", b.ID, "key", key, "err", err)
		}
	}
	rc := &blobStream{r: r, sr: io.NewSectionReader(r, offset, length)}
	if offset == 0 && length == size {
		rc.verify, rc.want = blake3.New(), v.File.BLAKE3
	}
	return rc, &v.ObjectVersion, nil
}

// openFile opens the blob of a file instance, checking its size.
func (s *Store) openFile(ctx context.Context, f *FileInstance) (blob.Reader, error) {
	var (
		rec  *metadata.FileRecord
		data []byte
	)
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		if rec, err = metadata.GetFile(tx, f.ID); err != nil || !rec.Inline {
			return err
		}
		data, err = metadata.GetFileData(tx, f.ID)
		return err
	}); err != nil {
		if metadata.IsNotFound(err) {
			return nil, fmt.Errorf("file %s: %w", f.ID, ErrNotFound)
		}
		return nil, err
	}
	return s.openRecord(ctx, rec, data)
}

// openRecord opens the content of a file record (data: an inline file's bytes).
func (s *Store) openRecord(ctx context.Context, rec *metadata.FileRecord, data []byte) (blob.Reader, error) {
	if rec.Inline {
		if int64(len(data)) != rec.Size {
			return nil, fmt.Errorf("file %s: %w: inline data has %d bytes, recorded %d", rec.ID, ErrChecksum, len(data), rec.Size)
		}
		return inlineReader{bytes.NewReader(data)}, nil
	}
	f := rec
	be, err := s.backend(rec.Location)
	if err != nil {
		return nil, err
	}
	r, err := be.Open(ctx, f.ID)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", f.ID, mapBlobErr(err))
	}
	if r.Size() != rec.Size {
		r.Close()
		return nil, fmt.Errorf("file %s: %w: blob has %d bytes, recorded %d", f.ID, ErrChecksum, r.Size(), rec.Size)
	}
	return r, nil
}

// OpenBlob opens a version's content for random access.
func (s *Store) OpenBlob(ctx context.Context, v *ObjectVersion) (BlobReader, error) {
	if v == nil || v.File == nil {
		return nil, fmt.Errorf("open blob: %w: no file (delete marker)", ErrNotFound)
	}
	r, err := s.openFile(ctx, v.File)
	if err != nil {
		return nil, fmt.Errorf("open blob of %s: %w", v.Key, err)
	}
	return r, nil
}

type blobStream struct {
	r      blob.Reader
	sr     *io.SectionReader
	verify *blake3.Hasher
	want   string
}

func (b *blobStream) Read(p []byte) (int, error) {
	n, err := b.sr.Read(p)
	if b.verify != nil {
		b.verify.Write(p[:n])
		if err == io.EOF {
			got := fmt.Sprintf("blake3:%x", b.verify.Sum(nil))
			b.verify = nil
			if got != b.want {
				return n, fmt.Errorf("%w: content hashes to %s, recorded %s", ErrChecksum, got, b.want)
			}
		}
	}
	return n, err
}

func (b *blobStream) Close() error { return b.r.Close() }

type inlineReader struct{ *bytes.Reader }

func (inlineReader) Close() error { return nil }
