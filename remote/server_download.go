package remote

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// download is E7 (GET and HEAD): headers, conditional requests and one byte
// range, streamed from the store (no buffering). One store Get finds the
// version and opens its content (and records the download, as upstream's
// signal, also for HEAD and 304); a delete marker is "not found".
func (s *Server) download(rq *srvReq, seg, key, vid string) error {
	// The store resolves the bucket itself; a separate lookup is needed
	// only when the token is limited to buckets (it may name this one by
	// name) or to tell a missing bucket from a missing object.
	ref := bucketRef(seg)
	var b *storage.Bucket
	if rq.tok != nil && len(rq.tok.Buckets) > 0 && !rq.tok.Admin {
		var err error
		if b, err = s.lookupBucket(rq, seg); err != nil {
			return err
		}
		ref = b.ID
	}
	rc, v, err := s.store.Get(rq.r.Context(), ref, key, vid, 0, -1)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalidKey) || errors.Is(err, storage.ErrInvalid) {
		if b == nil {
			if _, berr := s.lookupBucket(rq, seg); berr != nil {
				return berr
			}
		}
		return errObjectNotFound()
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	if v.Key != key {
		return errObjectNotFound()
	}
	if b == nil {
		b = &storage.Bucket{ID: v.BucketID}
	}
	if err := s.checkRead(rq, b, v); err != nil {
		return err
	}
	if v.DeleteMarker() {
		// Upstream dereferences a null file here (500); a marker has no bytes.
		return errObjectNotFound()
	}
	rq.links.fillMD5(v) // ETag and Content-MD5 need it
	f := v.File
	if !f.Readable && f.ID != "" && f.Writable {
		return apiErr(http.StatusServiceUnavailable, "File storage is offline.")
	}
	// Headers go straight into the map under their canonical names, and
	// constant values are shared slices: Header.Set would canonicalize and
	// allocate each one on every download. Date is left to net/http.
	h := rq.w.Header()
	etag := ""
	if f.MD5 != "" {
		etag = `"` + f.MD5 + `"`
		h["Etag"] = []string{etag}
		if hexsum, ok := strings.CutPrefix(f.MD5, "md5:"); ok {
			h["Content-Md5"] = []string{hexsum}
		}
	}
	h["X-Bucketfs-Version-Id"] = []string{v.VersionID}
	if f.BLAKE3 != "" {
		h["X-Bucketfs-Blake3"] = []string{f.BLAKE3}
	}
	lastMod := v.Created.UTC().Truncate(time.Second)
	h["Last-Modified"] = []string{lastMod.Format(http.TimeFormat)}
	for _, kv := range downloadHeaders {
		h[kv.k] = kv.v
	}
	if s.opts.AllowRanges {
		h["Accept-Ranges"] = hvBytes
	}
	served := sanitizeMimetype(mimetypeOf(v), key)
	ctype := served
	if strings.HasPrefix(served, "text/") {
		ctype += "; charset=utf-8"
	}
	disp := "inline"
	if rq.q.Has("download") || served == "application/octet-stream" {
		disp = "attachment"
	}
	h["Content-Disposition"] = []string{contentDisposition(disp, key)}

	switch conditional(rq.r, etag, lastMod) {
	case http.StatusPreconditionFailed:
		return apiErr(http.StatusPreconditionFailed, "Precondition failed.")
	case http.StatusNotModified:
		h.Del("Content-Disposition")
		rq.w.WriteHeader(http.StatusNotModified)
		return nil
	}

	size := f.Size
	off, length, status := int64(0), size, http.StatusOK
	if s.opts.AllowRanges && rq.r.Header.Get("Range") != "" && ifRangeOK(rq.r, etag, lastMod) {
		start, end, ok := parseRange(rq.r.Header.Get("Range"), size)
		if !ok {
			h.Set("Content-Range", "bytes */"+itoa(size))
			return apiErr(http.StatusRequestedRangeNotSatisfiable, msg416)
		}
		off, length, status = start, end-start+1, http.StatusPartialContent
		h.Set("Content-Range", "bytes "+itoa(start)+"-"+itoa(end)+"/"+itoa(size))
	}
	h["Content-Type"] = []string{ctype}
	h["Content-Length"] = []string{itoa(length)}
	if rq.r.Method == http.MethodHead {
		rq.w.WriteHeader(status)
		return nil
	}
	full := off == 0 && length == size
	if length <= smallCopy {
		return s.sendSmall(rq, rc, status, off, length, full)
	}
	src, closeSrc, err := s.openContent(rq, v, rc, off, length)
	if err != nil {
		return err
	}
	defer closeSrc()
	rq.w.WriteHeader(status)
	iw := &idleWriter{w: rq.w, rc: http.NewResponseController(rq.w), idle: s.opts.WriteIdleTimeout}
	n, err := iw.copyOut(src, length)
	if err == nil && n == length && full && src == io.Reader(rc) {
		// The store checks the content hash when its stream reaches the
		// end; the copy stopped at the length, so ask for that end.
		_, err = rc.Read(nil)
		if err == io.EOF {
			err = nil
		}
	}
	if err != nil || n < length {
		// Headers are gone; abort the connection so the client sees a
		// truncated body rather than a short "complete" one.
		s.log.Warn("download interrupted", "bucket", b.ID, "key", key, "sent", n, "of", length, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// sendSmall answers a body of at most smallCopy bytes from a pooled
// buffer. The whole body is read, and a full one verified by the store,
// before the status leaves, so damaged content is a 500 (kind "checksum")
// rather than a cut connection; headers and body then leave in one write.
func (s *Server) sendSmall(rq *srvReq, rc io.Reader, status int, off, length int64, full bool) error {
	bp := smallBufs.Get().(*[]byte)
	defer smallBufs.Put(bp)
	if off > 0 {
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			return err
		}
	}
	body := (*bp)[:length]
	if _, err := io.ReadFull(rc, body); err != nil {
		return err
	}
	if full {
		if _, err := rc.Read(nil); err != nil && err != io.EOF {
			return err
		}
	}
	iw := idleWriter{w: rq.w, rc: http.NewResponseController(rq.w), idle: s.opts.WriteIdleTimeout}
	iw.touch()
	rq.w.WriteHeader(status)
	if n, err := rq.w.Write(body); err != nil {
		s.log.Warn("download interrupted", "key", rq.r.URL.Path, "sent", n, "of", length, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// zeroCopyMin is the size from which downloads bypass the store's stream
// for the blob file itself: below it the copy costs less than a second open.
const zeroCopyMin = 1 << 20

// fileBlob is a blob reader backed by an OS file (the local backend's).
type fileBlob interface {
	storage.BlobReader
	io.ReadSeeker
	syscall.Conn
}

// openContent returns [off, off+length) of v, whose full stream rc is open.
// Small objects are read from rc. Large ones of local blobs are sent from
// the blob file with sendfile(2) (ServerOptions.ZeroCopy), and other large
// ranges through a new Get at the offset; the read-time BLAKE3 check the
// store does on full streams is then left to the fixity passes.
func (s *Server) openContent(rq *srvReq, v *storage.ObjectVersion, rc io.Reader, off, length int64) (io.Reader, func(), error) {
	ctx := rq.r.Context()
	noop := func() {}
	if length < zeroCopyMin {
		if off == 0 {
			return rc, noop, nil // copyOut stops at length
		}
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			return nil, nil, err
		}
		return io.LimitReader(rc, length), noop, nil
	}
	if bo, ok := s.store.(storage.BlobOpener); ok && s.opts.ZeroCopy {
		br, err := bo.OpenBlob(ctx, v)
		if err != nil {
			return nil, nil, err
		}
		if fb, ok := br.(fileBlob); ok {
			if _, err := fb.Seek(off, io.SeekStart); err == nil {
				return fb, func() { fb.Close() }, nil
			}
		}
		return io.NewSectionReader(br, off, length), func() { br.Close() }, nil
	}
	if off == 0 {
		return rc, noop, nil
	}
	r2, _, err := s.store.Get(ctx, v.BucketID, v.Key, v.VersionID, off, length)
	if err != nil {
		return nil, nil, err
	}
	return r2, func() { r2.Close() }, nil
}

// downloadHeaders are the constant headers of every download: no caching
// without revalidation, and the security headers of spec E7. Their value
// slices are shared (len == cap, so an Add elsewhere copies, never writes).
var downloadHeaders = []struct {
	k string
	v []string
}{
	{"Cache-Control", []string{"no-cache"}},
	{"Content-Security-Policy", []string{"default-src 'none';"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Download-Options", []string{"noopen"}},
	{"X-Permitted-Cross-Domain-Policies", []string{"none"}},
	{"X-Frame-Options", []string{"deny"}},
	{"X-Xss-Protection", []string{"1; mode=block"}},
}

var hvBytes = []string{"bytes"}

// etagList splits an If-Match/If-None-Match value into entity tags.
func etagList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func etagMatch(list []string, etag string, weak bool) bool {
	for _, t := range list {
		if t == "*" {
			return etag != ""
		}
		if weak {
			t = strings.TrimPrefix(t, "W/")
		} else if strings.HasPrefix(t, "W/") {
			continue
		}
		if t == etag || strings.Trim(t, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}

// conditional evaluates RFC 9110 preconditions in their defined order and
// returns 412, 304 or 0 (proceed).
func conditional(r *http.Request, etag string, lastMod time.Time) int {
	if im := r.Header.Get("If-Match"); im != "" {
		if !etagMatch(etagList(im), etag, false) {
			return http.StatusPreconditionFailed
		}
	} else if ius := r.Header.Get("If-Unmodified-Since"); ius != "" {
		if t, err := http.ParseTime(ius); err == nil && lastMod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagMatch(etagList(inm), etag, true) {
			return http.StatusNotModified
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !lastMod.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// ifRangeOK: a Range applies unless If-Range names another representation.
func ifRangeOK(r *http.Request, etag string, lastMod time.Time) bool {
	ir := strings.TrimSpace(r.Header.Get("If-Range"))
	if ir == "" {
		return true
	}
	if strings.HasPrefix(ir, `"`) || strings.HasPrefix(ir, "W/") {
		return !strings.HasPrefix(ir, "W/") && ir == etag
	}
	t, err := http.ParseTime(ir)
	return err == nil && t.Equal(lastMod)
}

// parseRange parses one "bytes=" range against size and returns the
// inclusive [start, end]. Multiple ranges, other units and unsatisfiable or
// malformed ranges are refused (416), as the reference does.
func parseRange(h string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 || strings.HasPrefix(b, "+") {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 || s >= size || strings.HasPrefix(a, "+") {
		return 0, 0, false
	}
	if b == "" {
		return s, size - 1, true
	}
	e, err := strconv.ParseInt(b, 10, 64)
	if err != nil || e < s || strings.HasPrefix(b, "+") {
		return 0, 0, false
	}
	return s, min(e, size-1), true
}
