package remote

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// ServerOptions configure a Server. Start from DefaultServerOptions(): zero
// strings, sizes and durations take the defaults, but booleans are taken as
// given.
type ServerOptions struct {
	// Prefix is the path before "/files", "/events", "/status", "/tokens"
	// and the routes mounted with Handle (Invenio deployments use "/api").
	Prefix string
	// BaseURL, when set ("https://host"), replaces scheme://Host of the
	// request in the links of responses (behind a proxy).
	BaseURL string
	// Tokens verifies bearer tokens. Nil: taken from the store's DB() when it
	// has one; without either, every request is anonymous.
	Tokens *TokenStore
	// AnonymousScopes are granted to requests without a token (e.g.
	// object-read for a public server). Default none.
	AnonymousScopes []string
	// Logger receives request failures and housekeeping (nil = silent).
	Logger *slog.Logger

	// ZeroCopy sends large downloads of local blobs with sendfile(2)
	// instead of through the store's verifying stream.
	ZeroCopy bool
	// AllowRanges serves byte ranges (upstream's FILES_REST_ALLOW_RANGE_REQUESTS).
	AllowRanges bool
	// TagsHeader carries tags on upload (FILES_REST_FILE_TAGS_HEADER).
	TagsHeader string
	// MinPartSize, MaxPartSize and MaxParts bound multipart uploads
	// (FILES_REST_MULTIPART_CHUNKSIZE_MIN/MAX, _MAX_PARTS).
	MinPartSize, MaxPartSize int64
	MaxParts                 int64
	// TaskWaitInterval is the whitespace keep-alive interval of a multipart
	// complete; TaskWaitMax bounds the whole wait.
	TaskWaitInterval, TaskWaitMax time.Duration
	// ListLimit caps one listing page (Invenio: 1000).
	ListLimit int

	// BodyIdleTimeout fails an upload whose client sends nothing for this
	// long (slow clients cannot pin a connection forever), and
	// WriteIdleTimeout a download whose client reads nothing for this long.
	BodyIdleTimeout, WriteIdleTimeout time.Duration
	// ReadHeaderTimeout, IdleTimeout and MaxHeaderBytes configure the
	// http.Server built by HTTPServer.
	ReadHeaderTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                 int
}

// DefaultServerOptions returns the defaults (Invenio's, plus ranges on).
func DefaultServerOptions() ServerOptions {
	return ServerOptions{
		Prefix:            "/api",
		AllowRanges:       true,
		ZeroCopy:          true,
		TagsHeader:        "X-Invenio-File-Tags",
		MinPartSize:       5 << 20,
		MaxPartSize:       5 << 30,
		MaxParts:          10000,
		TaskWaitInterval:  2 * time.Second,
		TaskWaitMax:       600 * time.Second,
		ListLimit:         1000,
		BodyIdleTimeout:   60 * time.Second,
		WriteIdleTimeout:  60 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

func (o *ServerOptions) fill() {
	d := DefaultServerOptions()
	if o.Prefix == "" {
		o.Prefix = d.Prefix
	}
	o.Prefix = "/" + strings.Trim(o.Prefix, "/")
	if o.Prefix == "/" {
		o.Prefix = ""
	}
	o.BaseURL = strings.TrimRight(o.BaseURL, "/")
	if o.TagsHeader == "" {
		o.TagsHeader = d.TagsHeader
	}
	if o.MinPartSize <= 0 {
		o.MinPartSize = d.MinPartSize
	}
	if o.MaxPartSize <= 0 {
		o.MaxPartSize = d.MaxPartSize
	}
	if o.MaxParts <= 0 {
		o.MaxParts = d.MaxParts
	}
	if o.TaskWaitInterval <= 0 {
		o.TaskWaitInterval = d.TaskWaitInterval
	}
	if o.TaskWaitMax <= 0 {
		o.TaskWaitMax = d.TaskWaitMax
	}
	if o.ListLimit <= 0 {
		o.ListLimit = d.ListLimit
	}
	if o.BodyIdleTimeout <= 0 {
		o.BodyIdleTimeout = d.BodyIdleTimeout
	}
	if o.WriteIdleTimeout <= 0 {
		o.WriteIdleTimeout = d.WriteIdleTimeout
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = d.IdleTimeout
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = d.MaxHeaderBytes
	}
}

// dbStore is the optional ability of a store that shares its metadata DB
// (*storage.Store), used for tokens.
type dbStore interface{ DB() metadata.DB }

// Server serves an ObjectStore over the Invenio-Files-REST wire format.
type Server struct {
	store  storage.ObjectStore
	opts   ServerOptions
	tokens *TokenStore
	log    *slog.Logger
	mux    *http.ServeMux
	hk     *Housekeeper // nil until StartHousekeeping
	hkMu   sync.Mutex
	start  time.Time
	// bg counts completions that outlive their request (a timed-out or
	// abandoned complete), so the owner can wait before closing the store.
	bg sync.WaitGroup
}

// WaitBackground waits until work that outlived its request is done, or
// ctx ends. Call it after http.Server.Shutdown and before closing the store.
func (s *Server) WaitBackground(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a Server for store. The store stays owned by the caller.
func NewServer(store storage.ObjectStore, opts ServerOptions) *Server {
	opts.fill()
	s := &Server{store: store, opts: opts, tokens: opts.Tokens, log: opts.Logger, mux: http.NewServeMux(), start: time.Now().UTC()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.tokens == nil {
		if d, ok := store.(dbStore); ok {
			s.tokens = NewTokenStore(d.DB())
		}
	}
	return s
}

// Tokens returns the token store (nil when the server has none).
func (s *Server) Tokens() *TokenStore { return s.tokens }

// Prefix returns the configured prefix ("/api" by default).
func (s *Server) Prefix() string { return s.opts.Prefix }

// Handle mounts h for pattern (an http.ServeMux pattern, e.g.
// "/api/functions/") on the same server; the functions API uses it with
// Authorize and WriteError.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// WriteError answers err with the status and JSON body StatusOf gives it.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, err)
}

// HTTPServer returns an http.Server for addr with the header limits and
// timeouts of the options. Body timeouts are per read (BodyIdleTimeout),
// not per request, so large transfers are not cut off while they progress.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return context.Background() },
	}
}

// srvReq is what every handler needs about one request.
type srvReq struct {
	w     http.ResponseWriter
	r     *http.Request
	q     url.Values
	tok   *Token // nil = anonymous
	links links
	idle  time.Duration // ServerOptions.BodyIdleTimeout
}

// startBody bounds the wait for request body bytes (http.Server has no
// ReadTimeout: it would cut large uploads); idleReader extends the deadline
// while bytes arrive.
func (rq *srvReq) startBody() {
	_ = http.NewResponseController(rq.w).SetReadDeadline(time.Now().Add(rq.idle))
}

// endBody clears the deadline once the body is read: the server's
// background read of the idle connection must not time out (that would
// cancel the request's context) while the store commits a large upload.
func (rq *srvReq) endBody() {
	_ = http.NewResponseController(rq.w).SetReadDeadline(time.Time{})
}

// ServeHTTP routes by hand: http.ServeMux would clean "..", "//" and
// "%2F" out of keys, which are data here (spec §1.3).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeError(w, r, apiErr(http.StatusInternalServerError, msg500))
		}
	}()
	p := r.URL.Path
	pre := s.opts.Prefix
	rest, ok := strings.CutPrefix(p, pre+"/")
	if !ok {
		s.serveMux(w, r)
		return
	}
	switch {
	case rest == "files":
		s.withRequest(w, r, s.serveLocation)
	case strings.HasPrefix(rest, "files/"):
		rest = rest[len("files/"):]
		bucket, key, hasKey := strings.Cut(rest, "/")
		switch {
		case bucket == "" || (hasKey && key == ""):
			writeError(w, r, apiErr(http.StatusNotFound, msg404))
		case !hasKey:
			s.withRequest(w, r, func(rq *srvReq) error { return s.serveBucket(rq, bucket) })
		default:
			s.withRequest(w, r, func(rq *srvReq) error { return s.serveObject(rq, bucket, key) })
		}
	case strings.HasPrefix(rest, "uploads/"):
		uid := rest[len("uploads/"):]
		s.withRequest(w, r, func(rq *srvReq) error { return s.uploadByID(rq, uid) })
	case rest == "events":
		s.withRequest(w, r, s.serveEvents)
	case rest == "status":
		s.withRequest(w, r, s.serveStatus)
	case rest == "tokens" || strings.HasPrefix(rest, "tokens/"):
		s.withRequest(w, r, func(rq *srvReq) error {
			return s.serveTokens(rq, strings.TrimPrefix(strings.TrimPrefix(rest, "tokens"), "/"))
		})
	default:
		s.serveMux(w, r)
	}
}

func (s *Server) serveMux(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, r, apiErr(http.StatusNotFound, msg404))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// withRequest resolves the token, runs h and answers its error.
func (s *Server) withRequest(w http.ResponseWriter, r *http.Request, h func(*srvReq) error) {
	rq := &srvReq{w: w, r: r, links: links{s: s, r: r}, idle: s.opts.BodyIdleTimeout}
	if r.URL.RawQuery != "" {
		rq.q = r.URL.Query() // else nil: reads of a nil url.Values work
	}
	tok, err := s.tokenOf(r)
	if err == nil {
		rq.tok = tok
		err = h(rq)
	}
	if err != nil {
		status, _ := StatusOf(err)
		if status >= 500 {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		}
		writeError(w, r, err)
	}
}

func (s *Server) baseURL(r *http.Request) string {
	if s.opts.BaseURL != "" {
		return s.opts.BaseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// tokenOf finds the bearer token of r: Authorization header first, then the
// access_token query parameter (both as invenio-oauth2server accepts them).
func (s *Server) tokenOf(r *http.Request) (*Token, error) {
	secret := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, val, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "bearer") {
			return nil, ErrTokenInvalid
		}
		secret = strings.TrimSpace(val)
	} else if v := r.URL.Query().Get("access_token"); v != "" {
		secret = v
	}
	if secret == "" {
		if len(s.opts.AnonymousScopes) > 0 {
			return &Token{ID: "anonymous", Scopes: s.opts.AnonymousScopes, anonymous: true}, nil
		}
		return nil, nil
	}
	if s.tokens == nil {
		return nil, ErrTokenInvalid
	}
	return s.tokens.Lookup(r.Context(), secret)
}

// check is one permission check of spec §6.3: allowed, or 404 when hidden,
// else 401 for anonymous and 403 for authenticated callers.
func (s *Server) check(rq *srvReq, action string, b *storage.Bucket, hidden bool) error {
	if rq.tok.Allows(action, b) {
		return nil
	}
	if hidden {
		return apiErr(http.StatusNotFound, msg404)
	}
	if rq.tok == nil || rq.tok.anonymous {
		return ErrUnauthenticated
	}
	return ErrForbidden
}

// Authorize checks action for r on bucket (id or name; "" = global), with
// visible refusals: ErrTokenInvalid or ErrUnauthenticated (401),
// ErrForbidden (403), storage.ErrNotFound for an unknown bucket. It returns
// the caller's token (nil for anonymous callers that passed).
func (s *Server) Authorize(r *http.Request, action, bucket string) (*Token, error) {
	tok, err := s.tokenOf(r)
	if err != nil {
		return nil, err
	}
	var b *storage.Bucket
	if bucket != "" {
		if b, err = s.store.GetBucket(r.Context(), bucket); err != nil {
			return nil, err
		}
	}
	if tok.Allows(action, b) {
		return tok, nil
	}
	if tok == nil || tok.anonymous {
		return nil, ErrUnauthenticated
	}
	return nil, ErrForbidden
}

// ctx returns the request context stamped with the API origin, so the
// store's events say who made the change.
func (rq *srvReq) ctx() context.Context {
	return storage.WithOrigin(rq.r.Context(), originOf(rq.r))
}

// originOf reads X-Bucketfs-Origin (query syntax: kind, hops, function_id,
// call_id) so a mount, sync daemon or function writing through the server
// keeps its identity in the events; the default is "api".
func originOf(r *http.Request) storage.Origin {
	o := storage.Origin{Kind: "api"}
	h := r.Header.Get("X-Bucketfs-Origin")
	if h == "" {
		return o
	}
	q, _ := url.ParseQuery(h)
	switch k := q.Get("kind"); k {
	case "api", "mount", "sync", "function", "system":
		o.Kind = k
	}
	if n, err := strconv.Atoi(q.Get("hops")); err == nil && n >= 0 {
		o.Hops = n
	}
	o.FunctionID = q.Get("function_id")
	o.CallID = q.Get("call_id")
	return o
}

// methodNotAllowed is the 405 of an unrouted method.
func methodNotAllowed(allow string) error {
	e := apiErr(http.StatusMethodNotAllowed, msg405)
	e.Allow = allow
	return e
}

// options answers the automatic OPTIONS of a Flask route.
func options(rq *srvReq, allow string) error {
	rq.w.Header().Set("Allow", allow)
	rq.w.Header().Set("Content-Length", "0")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// fillMD5 fills a version's pending MD5 (see storage.MD5Ensurer; a large
// put's is computed after it) before a checksum is emitted. Nothing to do
// when it is known or the store has no such ability; a failure leaves the
// checksum out.
func (l *links) fillMD5(v *storage.ObjectVersion) {
	if v == nil || v.File == nil || v.File.MD5 != "" {
		return
	}
	e, ok := l.s.store.(storage.MD5Ensurer)
	if !ok {
		return
	}
	if err := e.EnsureMD5(l.r.Context(), v); err != nil {
		l.s.log.Warn("md5 of a version", "version", v.VersionID, "err", err)
	}
}
