package remote

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// isJSONBody reports whether the request body is declared JSON; Invenio
// reads bodies only then (spec E1, E10).
func isJSONBody(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// readJSONBody decodes a small JSON body (at most 1 MiB, sent within
// BodyIdleTimeout); malformed JSON is a 400.
func readJSONBody(rq *srvReq, v any) error {
	rq.startBody()
	data, err := io.ReadAll(http.MaxBytesReader(nil, rq.r.Body, 1<<20))
	if err != nil {
		// The deadline stays: the server's discard of the rest of a
		// stalled body must end too.
		return err
	}
	rq.endBody()
	if len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return apiErr(http.StatusBadRequest, "Malformed JSON body: "+err.Error())
	}
	return nil
}

// serveLocation is the route /files: create bucket (E1) and our list.
func (s *Server) serveLocation(rq *srvReq) error {
	switch rq.r.Method {
	case http.MethodPost:
		return s.createBucket(rq)
	case http.MethodGet, http.MethodHead:
		return s.listBuckets(rq)
	case http.MethodOptions:
		return options(rq, "GET, HEAD, OPTIONS, POST")
	}
	return methodNotAllowed("GET, HEAD, OPTIONS, POST")
}

// createBucket is E1; a JSON body may name the bucket and set its limits.
func (s *Server) createBucket(rq *srvReq) error {
	if err := s.check(rq, ActionLocationUpdate, nil, false); err != nil {
		return err
	}
	var body struct {
		Name         string            `json:"name"`
		QuotaSize    *int64            `json:"quota_size"`
		MaxFileSize  *int64            `json:"max_file_size"`
		Location     string            `json:"location"`
		StorageClass string            `json:"storage_class"`
		Tags         map[string]string `json:"tags"`
	}
	if isJSONBody(rq.r) {
		if err := readJSONBody(rq, &body); err != nil {
			return err
		}
	}
	opts := storage.BucketOptions{Name: body.Name, Location: body.Location, StorageClass: body.StorageClass, Tags: body.Tags}
	if body.QuotaSize != nil {
		opts.QuotaSize = *body.QuotaSize
	}
	if body.MaxFileSize != nil {
		opts.MaxFileSize = *body.MaxFileSize
	}
	b, err := s.store.CreateBucket(rq.ctx(), opts)
	if errors.Is(err, storage.ErrExists) {
		return &APIError{Status: http.StatusConflict, Message: ptr("Bucket name already exists."), Cause: err}
	}
	if err != nil {
		return err
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.bucketJSON(b))
	return nil
}

// listBuckets (extension) lists the buckets the caller may read.
func (s *Server) listBuckets(rq *srvReq) error {
	if rq.tok == nil || rq.tok.anonymous {
		return ErrUnauthenticated
	}
	all, err := s.store.ListBuckets(rq.r.Context())
	if err != nil {
		return err
	}
	out := []srvBucket{}
	for _, b := range all {
		if !b.Deleted && rq.tok.Allows(ActionBucketRead, b) {
			out = append(out, rq.links.bucketJSON(b))
		}
	}
	writeJSON(rq.w, rq.r, http.StatusOK, map[string]any{"buckets": out})
	return nil
}

// serveBucket is the route /files/{b}.
func (s *Server) serveBucket(rq *srvReq, seg string) error {
	switch rq.r.Method {
	case http.MethodGet, http.MethodHead:
		return s.getBucket(rq, seg)
	case http.MethodPut:
		return s.updateBucket(rq, seg)
	case http.MethodDelete:
		return s.deleteBucket(rq, seg)
	case http.MethodOptions:
		return options(rq, "DELETE, GET, HEAD, OPTIONS, PUT")
	}
	return methodNotAllowed("DELETE, GET, HEAD, OPTIONS, PUT")
}

// getBucket is E2-E5 plus pagination, prefix and delimiter.
func (s *Server) getBucket(rq *srvReq, seg string) error {
	q := rq.q
	if rq.r.Method == http.MethodHead {
		// E2: query parameters are ignored.
		b, err := s.lookupBucket(rq, seg)
		if err != nil {
			return err
		}
		if err := s.check(rq, ActionBucketRead, b, true); err != nil {
			return err
		}
		rq.w.Header().Set("Content-Type", "application/json")
		rq.w.Header().Set("Content-Length", "0")
		rq.w.WriteHeader(http.StatusOK)
		return nil
	}
	limit, err := parseIntParam(q, "limit")
	if err != nil {
		return err
	}
	if limit < 0 || limit > int64(s.opts.ListLimit) {
		return validationErr("limit", "Must be between 1 and "+itoa(int64(s.opts.ListLimit))+".")
	}
	if q.Has("delimiter") && q.Get("delimiter") != "/" {
		return validationErr("delimiter", "Only \"/\" is supported.")
	}
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if q.Has("uploads") {
		return s.listUploads(rq, b)
	}
	if err := s.check(rq, ActionBucketRead, b, true); err != nil {
		return err
	}
	versions := q.Has("versions")
	if versions {
		if err := s.check(rq, ActionBucketReadVersions, b, false); err != nil {
			return err
		}
	}
	var at time.Time
	if v := q.Get("at"); v != "" {
		if at, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return validationErr("at", "Not a valid RFC 3339 time.")
		}
	}
	opts := storage.ListOptions{At: at,
		Prefix: q.Get("prefix"), Delimiter: q.Get("delimiter"), After: q.Get("after"),
		Limit: int(limit), Versions: versions,
	}
	if opts.Limit == 0 {
		opts.Limit = s.opts.ListLimit
	}
	res, err := s.store.List(rq.r.Context(), b.ID, opts)
	if err != nil {
		return err
	}
	type listing struct {
		srvBucket
		Contents []srvObject `json:"contents"`
		Prefixes []string    `json:"prefixes,omitempty"`
		Next     string      `json:"next,omitempty"`
	}
	out := listing{srvBucket: rq.links.bucketJSON(b), Contents: make([]srvObject, 0, len(res.Objects)), Next: res.Next}
	for _, v := range res.Objects {
		out.Contents = append(out.Contents, rq.links.objectJSON(v))
	}
	if opts.Delimiter != "" {
		out.Prefixes = res.Prefixes
		if out.Prefixes == nil {
			out.Prefixes = []string{}
		}
	}
	if res.Next != "" {
		nq := rq.r.URL.Query()
		nq.Del("access_token")
		nq.Set("after", res.Next)
		out.Links = copyLinks(out.Links)
		out.Links["next"] = rq.links.bucket(b.ID) + "?" + nq.Encode()
	}
	writeJSON(rq.w, rq.r, http.StatusOK, out)
	return nil
}

func copyLinks(m map[string]string) map[string]string {
	c := make(map[string]string, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// listUploads is E5: a bare array. Completed uploads are left out: ours are
// merged at completion, so they are objects already (upstream lists them
// only until its merge task runs).
func (s *Server) listUploads(rq *srvReq, b *storage.Bucket) error {
	if err := s.check(rq, ActionBucketListMultiparts, b, true); err != nil {
		return err
	}
	mps, err := s.store.ListMultiparts(rq.r.Context(), b.ID)
	if err != nil {
		return err
	}
	out := []srvMultipart{}
	for _, m := range mps {
		if m.Completed {
			continue
		}
		if len(out) == s.opts.ListLimit {
			break
		}
		out = append(out, rq.links.multipartJSON(m))
	}
	writeJSON(rq.w, rq.r, http.StatusOK, out)
	return nil
}

// updateBucket (extension) changes lock, quota, max size and tags.
func (s *Server) updateBucket(rq *srvReq, seg string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketRead, b, true); err != nil {
		return err
	}
	if err := s.check(rq, ActionLocationUpdate, nil, false); err != nil {
		return err
	}
	var raw map[string]json.RawMessage
	if err := readJSONBody(rq, &raw); err != nil {
		return err
	}
	var u storage.BucketUpdate
	for k, v := range raw {
		var err error
		switch k {
		case "locked":
			u.Locked = new(bool)
			err = json.Unmarshal(v, u.Locked)
		case "quota_size":
			u.QuotaSize = new(int64)
			err = json.Unmarshal(v, u.QuotaSize) // null leaves 0 = unlimited
		case "max_file_size":
			u.MaxFileSize = new(int64)
			err = json.Unmarshal(v, u.MaxFileSize)
		case "tags":
			err = json.Unmarshal(v, &u.Tags)
		default:
			return validationErr(k, "Unknown field.")
		}
		if err != nil {
			return validationErr(k, "Invalid value: "+err.Error())
		}
	}
	nb, err := s.store.UpdateBucket(rq.ctx(), b.ID, u)
	if err != nil {
		return err
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.bucketJSON(nb))
	return nil
}

// deleteBucket (extension) soft-deletes a bucket.
func (s *Server) deleteBucket(rq *srvReq, seg string) error {
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketRead, b, true); err != nil {
		return err
	}
	if err := s.check(rq, ActionLocationUpdate, nil, false); err != nil {
		return err
	}
	if b.Locked {
		return storage.ErrLocked
	}
	err = s.store.DeleteBucket(rq.ctx(), b.ID, rq.q.Has("onlyIfEmpty"))
	if errors.Is(err, storage.ErrNotEmpty) {
		return &APIError{Status: http.StatusConflict, Message: ptr("Bucket is not empty."), Cause: err}
	}
	if err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
