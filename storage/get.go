package storage

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"hash/crc32"
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
	// One snapshot answers everything: bucket, version, file record and an
	// inline file's bytes (a small download is one read transaction).
	var (
		v    *metadata.VersionRecord
		b    *Bucket
		rec  *metadata.FileRecord
		data []byte
	)
	err := s.view(func(tx metadata.Tx) error {
		var err error
		if b, err = resolveBucket(tx, bucket); err != nil {
			return err
		}
		if versionID == "" {
			// The live-head record is the head in one read; without
			// one the key has no version or a delete marker on top.
			v, err = metadata.GetLiveHead(tx, b.ID, key)
			if metadata.IsNotFound(err) {
				err = ErrNotFound
			}
		} else {
			v, err = findVersion(tx, b, key, versionID)
		}
		if err != nil || v.File == nil {
			return err
		}
		rec, data, err = readFile(tx, v.File.ID)
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
	var r blob.Reader
	if !rec.Inline {
		if r, err = s.openRecord(ctx, rec, data); err != nil {
			return nil, nil, wrapErr(err)
		}
	} else if int64(len(data)) != rec.Size || rec.Size != size {
		return nil, nil, wrapErr(fmt.Errorf("file %s: %w: inline data has %d bytes, recorded %d", rec.ID, ErrChecksum, len(data), rec.Size))
	}
	if s.opts.DownloadEvents {
		o := origin(ctx)
		if err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
			return c.emit(tx, versionEvent(EventAccessed, b, v, o))
		}); err != nil {
			s.log.Warn("download event", "bucket", b.ID, "key", key, "err", err)
		}
	}
	full := offset == 0 && length == size
	if rec.Inline {
		is := &inlineStream{data: data[offset : offset+length]}
		if full {
			is.want, is.id, is.checked = v.File.BLAKE3, rec.ID, &s.checked
		}
		return is, &v.ObjectVersion, nil
	}
	rc := &blobStream{r: r, sr: io.NewSectionReader(r, offset, length)}
	if full {
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
		rec, data, err = readFile(tx, f.ID)
		return err
	}); err != nil {
		return nil, err
	}
	return s.openRecord(ctx, rec, data)
}

// readFile reads a file record and, for an inline file, its bytes.
func readFile(tx metadata.Tx, id string) (*metadata.FileRecord, []byte, error) {
	rec, err := metadata.GetFile(tx, id)
	if err == nil && rec.Inline {
		var data []byte
		data, err = metadata.GetFileData(tx, id)
		if err == nil {
			return rec, data, nil
		}
	}
	if metadata.IsNotFound(err) {
		return nil, nil, fmt.Errorf("file %s: %w", id, ErrNotFound)
	}
	return rec, nil, err
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
			sum := b.verify.Sum(nil)
			b.verify = nil
			if !sumIs(sum, b.want) {
				return n, fmt.Errorf("%w: content hashes to blake3:%x, recorded %s", ErrChecksum, sum, b.want)
			}
		}
	}
	return n, err
}

// WriteTo is the path io.Copy takes (a download, `bucketfs get`): a full
// read is verified with the reading, hashing and writing of 1 MiB buffers
// spread over goroutines (hashCopy), so it runs at the speed of the slowest
// of them rather than at their sum. Like Read, it ends in ErrChecksum when
// the content does not hash to its record, after the bytes went out.
func (b *blobStream) WriteTo(w io.Writer) (int64, error) {
	if b.verify == nil {
		return io.Copy(w, b.sr)
	}
	h := &hasher{b3: b.verify}
	b.verify = nil
	n, err := hashCopy(w, b.sr, h)
	if err != nil {
		return n, err
	}
	if sum := h.b3.Sum(nil); !sumIs(sum, b.want) {
		return n, fmt.Errorf("%w: content hashes to blake3:%x, recorded %s", ErrChecksum, sum, b.want)
	}
	return n, nil
}

func (b *blobStream) Close() error { return b.r.Close() }

// sumIs reports whether want is "blake3:" and the hex of sum.
func sumIs(sum []byte, want string) bool {
	var buf [7 + 2*32]byte
	if len(sum) != 32 {
		return false
	}
	copy(buf[:], "blake3:")
	hex.Encode(buf[7:], sum)
	return string(buf[:]) == want
}

// inlineStream is the content of an inline file, read with its version.
// A full read hashes the bytes in one call (no streaming hasher) when it
// reaches the end, and reports a mismatch there instead of io.EOF, as a
// blob stream does; a HEAD that reads nothing hashes nothing.
type inlineStream struct {
	data    []byte
	off     int
	want    string // "" = no check (a range, or already checked)
	id      string // file id, for checked
	checked *verifiedInline
}

func (s *inlineStream) verify() error {
	if s.want == "" {
		return nil
	}
	want := s.want
	s.want = ""
	crc := crc32.Checksum(s.data, castagnoli)
	if s.checked.known(s.id, crc) {
		return nil
	}
	if sum := blake3.Sum256(s.data); !sumIs(sum[:], want) {
		return fmt.Errorf("%w: content hashes to blake3:%x, recorded %s", ErrChecksum, sum, want)
	}
	s.checked.add(s.id, crc)
	return nil
}

func (s *inlineStream) Read(p []byte) (int, error) {
	if s.off >= len(s.data) {
		if err := s.verify(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	n := copy(p, s.data[s.off:])
	s.off += n
	return n, nil
}

// WriteTo hands the bytes over in one write (io.Copy uses it).
func (s *inlineStream) WriteTo(w io.Writer) (int64, error) {
	if err := s.verify(); err != nil {
		return 0, err
	}
	n, err := w.Write(s.data[s.off:])
	s.off += n
	return int64(n), err
}

func (s *inlineStream) Close() error { return nil }

type inlineReader struct{ *bytes.Reader }

func (inlineReader) Close() error { return nil }
