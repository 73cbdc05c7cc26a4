package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/functions"
)

// accessAPI is the Access Service as csfunctions calls it: every success is
// 200 with a JSON body; failures are 401/403/404/409/422/429 with a JSON
// {"message"} body (the SDK shows the text of 422 and 429).
type accessAPI struct {
	svc *functions.Service
}

// NewAccessHandler serves the Access Service under base (e.g. "/api/access").
func NewAccessHandler(svc *functions.Service, base string) http.Handler {
	a := &accessAPI{svc: svc}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+base+"/numgen", a.numgen)
	mux.HandleFunc("POST "+base+"/file_upload/create", a.create)
	mux.HandleFunc("POST "+base+"/file_upload/{fid}/generate_presigned_url", a.presign)
	mux.HandleFunc("PUT "+base+"/file_upload/{fid}/chunk/{blob}/{n}", a.chunk)
	mux.HandleFunc("POST "+base+"/file_upload/{fid}/complete", a.complete)
	mux.HandleFunc("POST "+base+"/file_upload/{fid}/abort", a.abort)
	mux.HandleFunc(base+"/", func(w http.ResponseWriter, r *http.Request) {
		accessJSON(w, http.StatusNotFound, map[string]string{"message": "no such Access Service endpoint"})
	})
	return mux
}

func accessJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (a *accessAPI) fail(w http.ResponseWriter, err error) {
	st := http.StatusInternalServerError
	switch {
	case errors.Is(err, functions.ErrUnauthorized):
		st = http.StatusUnauthorized
	case errors.Is(err, functions.ErrForbidden):
		st = http.StatusForbidden
	case errors.Is(err, functions.ErrNotFound):
		st = http.StatusNotFound
	case errors.Is(err, functions.ErrConflict):
		st = http.StatusConflict
	case errors.Is(err, functions.ErrInvalid):
		st = http.StatusUnprocessableEntity
	case errors.Is(err, functions.ErrRateLimited):
		st = http.StatusTooManyRequests
		var rl *functions.RateLimitError
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		}
	}
	accessJSON(w, st, map[string]string{"message": err.Error()})
}

// token authenticates the bearer token and counts the request.
func (a *accessAPI) token(w http.ResponseWriter, r *http.Request) (*functions.Token, bool) {
	h := r.Header.Get("Authorization")
	scheme, val, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "bearer") {
		val = ""
	}
	t, err := a.svc.Authenticate(r.Context(), strings.TrimSpace(val))
	if err != nil {
		a.fail(w, err)
		return nil, false
	}
	return t, true
}

func decodeAccess(r *http.Request, v any) error {
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", functions.ErrInvalid, err)
	}
	return nil
}

func (a *accessAPI) numgen(w http.ResponseWriter, r *http.Request) {
	t, ok := a.token(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	count, err := strconv.Atoi(q.Get("count"))
	if err != nil {
		a.fail(w, fmt.Errorf("%w: count %q is not a number", functions.ErrInvalid, q.Get("count")))
		return
	}
	nums, err := a.svc.NextNumbers(r.Context(), t, q.Get("name"), count)
	if err != nil {
		a.fail(w, err)
		return
	}
	accessJSON(w, 200, map[string]any{"numbers": nums})
}

func (a *accessAPI) create(w http.ResponseWriter, r *http.Request) {
	t, ok := a.token(w, r)
	if !ok {
		return
	}
	var body struct {
		ParentObjectID string `json:"parent_object_id"`
		Filename       string `json:"filename"`
		Persno         string `json:"persno"`
		CheckAccess    *bool  `json:"check_access"`
	}
	if err := decodeAccess(r, &body); err != nil {
		a.fail(w, err)
		return
	}
	id, err := a.svc.CreateFile(r.Context(), t, body.ParentObjectID, body.Filename)
	if err != nil {
		a.fail(w, err)
		return
	}
	accessJSON(w, 200, map[string]string{"file_object_id": id})
}

func (a *accessAPI) presign(w http.ResponseWriter, r *http.Request) {
	t, ok := a.token(w, r)
	if !ok {
		return
	}
	var body struct {
		Filesize    *int64 `json:"filesize"`
		CheckAccess *bool  `json:"check_access"`
		Persno      string `json:"persno"`
		LockID      string `json:"lock_id"`
	}
	if err := decodeAccess(r, &body); err != nil {
		a.fail(w, err)
		return
	}
	if body.Filesize == nil {
		a.fail(w, fmt.Errorf("%w: filesize is required", functions.ErrInvalid))
		return
	}
	out, err := a.svc.PresignUpload(r.Context(), t, r.PathValue("fid"), *body.Filesize, body.LockID)
	if err != nil {
		a.fail(w, err)
		return
	}
	accessJSON(w, 200, out)
}

// chunk is the presigned PUT: authorised by its signature, not rate limited.
func (a *accessAPI) chunk(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err1 := strconv.Atoi(r.PathValue("n"))
	exp, err2 := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err1 != nil || err2 != nil {
		a.fail(w, fmt.Errorf("%w: malformed presigned URL", functions.ErrForbidden))
		return
	}
	etag, err := a.svc.PutChunk(r.Context(), r.PathValue("fid"), r.PathValue("blob"), n, q.Get("lock"), exp, q.Get("sig"), r.Body)
	if err != nil {
		a.fail(w, err)
		return
	}
	w.Header().Set("ETag", etag)
	accessJSON(w, 200, struct{}{})
}

type presigned struct {
	BlobID string `json:"blob_id"`
}

func (a *accessAPI) complete(w http.ResponseWriter, r *http.Request) {
	t, ok := a.token(w, r)
	if !ok {
		return
	}
	var body struct {
		Filesize           *int64    `json:"filesize"`
		Persno             string    `json:"persno"`
		PresignedWriteURLs presigned `json:"presigned_write_urls"`
		SHA256             string    `json:"sha256"`
		LockID             string    `json:"lock_id"`
		DeleteDerivedFiles *bool     `json:"delete_derived_files"`
	}
	if err := decodeAccess(r, &body); err != nil {
		a.fail(w, err)
		return
	}
	if body.Filesize == nil {
		a.fail(w, fmt.Errorf("%w: filesize is required", functions.ErrInvalid))
		return
	}
	err := a.svc.CompleteUpload(r.Context(), t, r.PathValue("fid"), *body.Filesize, body.LockID, body.PresignedWriteURLs.BlobID, body.SHA256)
	if err != nil {
		a.fail(w, err)
		return
	}
	accessJSON(w, 200, struct{}{})
}

func (a *accessAPI) abort(w http.ResponseWriter, r *http.Request) {
	t, ok := a.token(w, r)
	if !ok {
		return
	}
	var body struct {
		LockID string `json:"lock_id"`
		Persno string `json:"persno"`
	}
	if err := decodeAccess(r, &body); err != nil {
		a.fail(w, err)
		return
	}
	if err := a.svc.AbortUpload(r.Context(), t, r.PathValue("fid"), body.LockID); err != nil {
		a.fail(w, err)
		return
	}
	accessJSON(w, 200, struct{}{})
}
