package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage/blob"
)

// origin is the context's origin with Kind defaulting to "api".
func origin(ctx context.Context) Origin {
	o := OriginFrom(ctx)
	if o.Kind == "" {
		o.Kind = "api"
	}
	return o
}

// sizeLimit is Invenio's limiter pair (spec §7.6): the smaller of the
// quota left and the maximum file size, the quota winning ties. limit < 0
// means unlimited; errKind is the error for going over it.
func sizeLimit(b *Bucket) (limit int64, errKind error) {
	limit = -1
	if b.MaxFileSize > 0 {
		limit, errKind = b.MaxFileSize, ErrTooLarge
	}
	if b.QuotaSize > 0 {
		left := max(b.QuotaSize-b.Size, 0)
		if limit < 0 || left <= limit {
			limit, errKind = left, ErrQuotaExceeded
		}
	}
	return limit, errKind
}

// checkSize fails when size bytes do not fit the bucket's limits now.
func checkSize(b *Bucket, size int64) error {
	if limit, kind := sizeLimit(b); limit >= 0 && size > limit {
		return kind
	}
	return nil
}

// checkIfMatch enforces PutOptions.IfMatch against the current head.
func checkIfMatch(ifMatch string, head *metadata.VersionRecord) error {
	switch {
	case ifMatch == "":
		return nil
	case ifMatch == "null":
		if head != nil && head.File != nil {
			return fmt.Errorf("%w: key exists (head %s)", ErrConflict, head.VersionID)
		}
	case head == nil:
		return fmt.Errorf("%w: no head, expected version %s", ErrConflict, ifMatch)
	case head.VersionID != ifMatch:
		return fmt.Errorf("%w: head is %s, expected %s", ErrConflict, head.VersionID, ifMatch)
	}
	return nil
}

// limitedReader counts bytes and fails as soon as the count passes limit.
type limitedReader struct {
	r     io.Reader
	n     int64
	limit int64 // < 0: unlimited
	err   error
	ctx   context.Context
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.limit >= 0 && l.n > l.limit {
		return n, l.err
	}
	return n, err
}

// Put streams r into a new blob (hashing it on the way), then records the
// file and the new head version in one transaction. Identical content
// (same BLAKE3) links the existing file instance and drops the new blob.
func (s *Store) Put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (*ObjectVersion, error) {
	wrapErr := func(err error) error { return fmt.Errorf("put %s/%s: %w", bucket, key, err) }
	if err := ValidateKey(key); err != nil {
		return nil, wrapErr(err)
	}
	if err := validateTags(opts.Tags); err != nil {
		return nil, wrapErr(err)
	}
	// Content announced small enough to be inline is read before any
	// check: the commit checks everything anyway, and reading at most
	// InlineSize bytes first costs less than a read transaction.
	small := opts.Size >= 0 && s.opts.InlineSize > 0 && opts.Size <= s.opts.InlineSize
	var b *Bucket
	err := s.view(func(tx metadata.Tx) error {
		if small {
			return nil
		}
		var err error
		if b, err = resolveBucket(tx, bucket); err != nil {
			return err
		}
		if opts.Size >= 0 {
			if err := checkSize(b, opts.Size); err != nil {
				return err
			}
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
	limit, kind := int64(-1), error(nil)
	if !small {
		limit, kind = sizeLimit(b)
	}
	if opts.Size >= 0 && (limit < 0 || opts.Size < limit) {
		// Read one byte past the announced size to detect a longer body.
		limit, kind = opts.Size, fmt.Errorf("%w: content longer than announced size %d", ErrInvalid, opts.Size)
	}
	lr := &limitedReader{r: r, limit: limit, err: kind, ctx: ctx}
	noSync := (opts.NoSync || noSyncFrom(ctx)) && s.c.canDefer()
	file, data, be, err := s.writeContent(ctx, b, lr, opts, noSync)
	if err != nil {
		return nil, wrapErr(err)
	}
	if !file.Inline {
		s.addPending(file.ID)
		defer s.donePending(file.ID)
		// The blob was committed by writeContent; drop it if the metadata
		// commit fails.
		defer func() {
			if err != nil {
				be.Remove(context.WithoutCancel(ctx), file.ID)
			}
		}()
	}
	var out *ObjectVersion
	if out, err = s.commitFile(ctx, bucket, key, file, data, be, opts, noSync); err != nil {
		return nil, wrapErr(err)
	}
	return out, nil
}

// writeContent reads the content of a new file from lr, hashing it. Small
// content (up to InlineSize) is returned in data for an inline file;
// anything larger is streamed into a blob, fsynced (unless noSync: then the
// committer flushes it before any synced commit) and committed under the
// new file's id in be.
//
// BLAKE3 is always computed in the pass; MD5 too for content up to
// inlineMD5Max (or with opts.InlineMD5), else file.MD5 is left empty for
// the background checksummer.
func (s *Store) writeContent(ctx context.Context, b *Bucket, lr io.Reader, opts PutOptions, noSync bool) (*metadata.FileRecord, []byte, blob.Backend, error) {
	size := opts.Size
	md5Max := s.opts.InlineMD5Max
	inMD5 := opts.InlineMD5 || md5Max < 0
	h := newHasherMD5(inMD5 || size <= md5Max)
	if size < 0 && !inMD5 {
		h.md5Limit = md5Max
	}
	// b is nil for content announced small enough to be inline; the
	// commit sets the storage class.
	file := &metadata.FileRecord{FileInstance: FileInstance{ID: uuid.NewString(), Readable: true}}
	var prefix []byte
	if s.opts.InlineSize > 0 && size <= s.opts.InlineSize {
		// One byte more than fits inline tells whether the content does.
		var buf []byte
		if size >= 0 {
			buf = make([]byte, size+1)
		} else {
			buf = make([]byte, s.opts.InlineSize+1)
		}
		// With an announced size, lr fails on its extra byte itself.
		n, err := io.ReadFull(lr, buf)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if size >= 0 && int64(n) < size {
				return nil, nil, nil, fmt.Errorf("%w: got %d of %d bytes", ErrShortBody, n, size)
			}
			data := buf[:n:n]
			if size < 0 {
				data = bytes.Clone(data) // do not pin a 64 KiB buffer for a small file
			}
			h.Write(data)
			file.MD5, file.BLAKE3 = h.sums()
			h.release()
			file.Size, file.Inline, file.URI = int64(n), true, "inline:"+file.ID
			return file, data, nil, nil
		case err != nil:
			return nil, nil, nil, err
		case size >= 0:
			// ReadFull drops the reader's error once the buffer is full.
			return nil, nil, nil, fmt.Errorf("%w: content longer than announced size %d", ErrInvalid, size)
		}
		prefix = buf
	}
	be, err := s.backend(b.Location)
	if err != nil {
		return nil, nil, nil, err
	}
	var w blob.Writer
	if sc, ok := be.(blob.SizedCreator); ok && size > 0 {
		w, err = sc.CreateSized(ctx, size)
	} else {
		w, err = be.Create(ctx)
	}
	if err != nil {
		return nil, nil, nil, mapBlobErr(err)
	}
	_, err = hashCopy(w, io.MultiReader(bytes.NewReader(prefix), lr), h)
	if err == nil && size >= 0 && h.n < size {
		err = fmt.Errorf("%w: got %d of %d bytes", ErrShortBody, h.n, size)
	}
	if err != nil {
		w.Abort()
		return nil, nil, nil, mapBlobErr(err)
	}
	if nc, ok := w.(blob.NoSyncCommitter); ok && noSync {
		err = nc.CommitNoSync(ctx, file.ID)
	} else {
		err = w.Commit(ctx, file.ID)
	}
	if err != nil {
		return nil, nil, nil, mapBlobErr(err)
	}
	file.MD5, file.BLAKE3 = h.sums()
	file.Size, file.Location, file.URI = h.n, b.Location, blobURI(be, file.ID)
	h.release()
	return file, nil, be, nil
}

// linkOrAddFile records file, or, when a readable file with the same
// BLAKE3 exists, returns that one and frees file's blob after commit.
func (s *Store) linkOrAddFile(tx metadata.Tx, c *txCtx, file *metadata.FileRecord, data []byte, be blob.Backend) (*metadata.FileRecord, error) {
	if id, err := metadata.FileByBLAKE3(tx, file.BLAKE3); err == nil {
		f, err := metadata.GetFile(tx, id)
		if err == nil && f.Readable && f.Size == file.Size {
			if !file.Inline {
				newID := file.ID
				c.onCommit(func() { be.Remove(context.Background(), newID) })
			}
			return f, nil
		}
		if err != nil && !metadata.IsNotFound(err) {
			return nil, err
		}
	} else if !metadata.IsNotFound(err) {
		return nil, err
	}
	f := *file
	if f.Inline {
		if err := metadata.PutFileData(tx, f.ID, data); err != nil {
			return nil, err
		}
	}
	return &f, metadata.PutFile(tx, &f, nil)
}

func headSeq(h *metadata.VersionRecord) uint64 {
	if h == nil {
		return 0
	}
	return h.Seq
}

func newVersion(bucketID, key string, f *FileInstance, opts PutOptions, seq uint64) *metadata.VersionRecord {
	t := seqTime(seq)
	mt := opts.Mimetype
	if mt == "" {
		mt = GuessMimetype(key)
	}
	return &metadata.VersionRecord{
		ObjectVersion: ObjectVersion{
			VersionID: uuid.NewString(), BucketID: bucketID, Key: key, File: f, Mimetype: mt,
			Tags: maps.Clone(opts.Tags), Attrs: maps.Clone(opts.Attrs), Created: t, Updated: t,
		},
		Seq: seq,
	}
}

// copyVersion is a new version at (bucketID, key) sharing v's file and metadata.
func copyVersion(v *metadata.VersionRecord, bucketID, key string, seq uint64) *metadata.VersionRecord {
	mt := v.Mimetype
	if key != v.Key && mt == GuessMimetype(v.Key) {
		mt = GuessMimetype(key)
	}
	return newVersion(bucketID, key, v.File, PutOptions{Mimetype: mt, Tags: v.Tags, Attrs: v.Attrs}, seq)
}

func versionEvent(name string, b *Bucket, v *metadata.VersionRecord, o Origin) *Event {
	ev := &Event{
		ID: uuid.NewString(), Name: name, BucketID: b.ID, BucketName: b.Name,
		Key: v.Key, VersionID: v.VersionID, Origin: o,
	}
	if v.File != nil {
		ev.Size, ev.BLAKE3 = v.File.Size, v.File.BLAKE3
	}
	return ev
}

func blobURI(be any, id string) string {
	if p, ok := be.(interface{ Path(string) (string, error) }); ok {
		if s, err := p.Path(id); err == nil {
			return s
		}
	}
	return id
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) || metadata.IsNotFound(err) }
