package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// errStalled is the cause of a request cancelled by its watchdog: no
// progress for IdleTimeout (or no headers for HeaderTimeout).
var errStalled = errors.New("transfer stalled")

// expectContinueSize is the body size from which uploads wait for
// "100 Continue" (curl's threshold is 1 MiB too).
const expectContinueSize = 1 << 20

// errNoRewind ends the retries of a body that was (partly) sent and cannot
// be read again.
var errNoRewind = errors.New("request body cannot be sent again")

// request describes one logical call; do may send it several times.
type request struct {
	method string
	url    string
	header http.Header
	// body returns a fresh reader of the body for each try; nil = no body.
	// It returns errNoRewind when the body cannot be produced again.
	body func() (io.Reader, error)
	// size is the Content-Length of body (-1 = unknown: chunked).
	size int64
	// idempotent: sending it again after it may have been applied does no
	// harm (GET, HEAD, a part upload, a write guarded by If-Match).
	idempotent bool
	// extraWait lengthens the header timeout (long polls).
	extraWait time.Duration
	// stream: the caller takes the response body (do does not close it).
	stream bool
	// retry overrides the client's policy when non-nil.
	retry *RetryPolicy
	// unread is the body of the previous try when not a byte of it was
	// read (a failed dial): the next try sends it as it is.
	unread io.Reader
	// noRewind: the body of a failed try may still be in use; no resend.
	noRewind bool
	// goneOK: a 404 to a resend after a try that may have been applied means
	// that try did it (deletes, aborts).
	goneOK bool
}

func newRequest(method, url string) *request {
	return &request{method: method, url: url, header: http.Header{}}
}

// jsonBody makes a rewindable JSON body of v.
func (r *request) jsonBody(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrInvalid, err)
	}
	r.header.Set("Content-Type", "application/json")
	r.size = int64(len(b))
	r.body = func() (io.Reader, error) { return strings.NewReader(string(b)), nil }
	return nil
}

// do sends r until it succeeds, fails permanently or the retries are spent.
// handle is called with every 2xx response; an error from reading the body
// there counts as a transport failure of that try. Unless r.stream, do
// drains and closes the body after handle.
func (c *Client) do(ctx context.Context, r *request, handle func(*http.Response) error) error {
	pol := c.opts.Retry
	if r.retry != nil {
		pol = *r.retry
	}
	prevApplied := false
	for attempt := 1; ; attempt++ {
		e, maybeApplied, bodyRead := c.try(ctx, r, handle)
		if e == nil {
			return nil
		}
		if r.goneOK && prevApplied && errors.Is(e, storage.ErrNotFound) {
			return nil
		}
		prevApplied = prevApplied || maybeApplied
		if err := ctx.Err(); err != nil {
			// The caller gave up: report that, never retry it.
			return fmt.Errorf("%s %s: %w", r.method, redactURL(r.url), err)
		}
		d, ok := pol.wait(attempt, e)
		if ok && maybeApplied && !r.idempotent {
			ok = false
		}
		if ok && r.noRewind {
			ok = false
		}
		if ok && bodyRead && r.body != nil {
			if _, err := r.body(); errors.Is(err, errNoRewind) {
				ok = false
			}
		}
		if !ok {
			return e
		}
		c.log.Warn("remote: retrying", "method", r.method, "url", redactURL(r.url),
			"attempt", attempt, "wait", d, "err", e.Message, "status", e.Status)
		if err := c.sleep(ctx, d); err != nil {
			return fmt.Errorf("%s %s: %w (after: %v)", r.method, redactURL(r.url), err, e)
		}
	}
}

// try sends r once. maybeApplied reports that the server may have acted on
// it; bodyRead that bytes of the body were consumed.
func (c *Client) try(ctx context.Context, r *request, handle func(*http.Response) error) (e *Error, maybeApplied, bodyRead bool) {
	ctx2, cancel := context.WithCancelCause(ctx)
	wd := newWatchdog(c.opts.HeaderTimeout+r.extraWait, c.opts.IdleTimeout, cancel)
	var body io.Reader
	var counted *countingReader
	if r.body != nil {
		b, err := r.unread, error(nil)
		r.unread = nil
		if b == nil {
			b, err = r.body()
		}
		if err != nil {
			wd.stop()
			cancel(nil)
			return &Error{Method: r.method, URL: r.url, Kind: storage.ErrInvalid, Message: err.Error(), Err: err}, false, false
		}
		counted = &countingReader{r: b, wd: wd, want: r.size, closed: make(chan struct{})}
		body = counted
	}
	req, err := http.NewRequestWithContext(ctx2, r.method, r.url, body)
	if err != nil {
		wd.stop()
		cancel(nil)
		return &Error{Method: r.method, URL: r.url, Kind: storage.ErrInvalid, Message: err.Error(), Err: err}, false, false
	}
	if body != nil {
		req.ContentLength = r.size
		if r.size == 0 {
			// Go treats ContentLength 0 with a body as "unknown"; an empty
			// body must be sent as Content-Length: 0.
			req.Body = http.NoBody
			req.GetBody = nil
			counted = nil
		}
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if body != nil && r.size >= expectContinueSize {
		// Let the server refuse (auth, quota, lock, overload) before the
		// bytes are sent; a refused body is then still unread and can be
		// sent again even when it is a one-shot stream.
		req.Header.Set("Expect", "100-continue")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	setOrigin(ctx, req.Header)

	resp, err := c.hc.Do(req)
	read := counted != nil && counted.n.Load() > 0
	if counted != nil && (err != nil || resp.StatusCode > 299) {
		// The transport may still be reading the body in its write loop
		// after it returned; a resend must not read the same source
		// concurrently. It closes the body when done; wait for that.
		if !counted.waitClosed(c.opts.IdleTimeout) {
			r.noRewind = true
		}
		read = counted.n.Load() > 0
		if !read {
			r.unread = counted.r
		}
	}
	if err != nil {
		wd.stop()
		stalled := errors.Is(context.Cause(ctx2), errStalled)
		cancel(nil)
		if ctx.Err() != nil {
			return &Error{Method: r.method, URL: r.url, Kind: storage.ErrUnavailable, Err: ctx.Err(), Message: ctx.Err().Error()}, true, read
		}
		if stalled {
			err = fmt.Errorf("%w: %v", errStalled, err)
		}
		if errors.Is(err, errShortBodySent) {
			return &Error{Method: r.method, URL: r.url, Kind: storage.ErrShortBody, Err: err, Message: err.Error()}, true, read
		}
		te, sent := transportError(req, err)
		return te, sent, read
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		wd.reset()
		re := responseError(req, resp)
		wd.stop()
		cancel(nil)
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			// Refused before it was carried out: safe to send again.
			return re, false, read
		}
		return re, true, read
	}
	wd.reset()
	resp.Body = &watchedBody{rc: resp.Body, wd: wd, cancel: cancel}
	if handle != nil {
		if err := handle(resp); err != nil {
			if !r.stream {
				drain(resp.Body)
			} else {
				resp.Body.Close()
			}
			var he *Error
			if errors.As(err, &he) {
				return he, true, read
			}
			if ctx.Err() != nil {
				return &Error{Method: r.method, URL: r.url, Kind: storage.ErrUnavailable, Err: ctx.Err(), Message: ctx.Err().Error()}, true, read
			}
			if errors.Is(context.Cause(ctx2), errStalled) {
				err = fmt.Errorf("%w: %v", errStalled, err)
			}
			te, _ := transportError(req, err)
			return te, true, read
		}
	}
	if !r.stream {
		drain(resp.Body)
	}
	return nil, true, read
}

// decodeJSON is a handle that parses the 2xx body into out. A body cut off
// mid-way is a transport failure (retryable); a body that is not the JSON we
// expect is the server's permanent fault.
func decodeJSON(out any) func(*http.Response) error {
	return func(resp *http.Response) error {
		if out == nil {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, out); err != nil {
			return &Error{Method: resp.Request.Method, URL: resp.Request.URL.String(), Status: resp.StatusCode,
				Kind: storage.ErrUnavailable, Message: "malformed JSON response: " + err.Error()}
		}
		return nil
	}
}

// errShortBodySent: the reader ended before the announced Content-Length.
var errShortBodySent = errors.New("content shorter than announced size")

// countingReader counts body bytes, feeds the watchdog and turns Go's
// complaint about a short body into storage.ErrShortBody.
type countingReader struct {
	r      io.Reader
	n      atomic.Int64
	want   int64 // announced size, -1 unknown
	wd     *watchdog
	once   sync.Once
	closed chan struct{}
}

// Close is called by the transport when it is done with the body.
func (c *countingReader) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *countingReader) waitClosed(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.closed:
		return true
	case <-t.C:
		return false
	}
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	got := c.n.Add(int64(n))
	c.wd.reset()
	if err == io.EOF && c.want >= 0 && got < c.want {
		return n, fmt.Errorf("%w: %d of %d bytes", errShortBodySent, got, c.want)
	}
	return n, err
}

// watchedBody feeds the watchdog while the response body is read and
// releases the request's context when it is closed.
type watchedBody struct {
	rc     io.ReadCloser
	wd     *watchdog
	cancel context.CancelCauseFunc
	closed atomic.Bool
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	w.wd.reset()
	return n, err
}

func (w *watchedBody) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	err := w.rc.Close()
	w.wd.stop()
	w.cancel(nil)
	return err
}

// watchdog cancels a request that makes no progress: first for the header
// wait, then for IdleTimeout after every read or write of body bytes.
type watchdog struct {
	t    *time.Timer
	idle time.Duration
}

func newWatchdog(first, idle time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{idle: idle, t: time.AfterFunc(first, func() { cancel(errStalled) })}
}

func (w *watchdog) reset() { w.t.Reset(w.idle) }
func (w *watchdog) stop()  { w.t.Stop() }

// setOrigin forwards the write's origin (storage.WithOrigin) so the server
// stamps it into the events of this request.
func setOrigin(ctx context.Context, h http.Header) {
	o := storage.OriginFrom(ctx)
	if o == (storage.Origin{}) {
		return
	}
	q := url.Values{}
	if o.Kind != "" {
		q.Set("kind", o.Kind)
	}
	if o.Hops != 0 {
		q.Set("hops", fmt.Sprint(o.Hops))
	}
	if o.FunctionID != "" {
		q.Set("function_id", o.FunctionID)
	}
	if o.CallID != "" {
		q.Set("call_id", o.CallID)
	}
	h.Set("X-Bucketfs-Origin", q.Encode())
}
