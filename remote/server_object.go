package remote

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/storage"
)

const objectAllow = "DELETE, GET, HEAD, OPTIONS, POST, PUT"

// serveObject is the route /files/{b}/{key}. Selectors are parsed before
// anything else (spec §1.4), so a malformed id is 422 even for unknown buckets.
func (s *Server) serveObject(rq *srvReq, seg, key string) error {
	q := rq.q
	switch rq.r.Method {
	case http.MethodGet, http.MethodHead:
		if q.Has("uploads") {
			return methodNotAllowed(objectAllow)
		}
		vid, err := parseUUIDParam(q, "versionId")
		if err != nil {
			return err
		}
		uid, err := parseUUIDParam(q, "uploadId")
		if err != nil {
			return err
		}
		switch {
		case uid != "" && q.Has("state"):
			return s.uploadState(rq, seg, key, uid)
		case uid != "":
			return s.listParts(rq, seg, key, uid)
		case q.Has("versions"):
			return s.keyVersions(rq, seg, key)
		case q.Has("stat"):
			return s.statObject(rq, seg, key, vid)
		}
		return s.download(rq, seg, key, vid)
	case http.MethodPut:
		uid, err := parseUUIDParam(q, "uploadId")
		if err != nil {
			return err
		}
		if uid != "" {
			return s.uploadPart(rq, seg, key, uid)
		}
		return s.upload(rq, seg, key)
	case http.MethodPost:
		uid, err := parseUUIDParam(q, "uploadId")
		if err != nil {
			return err
		}
		vid, err := parseUUIDParam(q, "versionId")
		if err != nil {
			return err
		}
		switch {
		case q.Has("uploads"):
			return s.initMultipart(rq, seg, key)
		case uid != "":
			return s.complete(rq, seg, key, uid)
		case q.Has("copy"):
			return s.copyObject(rq, seg, key)
		case q.Has("move"):
			return s.moveObject(rq, seg, key)
		case q.Has("restore"):
			return s.restoreObject(rq, seg, key, vid)
		case q.Has("attrs"):
			return s.setAttrs(rq, seg, key, vid)
		}
		b, err := s.lookupBucket(rq, seg)
		if err != nil {
			return err
		}
		if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
			return err
		}
		return apiErr(http.StatusForbidden, msg403)
	case http.MethodDelete:
		if q.Has("uploads") {
			return methodNotAllowed(objectAllow)
		}
		vid, err := parseUUIDParam(q, "versionId")
		if err != nil {
			return err
		}
		uid, err := parseUUIDParam(q, "uploadId")
		if err != nil {
			return err
		}
		if uid != "" {
			return s.abort(rq, seg, key, uid)
		}
		return s.deleteObject(rq, seg, key, vid)
	case http.MethodOptions:
		return options(rq, objectAllow)
	}
	return methodNotAllowed(objectAllow)
}

// lookupObject finds the head (vid "") or one version of key; a head that
// is a delete marker, an unknown or invalid key are "Object does not exists.".
func (s *Server) lookupObject(rq *srvReq, b *storage.Bucket, key, vid string) (*storage.ObjectVersion, error) {
	v, err := s.store.Stat(rq.r.Context(), b.ID, key, vid)
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrInvalidKey) || errors.Is(err, storage.ErrInvalid) {
		return nil, errObjectNotFound()
	}
	if err != nil {
		return nil, err
	}
	if v.Key != key || (vid == "" && v.DeleteMarker()) {
		return nil, errObjectNotFound()
	}
	return v, nil
}

// checkRead is the permission to read version v of bucket b: object-read,
// and object-read-version too for a version that is not the head.
func (s *Server) checkRead(rq *srvReq, b *storage.Bucket, v *storage.ObjectVersion) error {
	if err := s.check(rq, ActionObjectRead, b, true); err != nil {
		return err
	}
	if !v.IsHead {
		return s.check(rq, ActionObjectReadVersion, b, false)
	}
	return nil
}

// uploadBody is one parsed upload request shape (spec E6).
type uploadBody struct {
	r    io.Reader
	size int64
}

// parseUpload recognises the raw stream and the ng-file-upload form shapes.
func (s *Server) parseUpload(rq *srvReq) (*uploadBody, error) {
	rq.startBody()
	ct := rq.r.Header.Get("Content-Type")
	if strings.HasPrefix(strings.ToLower(ct), "multipart/form-data") {
		fields, file, err := readFormUntilFile(rq.r, ct)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(fields["_totalSize"], 10, 64)
		if err != nil || file == nil {
			return nil, apiErr(http.StatusBadRequest, msg400)
		}
		return &uploadBody{r: file, size: n}, nil
	}
	n := contentLength(rq.r)
	if n < 0 {
		return nil, apiErr(http.StatusBadRequest, msg400)
	}
	if n < 1 && !(n == 0 && rq.q.Has("allowEmpty")) {
		return nil, apiErrNull(http.StatusBadRequest)
	}
	return &uploadBody{r: rq.r.Body, size: n}, nil
}

// readFormUntilFile streams a multipart/form-data body: it collects the
// small fields that precede the part named "file" and returns that part
// unread, so the file is never buffered.
func readFormUntilFile(r *http.Request, ct string) (map[string]string, io.Reader, error) {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil || params["boundary"] == "" {
		return nil, nil, apiErr(http.StatusBadRequest, msg400)
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	fields := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return fields, nil, nil
		}
		if err != nil {
			return nil, nil, apiErr(http.StatusBadRequest, msg400)
		}
		if p.FormName() == "file" {
			return fields, p, nil
		}
		v, err := io.ReadAll(io.LimitReader(p, 4096))
		if err != nil {
			return nil, nil, apiErr(http.StatusBadRequest, msg400)
		}
		fields[p.FormName()] = string(v)
	}
}

// upload is E6, checks in the reference's order.
func (s *Server) upload(rq *srvReq, seg, key string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
		return err
	}
	body, err := s.parseUpload(rq)
	if err != nil {
		return err
	}
	tags, err := parseTags(rq.r.Header.Get(s.opts.TagsHeader))
	if err != nil {
		return err
	}
	if err := checkSizeLimit(b, body.size); err != nil {
		return err
	}
	if b.Locked {
		return storage.ErrLocked
	}
	if err := checkNewKey(key); err != nil {
		return err
	}
	ifMatch, err := s.ifMatchOf(rq, b, key)
	if err != nil {
		return err
	}
	attrs, err := parseAttrs(rq.r.Header.Get("X-Bucketfs-Attrs"))
	if err != nil {
		return err
	}
	src := &srvExactReader{r: newIdleReader(rq.w, body.r, s.opts.BodyIdleTimeout), left: body.size, done: rq.endBody}
	v, err := s.store.Put(rq.ctx(), b.ID, key, src, storage.PutOptions{
		Size: body.size, IfMatch: ifMatch, Tags: tags, Attrs: attrs, Mimetype: rq.r.Header.Get("X-Bucketfs-Mimetype"),
		// The response carries the checksum: compute MD5 in the pass
		// rather than reading a large blob again right after.
		InlineMD5: true,
	})
	if err != nil {
		return s.writeErr(err)
	}
	if v.File != nil && v.File.MD5 != "" {
		rq.w.Header().Set("ETag", `"`+v.File.MD5+`"`)
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.objectJSON(v))
	return nil
}

// writeErr gives store errors of writes their reference wording.
func (s *Server) writeErr(err error) error {
	switch {
	case errors.Is(err, storage.ErrConflict):
		return &APIError{Status: http.StatusPreconditionFailed, Message: ptr("Precondition failed: " + trimSentinel(err)), Cause: err}
	case errors.Is(err, storage.ErrNotFound):
		return &APIError{Status: http.StatusNotFound, Message: ptr("Object does not exists."), Cause: err}
	}
	return err
}

// deleteObject is E8 (soft) and E9 (hard, with versionId).
func (s *Server) deleteObject(rq *srvReq, seg, key, vid string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	v, err := s.lookupObject(rq, b, key, vid)
	if err != nil {
		return err
	}
	if err := s.checkRead(rq, b, v); err != nil {
		return err
	}
	if err := s.check(rq, ActionObjectDelete, b, false); err != nil {
		return err
	}
	if vid != "" {
		if err := s.check(rq, ActionObjectDeleteVersion, b, false); err != nil {
			return err
		}
	}
	if b.Locked {
		return storage.ErrLocked
	}
	if vid != "" {
		err = s.store.RemoveVersion(rq.ctx(), b.ID, key, vid)
	} else {
		var ifMatch string
		if ifMatch, err = s.ifMatchOf(rq, b, key); err != nil {
			return err
		}
		var marker *storage.ObjectVersion
		marker, err = s.store.Delete(rq.ctx(), b.ID, key, storage.DeleteOptions{IfMatch: ifMatch})
		if err == nil && marker != nil {
			rq.w.Header().Set("X-Bucketfs-Version-Id", marker.VersionID)
		}
	}
	if err != nil {
		return s.writeErr(err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// keyVersions (extension) lists every version of one key, delete markers
// included and flagged.
func (s *Server) keyVersions(rq *srvReq, seg, key string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketRead, b, true); err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketReadVersions, b, false); err != nil {
		return err
	}
	vs, err := s.store.Versions(rq.r.Context(), b.ID, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrInvalidKey) {
		return err
	}
	out := make([]srvObject, 0, len(vs))
	for _, v := range vs {
		out = append(out, rq.links.objectJSON(v))
	}
	writeJSON(rq.w, rq.r, http.StatusOK, map[string]any{"key": key, "contents": out})
	return nil
}

// statObject (extension) answers one version's JSON without its bytes.
func (s *Server) statObject(rq *srvReq, seg, key, vid string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	v, err := s.lookupObject(rq, b, key, vid)
	if err != nil {
		return err
	}
	if err := s.checkRead(rq, b, v); err != nil {
		return err
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.objectJSON(v))
	return nil
}

// parseAttrs reads X-Bucketfs-Attrs (query syntax, no length limits).
func parseAttrs(h string) (map[string]string, error) {
	if h == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(h)
	if err != nil {
		return nil, apiErr(http.StatusBadRequest, "Invalid X-Bucketfs-Attrs header: "+err.Error())
	}
	m := make(map[string]string, len(q))
	for k, v := range q {
		m[k] = v[len(v)-1]
	}
	return m, nil
}
