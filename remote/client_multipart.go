package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bucketfs/bucketfs/storage"
)

// Invenio's multipart limits (spec §8): parts of 5 MiB..5 GiB, at most
// 10000 of them, and only for objects over 5 MiB.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	maxParts    = 10000
)

// InitMultipart starts an upload in parts (POST /files/{b}/{k}?uploads).
// It reserves quota, so it is not resent once it may have reached the
// server.
func (c *Client) InitMultipart(ctx context.Context, bucket, key string, size, partSize int64, opts storage.PutOptions) (*storage.Multipart, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	q := query("uploads", "", "size", strconv.FormatInt(size, 10), "partSize", strconv.FormatInt(partSize, 10))
	r := newRequest(http.MethodPost, c.filesURL(bucket, key, q))
	putHeaders(r, opts)
	// If-Match is checked at init and again at complete; it does not make
	// the init itself idempotent (a second upload would be reserved).
	idem := r.idempotent
	ifMatch(r, opts.IfMatch)
	r.idempotent = idem
	var w wireMultipart
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	m := w.multipart()
	if m.Key == "" {
		m.Key = key
	}
	c.remember(m.UploadID, uploadAddr{bucket: firstNonEmpty(m.BucketID, bucket), key: m.Key})
	return m, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (c *Client) remember(uploadID string, a uploadAddr) {
	c.mu.Lock()
	c.uploads[uploadID] = a
	c.mu.Unlock()
}

func (c *Client) forget(uploadID string) {
	c.mu.Lock()
	delete(c.uploads, uploadID)
	c.mu.Unlock()
}

// addr finds bucket and key of an upload: from the cache of uploads this
// client started, else from the server (GET {prefix}/uploads/{U}, extension).
func (c *Client) addr(ctx context.Context, uploadID string) (uploadAddr, error) {
	if uploadID == "" {
		return uploadAddr{}, fmt.Errorf("%w: empty upload id", storage.ErrInvalid)
	}
	c.mu.Lock()
	a, ok := c.uploads[uploadID]
	c.mu.Unlock()
	if ok {
		return a, nil
	}
	r := newRequest(http.MethodGet, c.apiURL("/uploads/"+url.PathEscape(uploadID), nil))
	r.idempotent = true
	var w wireMultipart
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return uploadAddr{}, err
	}
	m := w.multipart()
	if m.BucketID == "" || m.Key == "" {
		return uploadAddr{}, fmt.Errorf("%w: upload %s: server did not say its bucket and key", storage.ErrUnavailable, uploadID)
	}
	a = uploadAddr{bucket: m.BucketID, key: m.Key}
	if !m.Completed {
		c.remember(uploadID, a)
	}
	return a, nil
}

// UploadPart writes part n (PUT ?uploadId=U&partNumber=n). Re-sending a part
// is allowed until completion, so it is retried whenever its body can be
// read again (an io.Seeker or io.ReaderAt, or a part buffered by Put).
func (c *Client) UploadPart(ctx context.Context, uploadID string, n int, r io.Reader, size int64) (*storage.Part, error) {
	a, err := c.addr(ctx, uploadID)
	if err != nil {
		return nil, err
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: part %d: negative size", storage.ErrInvalid, n)
	}
	q := query("uploadId", uploadID, "partNumber", strconv.Itoa(n))
	req := newRequest(http.MethodPut, c.filesURL(a.bucket, a.key, q))
	req.idempotent = true
	req.header.Set("Content-Type", "application/octet-stream")
	req.size = size
	req.body = rewindable(r, size)
	defer consumeAt(r, size)()
	var w wirePart
	if err := c.do(ctx, req, decodeJSON(&w)); err != nil {
		return nil, err
	}
	return w.part(), nil
}

// rewindable returns a body function for r: every call after the first
// starts over when r can seek or read at an offset; otherwise it fails
// with errNoRewind. An io.ReaderAt is read through a section of size bytes.
func rewindable(r io.Reader, size int64) func() (io.Reader, error) {
	if ra, ok := r.(io.ReaderAt); ok && size >= 0 {
		// A ReaderAt with a Seek (an *os.File) starts at its current
		// position; without one, at 0.
		var base int64
		if s, ok := r.(io.Seeker); ok {
			if p, err := s.Seek(0, io.SeekCurrent); err == nil {
				base = p
			}
		}
		return func() (io.Reader, error) { return io.NewSectionReader(ra, base, size), nil }
	}
	if s, ok := r.(io.Seeker); ok {
		start, err := s.Seek(0, io.SeekCurrent)
		if err == nil {
			first := true
			return func() (io.Reader, error) {
				if !first {
					if _, err := s.Seek(start, io.SeekStart); err != nil {
						return nil, errNoRewind
					}
				}
				first = false
				return r, nil
			}
		}
	}
	used := false
	return func() (io.Reader, error) {
		if used {
			return nil, errNoRewind
		}
		used = true
		return r, nil
	}
}

// consumeAt returns what leaves r n bytes past where it stands now, when r
// is read through io.ReaderAt (which does not move it): a caller uploading
// consecutive parts from one *os.File with plain Read semantics relies on
// the position moving on.
func consumeAt(r io.Reader, n int64) func() {
	_, isRA := r.(io.ReaderAt)
	s, isSeeker := r.(io.Seeker)
	if !isRA || !isSeeker {
		return func() {}
	}
	base, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return func() {}
	}
	return func() { _, _ = s.Seek(base+n, io.SeekStart) }
}

// GetMultipart reads an upload's state (GET ?uploadId=U&state, extension),
// also after completion (then with the version it produced).
func (c *Client) GetMultipart(ctx context.Context, uploadID string) (*storage.Multipart, error) {
	a, err := c.addr(ctx, uploadID)
	if err != nil {
		return nil, err
	}
	r := newRequest(http.MethodGet, c.filesURL(a.bucket, a.key, query("uploadId", uploadID, "state", "")))
	r.idempotent = true
	var w wireMultipart
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	m := w.multipart()
	if m.Key == "" {
		m.Key = a.key
	}
	return m, nil
}

// ListParts lists the uploaded parts (GET ?uploadId=U).
func (c *Client) ListParts(ctx context.Context, uploadID string) ([]*storage.Part, error) {
	a, err := c.addr(ctx, uploadID)
	if err != nil {
		return nil, err
	}
	r := newRequest(http.MethodGet, c.filesURL(a.bucket, a.key, query("uploadId", uploadID)))
	r.idempotent = true
	var w wireMultipart
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	out := make([]*storage.Part, 0, len(w.Parts))
	for i := range w.Parts {
		out = append(out, w.Parts[i].part())
	}
	return out, nil
}

// ListMultiparts lists a bucket's uploads (GET /files/{b}?uploads, a bare array).
func (c *Client) ListMultiparts(ctx context.Context, bucket string) ([]*storage.Multipart, error) {
	if bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket", storage.ErrInvalid)
	}
	r := newRequest(http.MethodGet, c.filesURL(bucket, "", query("uploads", "")))
	r.idempotent = true
	var w []wireMultipart
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	out := make([]*storage.Multipart, 0, len(w))
	for i := range w {
		out = append(out, w[i].multipart())
	}
	return out, nil
}

// CompleteMultipart completes an upload (POST ?uploadId=U). The answer is a
// 200 whose body may start with keep-alive spaces and may carry an error
// (spec E13). Complete is never sent twice blindly: when an answer is lost,
// the upload's state tells whether it completed and which version it made.
func (c *Client) CompleteMultipart(ctx context.Context, uploadID string) (*storage.ObjectVersion, error) {
	a, err := c.addr(ctx, uploadID)
	if err != nil {
		return nil, err
	}
	pol := c.opts.Retry
	once := NoRetry()
	for attempt := 1; ; attempt++ {
		r := newRequest(http.MethodPost, c.filesURL(a.bucket, a.key, query("uploadId", uploadID)))
		r.retry = &once
		var w wireMultipart
		err := c.do(ctx, r, decodeComplete(&w))
		if err == nil {
			c.forget(uploadID)
			return c.completedVersion(ctx, a, &w)
		}
		var e *Error
		if !errors.As(err, &e) || !e.Retryable || ctx.Err() != nil {
			return nil, err
		}
		// The outcome is unknown (a lost or failed answer): look.
		m, serr := c.GetMultipart(ctx, uploadID)
		switch {
		case serr == nil && m.Completed && m.VersionID != "":
			c.forget(uploadID)
			return c.Stat(ctx, a.bucket, a.key, m.VersionID)
		case serr == nil && m.Completed:
			// Completed but not merged: a server without the version_id
			// extension. Do not complete again.
			return nil, err
		case serr != nil && !errors.Is(serr, storage.ErrNotFound) && !IsRetryable(serr):
			return nil, serr
		}
		d, ok := pol.wait(attempt, e)
		if !ok {
			return nil, err
		}
		c.log.Warn("remote: complete failed, upload still pending; completing again", "upload", uploadID, "attempt", attempt, "err", err)
		if err := c.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// decodeComplete reads the whitespace keep-alive body of a complete and
// turns an in-body error ({"status":500,"message":"Job failed."}) into an
// *Error.
func decodeComplete(w *wireMultipart) func(*http.Response) error {
	return func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			return io.ErrUnexpectedEOF
		}
		if err := decodeJSON(w)(&http.Response{Body: io.NopCloser(bytes.NewReader(b)), Request: resp.Request, StatusCode: resp.StatusCode}); err != nil {
			return err
		}
		if w.Status >= 400 && w.ID == "" {
			msg := ""
			if w.Message != nil {
				msg = *w.Message
			}
			e := &Error{Method: resp.Request.Method, URL: resp.Request.URL.String(), Status: w.Status, Message: msg,
				Kind: statusKind(w.Status, msg)}
			// "Job timed out." may still finish: retryable, and the state
			// check before a resend tells.
			e.Retryable = w.Status >= 500
			return e
		}
		return nil
	}
}

// completedVersion turns a complete's answer into the new version.
func (c *Client) completedVersion(ctx context.Context, a uploadAddr, w *wireMultipart) (*storage.ObjectVersion, error) {
	m := w.multipart()
	if m.VersionID == "" {
		return nil, fmt.Errorf("%w: complete of %s answered without the new version", storage.ErrUnavailable, m.UploadID)
	}
	return c.Stat(ctx, a.bucket, a.key, m.VersionID)
}

// AbortMultipart abandons an upload (DELETE ?uploadId=U). A resend that
// finds the upload gone means the lost try aborted it.
func (c *Client) AbortMultipart(ctx context.Context, uploadID string) error {
	a, err := c.addr(ctx, uploadID)
	if err != nil {
		return err
	}
	r := newRequest(http.MethodDelete, c.filesURL(a.bucket, a.key, query("uploadId", uploadID)))
	r.idempotent = true
	r.goneOK = true
	if err := c.do(ctx, r, nil); err != nil {
		return err
	}
	c.forget(uploadID)
	return nil
}
