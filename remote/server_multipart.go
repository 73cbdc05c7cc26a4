package remote

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bucketfs/bucketfs/storage"
)

// lookupUpload finds upload uid of bucket b and key; anything else is the
// reference's "uploadId does not exists.".
func (s *Server) lookupUpload(rq *srvReq, b *storage.Bucket, key, uid string) (*storage.Multipart, error) {
	m, err := s.store.GetMultipart(rq.r.Context(), uid)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalid) {
		return nil, errUploadNotFound()
	}
	if err != nil {
		return nil, err
	}
	if m.BucketID != b.ID || m.Key != key {
		return nil, errUploadNotFound()
	}
	return m, nil
}

func errCompleted() error {
	return &APIError{Status: http.StatusForbidden, Message: ptr("Multipart upload is already completed."), Cause: storage.ErrConflict}
}

// initMultipart is E10.
func (s *Server) initMultipart(rq *srvReq, seg, key string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
		return err
	}
	size, err := parseIntParam(rq.q, "size")
	if err != nil {
		return err
	}
	partSize, err := parseIntParam(rq.q, "partSize")
	if err != nil {
		return err
	}
	if (size == 0 || partSize == 0) && isJSONBody(rq.r) {
		var body struct {
			Size     any `json:"size"`
			PartSize any `json:"partSize"`
		}
		if err := readJSONBody(rq, &body); err != nil {
			return err
		}
		if size == 0 {
			if size, err = jsonInt(body.Size, "size"); err != nil {
				return err
			}
		}
		if partSize == 0 {
			if partSize, err = jsonInt(body.PartSize, "partSize"); err != nil {
				return err
			}
		}
	}
	if size == 0 {
		return apiErr(http.StatusBadRequest, "Missing required query argument 'size'")
	}
	if partSize == 0 {
		return apiErr(http.StatusBadRequest, "Missing required query argument 'partSize'")
	}
	if b.Locked {
		return storage.ErrLocked
	}
	if partSize < s.opts.MinPartSize || partSize > s.opts.MaxPartSize {
		return apiErr(http.StatusBadRequest, "Invalid part size.")
	}
	if size <= s.opts.MinPartSize || size > partSize*s.opts.MaxParts {
		return apiErr(http.StatusBadRequest, "Invalid file size.")
	}
	if err := checkSizeLimit(b, size); err != nil {
		return err
	}
	if err := checkNewKey(key); err != nil {
		return err
	}
	attrs, err := parseAttrs(rq.r.Header.Get("X-Bucketfs-Attrs"))
	if err != nil {
		return err
	}
	tags, err := parseTags(rq.r.Header.Get(s.opts.TagsHeader))
	if err != nil {
		return err
	}
	ifMatch, err := s.ifMatchOf(rq, b, key)
	if err != nil {
		return err
	}
	m, err := s.store.InitMultipart(rq.ctx(), b.ID, key, size, partSize, storage.PutOptions{
		Size: size, IfMatch: ifMatch, Tags: tags, Attrs: attrs, Mimetype: rq.r.Header.Get("X-Bucketfs-Mimetype"),
	})
	if err != nil {
		return err
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.multipartJSON(m))
	return nil
}

// jsonInt accepts a JSON number or a numeric string (marshmallow's Int).
func jsonInt(v any, field string) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case float64:
		if x != float64(int64(x)) {
			return 0, validationErr(field, "Not a valid integer.")
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, validationErr(field, "Not a valid integer.")
		}
		return n, nil
	}
	return 0, validationErr(field, "Not a valid integer.")
}

// partShape is one parsed part upload (spec E11).
type partShape struct {
	n    int64
	size int64
	body uploadBody
}

func (s *Server) parsePart(rq *srvReq) (*partShape, error) {
	rq.startBody()
	noPart := apiErr(http.StatusBadRequest, "No upload part detected in request.")
	ct := rq.r.Header.Get("Content-Type")
	if strings.HasPrefix(strings.ToLower(ct), "multipart/form-data") {
		fields, file, err := readFormUntilFile(rq.r, ct)
		if err != nil {
			return nil, err
		}
		n, err1 := strconv.ParseInt(fields["_chunkNumber"], 10, 64)
		size, err2 := strconv.ParseInt(fields["_currentChunkSize"], 10, 64)
		if err1 != nil || err2 != nil || file == nil {
			return nil, noPart
		}
		if size < 1 {
			return nil, apiErrNull(http.StatusBadRequest)
		}
		return &partShape{n: n, size: size, body: uploadBody{r: file, size: size}}, nil
	}
	n, err := strconv.ParseInt(rq.q.Get("partNumber"), 10, 64)
	cl := contentLength(rq.r)
	if err != nil || cl < 0 {
		return nil, noPart
	}
	if cl < 1 {
		return nil, apiErrNull(http.StatusBadRequest)
	}
	return &partShape{n: n, size: cl, body: uploadBody{r: rq.r.Body, size: cl}}, nil
}

// uploadPart is E11. The last part may be full size when the size is an
// exact multiple of the part size (upstream refuses it, spec §8.3).
func (s *Server) uploadPart(rq *srvReq, seg, key, uid string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
		return err
	}
	m, err := s.lookupUpload(rq, b, key, uid)
	if err != nil {
		return err
	}
	p, err := s.parsePart(rq)
	if err != nil {
		return err
	}
	last := int64(m.Parts()) - 1
	expected := m.PartSize
	if p.n == last {
		expected = m.Size - last*m.PartSize
	}
	if p.size != expected {
		return apiErr(http.StatusBadRequest, "Invalid part size.")
	}
	if p.n < 0 || p.n > last {
		return apiErr(http.StatusBadRequest, "Invalid part number.")
	}
	if m.Completed {
		return errCompleted()
	}
	src := &srvExactReader{r: newIdleReader(rq.w, p.body.r, s.opts.BodyIdleTimeout), left: p.size, done: rq.endBody}
	part, err := s.store.UploadPart(rq.ctx(), uid, int(p.n), src, p.size)
	if errors.Is(err, storage.ErrConflict) {
		return errCompleted()
	}
	if errors.Is(err, storage.ErrNotFound) {
		return errUploadNotFound()
	}
	if err != nil {
		return err
	}
	if part.Checksum != "" {
		rq.w.Header().Set("ETag", `"`+part.Checksum+`"`)
	}
	writeJSON(rq.w, rq.r, http.StatusOK, partToJSON(part))
	return nil
}

// pendingUpload finds an upload that is not completed (completed ones are
// not found, as after upstream's merge) and checks action on its bucket.
func (s *Server) pendingUpload(rq *srvReq, seg, key, uid string, action string) (*storage.Multipart, error) {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return nil, err
	}
	m, err := s.lookupUpload(rq, b, key, uid)
	if err != nil {
		return nil, err
	}
	if m.Completed {
		return nil, errUploadNotFound()
	}
	if err := s.check(rq, action, b, true); err != nil {
		return nil, err
	}
	return m, nil
}

// listParts is E12. Completed uploads are gone here, as after upstream's
// merge; our ?state extension still shows them.
func (s *Server) listParts(rq *srvReq, seg, key, uid string) error {
	m, err := s.pendingUpload(rq, seg, key, uid, ActionMultipartRead)
	if err != nil {
		return err
	}
	parts, err := s.store.ListParts(rq.r.Context(), uid)
	if err != nil {
		return err
	}
	out := make([]srvPart, 0, len(parts))
	for _, p := range parts {
		if len(out) == s.opts.ListLimit {
			break
		}
		out = append(out, partToJSON(p))
	}
	type withParts struct {
		srvMultipart
		Parts []srvPart `json:"parts"`
	}
	writeJSON(rq.w, rq.r, http.StatusOK, withParts{srvMultipart: rq.links.multipartJSON(m), Parts: out})
	return nil
}

// uploadState (extension) shows an upload, pending or completed, with the
// version it produced: a client that lost the complete answer finds it here.
func (s *Server) uploadState(rq *srvReq, seg, key, uid string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	m, err := s.lookupUpload(rq, b, key, uid)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionMultipartRead, b, true); err != nil {
		return err
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.multipartJSON(m))
	return nil
}

// complete is E13: 200 at once, then one space per TaskWaitInterval while
// the completion runs, then the JSON (or an in-body error) — the reference's
// whitespace keep-alive, which proxies with short idle timeouts survive.
func (s *Server) complete(rq *srvReq, seg, key, uid string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
		return err
	}
	m, err := s.lookupUpload(rq, b, key, uid)
	if err != nil {
		return err
	}
	if m.Completed {
		return errCompleted()
	}
	parts, err := s.store.ListParts(rq.r.Context(), uid)
	if err != nil {
		return err
	}
	if len(parts) != m.Parts() {
		return &APIError{Status: http.StatusBadRequest, Message: ptr("Not all parts have been uploaded."), Cause: storage.ErrConflict}
	}
	type result struct {
		v   *storage.ObjectVersion
		err error
	}
	done := make(chan result, 1)
	// The completion outlives a client that hangs up, like upstream's task.
	ctx := context.WithoutCancel(rq.ctx())
	store := s.store
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		v, err := store.CompleteMultipart(ctx, uid)
		done <- result{v, err}
	}()
	w := rq.w
	w.Header().Set("Content-Type", "application/json")
	rc := http.NewResponseController(w)
	rounds := int(s.opts.TaskWaitMax / s.opts.TaskWaitInterval)
	timer := time.NewTimer(s.opts.TaskWaitInterval)
	defer timer.Stop()
	started, timedOut := false, false
	var res result
wait:
	for round := 0; ; round++ {
		select {
		case res = <-done:
			break wait
		default:
		}
		if round == rounds {
			timedOut = true
			break
		}
		select {
		case res = <-done:
			break wait
		case <-timer.C:
			if !started {
				w.WriteHeader(http.StatusOK)
				started = true
			}
			_ = rc.SetWriteDeadline(time.Now().Add(s.opts.WriteIdleTimeout))
			_, _ = w.Write([]byte(" "))
			_ = rc.Flush()
			timer.Reset(s.opts.TaskWaitInterval)
		}
	}
	var body []byte
	switch {
	case timedOut:
		body = []byte(`{"status": 500, "message": "Job timed out."}`)
	case res.err != nil:
		s.log.Error("multipart complete failed", "upload", uid, "err", res.err)
		body = []byte(`{"status": 500, "message": "Job failed."}`)
	default:
		m2 := *m
		m2.Completed = true
		m2.VersionID = res.v.VersionID
		body = encodeJSON(rq.r, rq.links.multipartJSON(&m2))
	}
	if !started {
		w.WriteHeader(http.StatusOK)
	}
	_, _ = w.Write(body)
	return nil
}

// abort is E14; completed uploads are not found (spec E14).
func (s *Server) abort(rq *srvReq, seg, key, uid string) error {
	if _, err := s.pendingUpload(rq, seg, key, uid, ActionMultipartDelete); err != nil {
		return err
	}
	if err := s.store.AbortMultipart(rq.ctx(), uid); err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
			return errUploadNotFound()
		}
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// uploadByID (extension) finds an upload by id alone, for clients whose
// calls carry only the upload id.
func (s *Server) uploadByID(rq *srvReq, uid string) error {
	if rq.r.Method != http.MethodGet && rq.r.Method != http.MethodHead {
		return methodNotAllowed("GET, HEAD")
	}
	id, err := uuid.Parse(uid)
	if err != nil {
		return errUploadNotFound()
	}
	m, err := s.store.GetMultipart(rq.r.Context(), id.String())
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalid) {
		return errUploadNotFound()
	}
	if err != nil {
		return err
	}
	b, err := s.store.GetBucket(rq.r.Context(), m.BucketID)
	if err != nil || b.Deleted {
		return errUploadNotFound()
	}
	if !rq.tok.Allows(ActionMultipartRead, b) {
		return errUploadNotFound()
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.multipartJSON(m))
	return nil
}
