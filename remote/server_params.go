package remote

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/storage"
)

// parseUUIDParam parses a UUID selector (versionId, uploadId) the way
// marshmallow's UUID field does: canonical, 32 hex digits, braces, urn:uuid:
// prefix, any case. Absent: "". Malformed: 422 naming the field.
func parseUUIDParam(q url.Values, name string) (string, error) {
	if !q.Has(name) {
		return "", nil
	}
	id, err := uuid.Parse(q.Get(name))
	if err != nil {
		return "", validationErr(name, "Not a valid UUID.")
	}
	return id.String(), nil
}

// parseIntParam parses an integer query parameter; absent or empty is 0.
func parseIntParam(q url.Values, name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, validationErr(name, "Not a valid integer.")
	}
	return n, nil
}

// bucketRef turns the bucket path segment into what the store looks up: a
// canonical id when it parses as a UUID, else a bucket name (our extension).
func bucketRef(seg string) string {
	if id, err := uuid.Parse(seg); err == nil {
		return id.String()
	}
	return seg
}

// lookupBucket resolves a bucket segment; unknown and deleted buckets are
// 404 "Bucket does not exist." (spec §1.2).
func (s *Server) lookupBucket(rq *srvReq, seg string) (*storage.Bucket, error) {
	b, err := s.store.GetBucket(rq.r.Context(), bucketRef(seg))
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalid) || (err == nil && b.Deleted) {
		return nil, &APIError{Status: http.StatusNotFound, Message: ptr("Bucket does not exist."), Cause: storage.ErrNotFound}
	}
	return b, err
}

func ptr(s string) *string { return &s }

// errObjectNotFound is the reference's (misspelt) object 404.
func errObjectNotFound() error {
	return &APIError{Status: http.StatusNotFound, Message: ptr("Object does not exists."), Cause: storage.ErrNotFound}
}

// errUploadNotFound is the reference's (misspelt) multipart 404.
func errUploadNotFound() error {
	return &APIError{Status: http.StatusNotFound, Message: ptr("uploadId does not exists."), Cause: storage.ErrNotFound}
}

// checkNewKey validates a key that is about to be created. The length
// message is the reference's; our stricter rules name the problem.
func checkNewKey(key string) error {
	if utf8.RuneCountInString(key) > storage.MaxKeyLength {
		return &APIError{Status: http.StatusBadRequest, Message: ptr("Filename is too long."), Cause: storage.ErrInvalidKey}
	}
	if err := storage.ValidateKey(key); err != nil {
		return &APIError{Status: http.StatusBadRequest, Message: ptr(keyMessage(err)), Cause: err}
	}
	return nil
}

// parseTags reads the tags header (spec E6): query-string syntax, empty
// values and entries without "=" dropped, duplicate keys and lengths of
// 256 or more refused.
func parseTags(h string) (map[string]string, error) {
	if h == "" {
		return nil, nil
	}
	tags := map[string]string{}
	for _, kv := range strings.FieldsFunc(h, func(r rune) bool { return r == '&' || r == ';' }) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k, err1 := url.QueryUnescape(k)
		v, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, apiErr(http.StatusBadRequest, "Invalid tags header.")
		}
		if v == "" || k == "" {
			continue
		}
		if _, dup := tags[k]; dup {
			return nil, apiErr(http.StatusBadRequest, "Duplicate tag key")
		}
		if utf8.RuneCountInString(k) >= 256 || utf8.RuneCountInString(v) >= 256 {
			return nil, apiErr(http.StatusBadRequest, "Too long/short tag key or tag value.")
		}
		tags[k] = v
	}
	return tags, nil
}

// sizeLimit is the effective upload limit of a bucket (spec §7.6): the
// smaller of the quota left and the maximum file size, quota winning ties;
// -1 when unlimited.
func sizeLimit(b *storage.Bucket) (int64, error) {
	limit, reason := int64(-1), error(nil)
	if b.QuotaSize > 0 {
		limit, reason = max(b.QuotaSize-b.Size, 0), storage.ErrQuotaExceeded
	}
	if b.MaxFileSize > 0 && (limit < 0 || b.MaxFileSize < limit) {
		limit, reason = b.MaxFileSize, storage.ErrTooLarge
	}
	return limit, reason
}

func checkSizeLimit(b *storage.Bucket, size int64) error {
	if limit, reason := sizeLimit(b); limit >= 0 && size > limit {
		return reason // StatusOf words it as the reference does
	}
	return nil
}

// contentLength returns the declared body length; -1 when the header is
// missing (a chunked upload), which Invenio refuses.
func contentLength(r *http.Request) int64 {
	if r.Header.Get("Content-Length") == "" || r.ContentLength < 0 {
		return -1
	}
	return r.ContentLength
}

// idleReader extends the connection's read deadline while the client keeps
// sending, so a slow-but-moving upload of any size succeeds and a stalled
// one fails after idle.
type idleReader struct {
	r    io.Reader
	rc   *http.ResponseController
	idle time.Duration
	last time.Time
}

func newIdleReader(w http.ResponseWriter, r io.Reader, idle time.Duration) *idleReader {
	return &idleReader{r: r, rc: http.NewResponseController(w), idle: idle}
}

func (ir *idleReader) Read(p []byte) (int, error) {
	if now := time.Now(); now.Sub(ir.last) > ir.idle/8 {
		_ = ir.rc.SetReadDeadline(now.Add(ir.idle))
		ir.last = now
	}
	return ir.r.Read(p)
}

// srvExactReader turns an early end of a body into ErrShortBody, whatever the
// store does with short input, so no partial object can be committed as
// complete.
type srvExactReader struct {
	r    io.Reader
	left int64
	done func() // called once the last byte is read
}

func (er *srvExactReader) Read(p []byte) (int, error) {
	if er.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > er.left {
		p = p[:er.left]
	}
	n, err := er.r.Read(p)
	er.left -= int64(n)
	if er.left == 0 && er.done != nil {
		er.done()
		er.done = nil
	}
	if err == io.EOF && er.left > 0 {
		return n, storage.ErrShortBody
	}
	if err != nil && err != io.EOF {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return n, storage.ErrShortBody
		}
		return n, err
	}
	if er.left == 0 {
		return n, io.EOF
	}
	return n, nil
}

// idleWriter extends the write deadline while the client keeps reading.
type idleWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
	last time.Time
}

func (iw *idleWriter) touch() {
	if now := time.Now(); now.Sub(iw.last) > iw.idle/8 {
		_ = iw.rc.SetWriteDeadline(now.Add(iw.idle))
		iw.last = now
	}
}

func (iw *idleWriter) Write(p []byte) (int, error) {
	iw.touch()
	return iw.w.Write(p)
}

// copyOut streams n bytes of src to the client in slices, refreshing the
// deadline per slice; each slice goes through the response's ReadFrom with a
// single io.LimitedReader around src, so a file-backed src (one that is a
// syscall.Conn, like *os.File) is sent with sendfile(2).
func (iw *idleWriter) copyOut(src io.Reader, n int64) (int64, error) {
	const slice = 8 << 20
	var total int64
	for total < n {
		iw.touch()
		k, err := io.CopyN(iw.w, src, min(slice, n-total))
		total += k
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// smallCopy is the largest body copied through a pooled buffer.
const smallCopy = 32 << 10

var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallCopy); return &b }}

// ifMatchOf turns the write preconditions of our extension into the store's
// IfMatch: a version id (quotes optional), "*" (a live head must exist),
// an ETag "md5:<hex>" of the head, or If-None-Match "*" / If-Match "null"
// (no live head may exist).
func (s *Server) ifMatchOf(rq *srvReq, b *storage.Bucket, key string) (string, error) {
	if inm := strings.TrimSpace(rq.r.Header.Get("If-None-Match")); inm == "*" {
		return "null", nil
	}
	v := strings.Trim(strings.TrimSpace(rq.r.Header.Get("If-Match")), `"`)
	switch {
	case v == "":
		return "", nil
	case v == "null":
		return "null", nil
	case v == "*" || strings.HasPrefix(v, "md5:"):
		head, err := s.store.Stat(rq.r.Context(), b.ID, key, "")
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalidKey) {
			return "", errPrecondition("key has no live head")
		}
		if err != nil {
			return "", err
		}
		if head.File != nil && head.File.MD5 == "" {
			rq.links.fillMD5(head)
		}
		if v != "*" && (head.File == nil || head.File.MD5 != v) {
			return "", errPrecondition("head checksum is not " + v)
		}
		return head.VersionID, nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return "", apiErr(http.StatusBadRequest, "If-Match must be a version id, \"*\", \"null\" or an md5 ETag.")
	}
	return id.String(), nil
}

func errPrecondition(why string) error {
	return &APIError{Status: http.StatusPreconditionFailed, Message: ptr("Precondition failed: " + why), Cause: storage.ErrConflict}
}
