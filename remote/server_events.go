package remote

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// srvMaxEventWait bounds a long poll, below common proxy idle timeouts.
const srvMaxEventWait = 60 * time.Second

// serveEvents (extension) long-polls the store's event outbox so mounts and
// sync clients of a server can invalidate caches.
func (s *Server) serveEvents(rq *srvReq) error {
	if rq.r.Method != http.MethodGet && rq.r.Method != http.MethodHead {
		return methodNotAllowed("GET, HEAD")
	}
	after, err := strconv.ParseUint(defaultStr(rq.q.Get("after"), "0"), 10, 64)
	if err != nil {
		return validationErr("after", "Not a valid integer.")
	}
	limit, err := parseIntParam(rq.q, "limit")
	if err != nil || limit < 0 || limit > 10000 {
		return validationErr("limit", "Must be between 1 and 10000.")
	}
	if limit == 0 {
		limit = 1000
	}
	wait, err := parseWait(rq.q.Get("wait"))
	if err != nil {
		return err
	}
	if rq.tok == nil || rq.tok.anonymous {
		return ErrUnauthenticated
	}
	src, ok := s.store.(storage.EventSource)
	if !ok {
		return apiErr(http.StatusNotImplemented, "This store has no event log.")
	}
	bucket := rq.q.Get("bucket")
	if bucket != "" {
		bucket = bucketRef(bucket)
	}
	deadline := time.Now().Add(wait)
	out := []storage.Event{}
	next := after
	for {
		evs, err := src.Events(rq.r.Context(), next, int(limit), time.Until(deadline))
		if err != nil {
			return err
		}
		for _, e := range evs {
			next = max(next, e.Seq)
			if bucket != "" && e.BucketID != bucket && e.BucketName != bucket {
				continue
			}
			if !rq.tok.Allows(ActionBucketRead, &storage.Bucket{ID: e.BucketID, Name: e.BucketName}) {
				continue
			}
			out = append(out, e)
		}
		// Everything read was filtered out: keep waiting for the caller.
		if len(out) > 0 || len(evs) == 0 || !time.Now().Before(deadline) {
			break
		}
	}
	writeJSON(rq.w, rq.r, http.StatusOK, map[string]any{"events": out, "next": next})
	return nil
}

func defaultStr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// parseWait accepts a Go duration ("30s") or plain seconds ("30").
func parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, err2 := strconv.ParseFloat(v, 64)
		if err2 != nil {
			return 0, validationErr("wait", "Not a valid duration.")
		}
		d = time.Duration(n * float64(time.Second))
	}
	if d < 0 {
		return 0, validationErr("wait", "Must not be negative.")
	}
	return min(d, srvMaxEventWait), nil
}

// serveStatus (extension) reports the housekeeping tasks.
func (s *Server) serveStatus(rq *srvReq) error {
	if rq.r.Method != http.MethodGet && rq.r.Method != http.MethodHead {
		return methodNotAllowed("GET, HEAD")
	}
	if rq.tok == nil || rq.tok.anonymous {
		return ErrUnauthenticated
	}
	s.hkMu.Lock()
	hk := s.hk
	s.hkMu.Unlock()
	tasks := map[string]TaskStatus{}
	if hk != nil {
		tasks = hk.Status()
	}
	writeJSON(rq.w, rq.r, http.StatusOK, map[string]any{
		"version": Version,
		"started": isoTime(s.start),
		"tasks":   tasks,
	})
	return nil
}

// Version is reported by the status endpoint.
var Version = "dev"

// serveTokens (extension) manages tokens over HTTP; admin tokens only.
func (s *Server) serveTokens(rq *srvReq, id string) error {
	if rq.tok == nil || rq.tok.anonymous {
		return ErrUnauthenticated
	}
	if !rq.tok.Admin {
		return ErrForbidden
	}
	if s.tokens == nil {
		return apiErr(http.StatusNotImplemented, "This server has no token store.")
	}
	ctx := rq.r.Context()
	switch {
	case id == "" && rq.r.Method == http.MethodPost:
		var body struct {
			Name    string    `json:"name"`
			Admin   bool      `json:"admin"`
			Scopes  []string  `json:"scopes"`
			Buckets []string  `json:"buckets"`
			Expires time.Time `json:"expires"`
		}
		if err := readJSONBody(rq, &body); err != nil {
			return err
		}
		secret, t, err := s.tokens.Create(ctx, TokenSpec{Name: body.Name, Admin: body.Admin, Scopes: body.Scopes, Buckets: body.Buckets, Expires: body.Expires})
		if err != nil {
			return err
		}
		writeJSON(rq.w, rq.r, http.StatusOK, tokenJSON(t, secret))
		return nil
	case id == "" && rq.r.Method == http.MethodGet:
		ts, err := s.tokens.List(ctx)
		if err != nil {
			return err
		}
		out := []map[string]any{}
		for _, t := range ts {
			out = append(out, tokenJSON(t, ""))
		}
		writeJSON(rq.w, rq.r, http.StatusOK, map[string]any{"tokens": out})
		return nil
	case id != "" && rq.r.Method == http.MethodDelete:
		if err := s.tokens.Revoke(ctx, id); err != nil {
			return err
		}
		rq.w.WriteHeader(http.StatusNoContent)
		return nil
	case id == "":
		return methodNotAllowed("GET, POST")
	}
	return methodNotAllowed("DELETE")
}

func tokenJSON(t *Token, secret string) map[string]any {
	m := map[string]any{
		"id": t.ID, "name": t.Name, "admin": t.Admin, "scopes": nonNil(t.Scopes),
		"buckets": nonNil(t.Buckets), "created": isoTime(t.Created), "expires": nil,
	}
	if !t.Expires.IsZero() {
		m["expires"] = isoTime(t.Expires)
	}
	if secret != "" {
		m["token"] = secret
	}
	return m
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
