package functions

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// ChunkSize is the size of one presigned chunk PUT.
const ChunkSize = 16 << 20

// mapStoreErr turns object store errors into ours (the Access Service's
// status codes follow from them).
func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case errors.Is(err, storage.ErrPermission):
		return fmt.Errorf("%w: %v", ErrForbidden, err)
	case errors.Is(err, storage.ErrLocked), errors.Is(err, storage.ErrConflict):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	case errors.Is(err, storage.ErrInvalidKey), errors.Is(err, storage.ErrInvalid),
		errors.Is(err, storage.ErrTooLarge), errors.Is(err, storage.ErrQuotaExceeded):
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return err
}

// ---- number generators ----

type generator struct {
	Next int64 `json:"next"`
}

// CreateGenerator creates a persistent number generator whose first number is start.
func (s *Service) CreateGenerator(ctx context.Context, name string, start int64) error {
	if !genNameRe.MatchString(name) {
		return fmt.Errorf("%w: generator name %q: letters, digits, '.', '_', ':' or '-', at most 128", ErrInvalid, name)
	}
	return update(s.db, func(tx metadata.Tx) error {
		if _, err := tx.Get(kGenerator(name)); err == nil {
			return fmt.Errorf("%w: generator %q exists", ErrConflict, name)
		}
		return putJSON(tx, kGenerator(name), &generator{Next: start})
	})
}

// NextNumbers hands out count (1..100) consecutive numbers of a generator,
// atomically: no number is handed out twice, even across restarts.
func (s *Service) NextNumbers(ctx context.Context, t *Token, name string, count int) ([]int64, error) {
	if count < 1 || count > 100 {
		return nil, fmt.Errorf("%w: count %d; allowed 1..100", ErrInvalid, count)
	}
	var out []int64
	err := update(s.db, func(tx metadata.Tx) error {
		var g generator
		if err := getJSON(tx, kGenerator(name), &g); err != nil {
			return fmt.Errorf("%w: number generator %q", ErrNotFound, name)
		}
		out = out[:0]
		for i := 0; i < count; i++ {
			out = append(out, g.Next+int64(i))
		}
		g.Next += int64(count)
		return putJSON(tx, kGenerator(name), &g)
	})
	return out, err
}

// ---- file objects ----

// FileObjectID names a file (bucket id + key) for the Access Service. It is
// derived, not stored, so event data can hand it to functions for free.
func FileObjectID(bucketID, key string) string {
	return "o." + base64.RawURLEncoding.EncodeToString([]byte(bucketID+"\x00"+key))
}

func parseFileObjectID(id string) (bucket, key string, err error) {
	raw, derr := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(id, "o."))
	b, k, ok := strings.Cut(string(raw), "\x00")
	if !strings.HasPrefix(id, "o.") || derr != nil || !ok || b == "" || k == "" {
		return "", "", fmt.Errorf("%w: file object %q", ErrNotFound, id)
	}
	return b, k, nil
}

func (s *Service) checkBucket(ctx context.Context, t *Token, bucket string) (*storage.Bucket, error) {
	b, err := s.store.GetBucket(ctx, bucket)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	if len(t.Buckets) > 0 {
		ok := false
		for _, a := range t.Buckets {
			ok = ok || a == b.ID || (a == b.Name && b.Name != "")
		}
		if !ok {
			return nil, fmt.Errorf("%w: the function may not write to bucket %q", ErrForbidden, bucket)
		}
	}
	return b, nil
}

// CreateFile makes a file object under a parent: a bucket ("bucket"), a
// folder in it ("bucket/dir/sub") or the folder of an existing file object.
// Nothing is written until an upload completes.
func (s *Service) CreateFile(ctx context.Context, t *Token, parentObjectID, filename string) (string, error) {
	if filename == "" || strings.ContainsAny(filename, "/\x00") || filename == "." || filename == ".." {
		return "", fmt.Errorf("%w: filename %q must be one path segment", ErrInvalid, filename)
	}
	bucket, dir := parentObjectID, ""
	if strings.HasPrefix(parentObjectID, "o.") {
		b, k, err := parseFileObjectID(parentObjectID)
		if err != nil {
			return "", err
		}
		bucket, dir = b, path.Dir(k)
		if dir == "." {
			dir = ""
		}
	} else if b, d, ok := strings.Cut(parentObjectID, "/"); ok {
		bucket, dir = b, strings.Trim(d, "/")
	}
	if bucket == "" {
		return "", fmt.Errorf("%w: parent_object_id is empty", ErrInvalid)
	}
	b, err := s.checkBucket(ctx, t, bucket)
	if err != nil {
		return "", err
	}
	key := filename
	if dir != "" {
		key = dir + "/" + filename
	}
	if err := storage.ValidateKey(key); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return FileObjectID(b.ID, key), nil
}

// PresignedWriteURLs is csfunctions' PresignedWriteUrls.
type PresignedWriteURLs struct {
	BlobID    string            `json:"blob_id"`
	URLs      []string          `json:"urls"`
	ChunkSize int64             `json:"chunksize"`
	UploadID  *string           `json:"upload_id"`
	ETags     []string          `json:"etags"`
	BlockIDs  []string          `json:"block_ids"`
	Headers   map[string]string `json:"headers"`
	Metadata  map[string]string `json:"metadata"`
	Signature *string           `json:"signature"`
}

type fileLock struct {
	LockID  string `json:"lockId"`
	CallID  int64  `json:"callId"`
	BlobID  string `json:"blobId"`
	Size    int64  `json:"size"`
	Expires int64  `json:"expires"`
}

func (s *Service) uploadDir(blobID string) string {
	return filepath.Join(s.opts.Dir, "uploads", blobID)
}

// PresignUpload locks a file object for lockID and hands out one signed
// URL per chunk. A lock held by another lock id is ErrConflict (409).
func (s *Service) PresignUpload(ctx context.Context, t *Token, fileObjectID string, filesize int64, lockID string) (*PresignedWriteURLs, error) {
	if filesize < 0 {
		return nil, fmt.Errorf("%w: filesize %d must be ≥ 0", ErrInvalid, filesize)
	}
	if lockID == "" || len(lockID) > 128 {
		return nil, fmt.Errorf("%w: lock_id must be 1..128 characters", ErrInvalid)
	}
	bucket, key, err := parseFileObjectID(fileObjectID)
	if err != nil {
		return nil, err
	}
	b, err := s.checkBucket(ctx, t, bucket)
	if err != nil {
		return nil, err
	}
	if b.MaxFileSize > 0 && filesize > b.MaxFileSize {
		return nil, fmt.Errorf("%w: filesize %d over the bucket's maximum %d", ErrInvalid, filesize, b.MaxFileSize)
	}
	base := s.ServiceURL()
	if base == "" {
		return nil, fmt.Errorf("functions: no Access Service URL configured")
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	now := s.clock.Now()
	lock := fileLock{LockID: lockID, CallID: t.CallID, BlobID: "b" + hex.EncodeToString(rnd[:]), Size: filesize, Expires: t.Expires}
	err = update(s.db, func(tx metadata.Tx) error {
		var old fileLock
		if err := getJSON(tx, kLock(fileObjectID), &old); err == nil && old.Expires > ms(now) {
			if old.LockID != lockID {
				return fmt.Errorf("%w: %s/%s is locked by another upload", ErrConflict, bucket, key)
			}
			lock.BlobID = old.BlobID // same lock id again: same upload
		}
		return putJSON(tx, kLock(fileObjectID), &lock)
	})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.uploadDir(lock.BlobID), 0o755); err != nil {
		return nil, err
	}
	n := (filesize + ChunkSize - 1) / ChunkSize
	out := &PresignedWriteURLs{BlobID: lock.BlobID, URLs: []string{}, ChunkSize: ChunkSize,
		Headers: map[string]string{"Content-Type": "application/octet-stream"}}
	for i := int64(0); i < n; i++ {
		sig := s.sign(fileObjectID, lock.BlobID, int(i), lockID, lock.Expires)
		out.URLs = append(out.URLs, fmt.Sprintf("%s/file_upload/%s/chunk/%s/%d?lock=%s&exp=%d&sig=%s",
			strings.TrimRight(base, "/"), fileObjectID, lock.BlobID, i, lockID, lock.Expires, sig))
	}
	return out, nil
}

func (s *Service) sign(fileObjectID, blobID string, n int, lockID string, exp int64) string {
	m := hmac.New(sha256.New, s.urlKey)
	fmt.Fprintf(m, "%s\x00%s\x00%d\x00%s\x00%d", fileObjectID, blobID, n, lockID, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// PutChunk stores chunk n of an upload; it is authorised by the URL's
// signature (not a token) and is not rate limited. It returns the ETag.
func (s *Service) PutChunk(ctx context.Context, fileObjectID, blobID string, n int, lockID string, exp int64, sig string, r io.Reader) (string, error) {
	want := s.sign(fileObjectID, blobID, n, lockID, exp)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return "", fmt.Errorf("%w: bad signature", ErrForbidden)
	}
	if ms(s.clock.Now()) > exp {
		return "", fmt.Errorf("%w: presigned URL expired", ErrForbidden)
	}
	var lock fileLock
	if err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kLock(fileObjectID), &lock) }); err != nil {
		return "", fmt.Errorf("%w: no upload in progress", ErrNotFound)
	}
	if lock.BlobID != blobID || lock.LockID != lockID {
		return "", fmt.Errorf("%w: the upload was aborted or replaced", ErrConflict)
	}
	chunks := (lock.Size + ChunkSize - 1) / ChunkSize
	if n < 0 || int64(n) >= chunks {
		return "", fmt.Errorf("%w: chunk %d of %d", ErrInvalid, n, chunks)
	}
	wantSize := int64(ChunkSize)
	if int64(n) == chunks-1 {
		wantSize = lock.Size - int64(n)*ChunkSize
	}
	p := filepath.Join(s.uploadDir(blobID), strconv.Itoa(n))
	f, err := os.CreateTemp(s.uploadDir(blobID), ".chunk-*")
	if err != nil {
		return "", err
	}
	h := sha256.New()
	got, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, wantSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && got != wantSize {
		err = fmt.Errorf("%w: chunk %d is %d bytes, expected %d", ErrInvalid, n, got, wantSize)
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return "", err
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`, nil
}

// CompleteUpload verifies lock, size and SHA-256, then commits the content
// as a new version of the file, attributed to the call (origin "function").
func (s *Service) CompleteUpload(ctx context.Context, t *Token, fileObjectID string, filesize int64, lockID, blobID, sha string) error {
	bucket, key, err := parseFileObjectID(fileObjectID)
	if err != nil {
		return err
	}
	if _, err := s.checkBucket(ctx, t, bucket); err != nil {
		return err
	}
	var lock fileLock
	if err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kLock(fileObjectID), &lock) }); err != nil {
		return fmt.Errorf("%w: %s is not locked for upload (call generate_presigned_url first)", ErrConflict, key)
	}
	if lock.LockID != lockID || (blobID != "" && blobID != lock.BlobID) {
		return fmt.Errorf("%w: %s is locked by another upload", ErrConflict, key)
	}
	if filesize != lock.Size {
		return fmt.Errorf("%w: filesize %d differs from the announced %d", ErrInvalid, filesize, lock.Size)
	}
	chunks := int((lock.Size + ChunkSize - 1) / ChunkSize)
	files := make([]*os.File, 0, chunks)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	readers := make([]io.Reader, 0, chunks)
	for i := 0; i < chunks; i++ {
		f, err := os.Open(filepath.Join(s.uploadDir(lock.BlobID), strconv.Itoa(i)))
		if err != nil {
			return fmt.Errorf("%w: chunk %d was not uploaded", ErrInvalid, i)
		}
		files = append(files, f)
		readers = append(readers, f)
	}
	if sha != "" {
		h := sha256.New()
		for _, f := range files {
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		if !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), sha) {
			return fmt.Errorf("%w: sha256 of the uploaded content does not match", ErrInvalid)
		}
	}
	_, err = s.store.Put(t.WriteContext(ctx), bucket, key, io.MultiReader(readers...), storage.PutOptions{Size: filesize})
	if err != nil {
		return mapStoreErr(err)
	}
	s.dropUpload(fileObjectID, lock)
	return nil
}

// AbortUpload discards the chunks and releases the lock.
func (s *Service) AbortUpload(ctx context.Context, t *Token, fileObjectID, lockID string) error {
	bucket, _, err := parseFileObjectID(fileObjectID)
	if err != nil {
		return err
	}
	if _, err := s.checkBucket(ctx, t, bucket); err != nil {
		return err
	}
	var lock fileLock
	if err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kLock(fileObjectID), &lock) }); err != nil {
		return nil // nothing to abort: aborting twice is fine
	}
	if lock.LockID != lockID {
		return fmt.Errorf("%w: the file is locked by another upload", ErrConflict)
	}
	s.dropUpload(fileObjectID, lock)
	return nil
}

func (s *Service) dropUpload(fileObjectID string, lock fileLock) {
	update(s.db, func(tx metadata.Tx) error {
		var cur fileLock
		if getJSON(tx, kLock(fileObjectID), &cur) == nil && cur.LockID == lock.LockID {
			return tx.Delete(kLock(fileObjectID))
		}
		return nil
	})
	os.RemoveAll(s.uploadDir(lock.BlobID))
}

// expireLocks drops locks (and staged chunks) past their expiry.
func (s *Service) expireLocks(now time.Time) {
	type ent struct {
		id   string
		lock fileLock
	}
	var old []ent
	pfx := []byte(prefix + "lock/")
	s.db.View(func(tx metadata.Tx) error {
		return tx.Iterate(pfx, nil, false, func(k, v []byte) (bool, error) {
			var l fileLock
			if jsonUnmarshal(v, &l) == nil && l.Expires < ms(now) {
				old = append(old, ent{string(k[len(pfx):]), l})
			}
			return true, nil
		})
	})
	for _, e := range old {
		s.dropUpload(e.id, e.lock)
	}
}
