package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// These tests put a fault-injecting fake server behind the client and
// assert what is sent again and what is not. Waits between tries are
// recorded instead of slept.

const (
	fakeBucket  = "11111111-1111-4111-8111-111111111111"
	fakeVersion = "22222222-2222-4222-8222-222222222222"
	fakeUpload  = "33333333-3333-4333-8333-333333333333"
)

type faultServer struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	count map[string]int // "METHOD selector" -> requests seen
	conns atomic.Int32   // connections accepted
	// handle answers a request; n is the 1-based count of this kind.
	handle func(w http.ResponseWriter, r *http.Request, kind string, n int)
}

func newFaultServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, kind string, n int)) *faultServer {
	f := &faultServer{t: t, count: map[string]int{}, handle: handle}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := r.Method + " " + selector(r)
		f.mu.Lock()
		f.count[kind]++
		n := f.count[kind]
		f.mu.Unlock()
		f.handle(w, r, kind, n)
	}))
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// selector names the operation of a request the way the spec does.
func selector(r *http.Request) string {
	q := r.URL.Query()
	for _, s := range []string{"uploads", "state", "uploadId", "stat", "versions", "copy", "move", "restore", "attrs", "versionId"} {
		if q.Has(s) {
			return s
		}
	}
	if strings.Count(strings.TrimPrefix(r.URL.Path, "/api/files"), "/") >= 2 {
		return "object"
	}
	return "bucket"
}

func (f *faultServer) n(kind string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[kind]
}

// client returns a client of the fake with a fast retry policy whose waits
// are recorded.
func (f *faultServer) client(mod func(*ClientOptions)) (*Client, func() []time.Duration) {
	o := DefaultClientOptions()
	o.Retry = RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, MaxRetryAfter: time.Minute}
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(f.srv.URL, o)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return c, func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), waits...)
	}
}

func objectJSON(key string, size int64) string {
	return fmt.Sprintf(`{"key":%q,"version_id":%q,"is_head":true,"mimetype":"application/octet-stream","size":%d,`+
		`"checksum":"md5:00","delete_marker":false,"tags":{},"created":"2026-07-20T09:15:02+00:00","updated":"2026-07-20T09:15:02.140001+00:00",`+
		`"links":{"self":"http://x/api/files/%s/%s"}}`, key, fakeVersion, size, fakeBucket, key)
}

func writeJSONStatus(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// reset drops the connection without an answer.
func reset(w http.ResponseWriter) {
	panic(http.ErrAbortHandler)
}

func TestClientRetry503HonoursRetryAfter(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		if n <= 2 {
			w.Header().Set("Retry-After", "7")
			writeJSONStatus(w, 503, `{"status":503,"message":"busy"}`)
			return
		}
		writeJSONStatus(w, 200, objectJSON("k", 3))
	})
	c, waits := f.client(nil)
	v, err := c.Stat(t.Context(), fakeBucket, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Key != "k" || v.Size() != 3 || v.BucketID != fakeBucket {
		t.Fatalf("version %+v", v)
	}
	if got := f.n("GET stat"); got != 3 {
		t.Fatalf("%d requests, want 3", got)
	}
	if w := waits(); len(w) != 2 || w[0] != 7*time.Second || w[1] != 7*time.Second {
		t.Fatalf("waits %v, want [7s 7s] from Retry-After", w)
	}
}

func TestClientRetry429OnPutResendsBody(t *testing.T) {
	var got []string
	var mu sync.Mutex
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		if r.ContentLength != 5 {
			t.Errorf("Content-Length %d", r.ContentLength)
		}
		if n == 1 {
			w.Header().Set("Retry-After", "Thu, 01 Jan 1970 00:00:00 GMT") // in the past: backoff instead
			writeJSONStatus(w, 429, `{"status":429,"message":"slow down"}`)
			return
		}
		writeJSONStatus(w, 200, objectJSON("k", 5))
	})
	c, waits := f.client(nil)
	if _, err := c.Put(t.Context(), fakeBucket, "k", strings.NewReader("hello"), storage.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	if f.n("PUT object") != 2 || got[0] != "hello" || got[1] != "hello" {
		t.Fatalf("requests %d, bodies %q", f.n("PUT object"), got)
	}
	if len(waits()) != 1 {
		t.Fatalf("waits %v", waits())
	}
}

func TestClientRetryGatewayErrors(t *testing.T) {
	for _, status := range []int{502, 504} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
				io.Copy(io.Discard, r.Body)
				if n == 1 {
					writeJSONStatus(w, status, `{"status":0,"message":"gateway"}`)
					return
				}
				writeJSONStatus(w, 200, objectJSON("k", 1))
			})
			c, _ := f.client(nil)
			// A GET is sent again...
			if _, err := c.Stat(t.Context(), fakeBucket, "k", ""); err != nil {
				t.Fatal(err)
			}
			if f.n("GET stat") != 2 {
				t.Fatalf("GET tries %d, want 2", f.n("GET stat"))
			}
			// ...a PUT is not: the gateway may have passed it on.
			_, err := c.Put(t.Context(), fakeBucket, "k", strings.NewReader("x"), storage.PutOptions{Size: 1})
			if !errors.Is(err, storage.ErrUnavailable) || !IsRetryable(err) {
				t.Fatalf("Put: %v (retryable %v), want a retryable ErrUnavailable", err, IsRetryable(err))
			}
			if f.n("PUT object") != 1 {
				t.Fatalf("PUT tries %d, want 1", f.n("PUT object"))
			}
		})
	}
}

func TestClientResetAfterUploadNotRetriedUnlessIfMatch(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		io.Copy(io.Discard, r.Body)
		if n <= 2 || r.Header.Get("If-Match") == "" {
			reset(w)
		}
		writeJSONStatus(w, 200, objectJSON("k", 3))
	})
	c, _ := f.client(nil)
	_, err := c.Put(t.Context(), fakeBucket, "k", strings.NewReader("abc"), storage.PutOptions{Size: 3})
	if !errors.Is(err, storage.ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("Put: %v, want retryable ErrUnavailable", err)
	}
	if got := f.n("PUT object"); got != 1 {
		t.Fatalf("plain PUT sent %d times after a reset, want 1 (it may have been applied)", got)
	}
	// Guarded by If-Match, a resend cannot make a second version.
	if _, err := c.Put(t.Context(), fakeBucket, "k", strings.NewReader("abc"), storage.PutOptions{Size: 3, IfMatch: fakeVersion}); err != nil {
		t.Fatal(err)
	}
	if got := f.n("PUT object"); got != 3 {
		t.Fatalf("PUT requests %d, want 3 (1 plain + 2 guarded)", got)
	}
}

func TestClientResetOnReadRetried(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		if n == 1 {
			reset(w)
		}
		writeJSONStatus(w, 200, `{"key":"k","contents":[]}`)
	})
	c, _ := f.client(nil)
	if _, err := c.Versions(t.Context(), fakeBucket, "k"); err != nil {
		t.Fatal(err)
	}
	if f.n("GET versions") != 2 {
		t.Fatalf("tries %d, want 2", f.n("GET versions"))
	}
}

func TestClientPermanentErrorsNotRetried(t *testing.T) {
	cases := []struct {
		status int
		msg    string
		want   error
	}{
		{400, "Bucket quota exceeded.", storage.ErrQuotaExceeded},
		{400, "Maximum file size exceeded.", storage.ErrTooLarge},
		{400, "File is smaller than expected.", storage.ErrShortBody},
		{400, "Filename is too long.", storage.ErrInvalidKey},
		{400, "Invalid part size.", storage.ErrInvalid},
		{401, "no", storage.ErrPermission},
		{403, "Bucket is locked for modifications.", storage.ErrLocked},
		{403, "You do not have a permission for this action", storage.ErrPermission},
		{403, "Multipart upload is already completed.", storage.ErrConflict},
		{404, "Object does not exists.", storage.ErrNotFound},
		{409, "Bucket name already exists.", storage.ErrExists},
		{409, "Bucket is not empty.", storage.ErrNotEmpty},
		{412, "Precondition failed: head version is x", storage.ErrConflict},
		{422, "Validation error.", storage.ErrInvalid},
		{500, "boom", storage.ErrUnavailable},
		{507, "No space left on storage.", storage.ErrNoSpace},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.status, tc.msg), func(t *testing.T) {
			f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
				writeJSONStatus(w, tc.status, fmt.Sprintf(`{"status":%d,"message":%q}`, tc.status, tc.msg))
			})
			c, _ := f.client(nil)
			_, err := c.Stat(t.Context(), fakeBucket, "k", "")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if IsRetryable(err) {
				t.Fatalf("%v is retryable", err)
			}
			if f.n("GET stat") != 1 {
				t.Fatalf("tries %d, want 1", f.n("GET stat"))
			}
		})
	}
}

func TestClientRetriesBounded(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		writeJSONStatus(w, 503, `{"status":503,"message":"File storage is offline."}`)
	})
	c, waits := f.client(nil)
	_, err := c.Stat(t.Context(), fakeBucket, "k", "")
	if !errors.Is(err, storage.ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
	if f.n("GET stat") != 4 || len(waits()) != 3 {
		t.Fatalf("tries %d waits %v, want 4 tries (MaxAttempts) and 3 waits", f.n("GET stat"), waits())
	}
	// Backoff grows (jitter is at most ±20 %, so doubling always shows).
	w := waits()
	if !(w[1] > w[0] && w[2] >= w[1]) {
		t.Fatalf("waits do not grow: %v", w)
	}
	// A Retry-After over the cap ends the retries at once.
	f2 := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		w.Header().Set("Retry-After", "3600")
		writeJSONStatus(w, 429, `{"status":429,"message":"later"}`)
	})
	c2, _ := f2.client(nil)
	if _, err := c2.Stat(t.Context(), fakeBucket, "k", ""); !IsRetryable(err) || f2.n("GET stat") != 1 {
		t.Fatalf("err %v after %d tries, want 1 try and a retryable error", err, f2.n("GET stat"))
	}
}

func TestClientCancelNotRetried(t *testing.T) {
	arrived := make(chan struct{}, 4)
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		arrived <- struct{}{}
		<-r.Context().Done()
	})
	c, waits := f.client(nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	_, err := c.Stat(ctx, fakeBucket, "k", "")
	if !errors.Is(err, context.Canceled) || IsRetryable(err) {
		t.Fatalf("err %v, want context.Canceled, not retryable", err)
	}
	if f.n("GET stat") != 1 || len(waits()) != 0 {
		t.Fatalf("tries %d waits %v", f.n("GET stat"), waits())
	}
}

func TestClientStalledResponseRetried(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		if n == 1 {
			<-r.Context().Done() // never answers; the client's watchdog gives up
			return
		}
		writeJSONStatus(w, 200, objectJSON("k", 1))
	})
	c, _ := f.client(func(o *ClientOptions) { o.HeaderTimeout = 100 * time.Millisecond })
	if _, err := c.Stat(t.Context(), fakeBucket, "k", ""); err != nil {
		t.Fatal(err)
	}
	if f.n("GET stat") != 2 {
		t.Fatalf("tries %d, want 2", f.n("GET stat"))
	}
}

func TestClientGetResumesCutDownload(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var ranges []string
	var mu sync.Mutex
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		if kind == "GET stat" {
			writeJSONStatus(w, 200, objectJSON("k", int64(len(data))))
			return
		}
		if r.URL.Query().Get("versionId") != fakeVersion {
			t.Errorf("download not pinned to the version: %s", r.URL)
		}
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		start, end := int64(0), int64(len(data))
		if rg := r.Header.Get("Range"); rg != "" {
			fmt.Sscanf(rg, "bytes=%d-%d", &start, &end)
			end++
		}
		w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(data)))
		w.WriteHeader(206)
		chunk := data[start:end]
		if n <= 2 {
			// Cut the first two downloads off part-way.
			w.Write(chunk[:len(chunk)/3])
			w.(http.Flusher).Flush()
			reset(w)
		}
		w.Write(chunk)
	})
	c, _ := f.client(nil)
	rc, v, err := c.Get(t.Context(), fakeBucket, "k", "", 1000, int64(len(data))-2000)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if v.VersionID != fakeVersion || !bytes.Equal(got, data[1000:len(data)-1000]) {
		t.Fatalf("got %d bytes, version %s", len(got), v.VersionID)
	}
	if len(ranges) != 3 || ranges[0] != fmt.Sprintf("bytes=1000-%d", len(data)-1001) {
		t.Fatalf("ranges %q", ranges)
	}
	for i := 1; i < len(ranges); i++ {
		var a, b int
		fmt.Sscanf(ranges[i], "bytes=%d-%d", &a, &b)
		if a <= 1000 || b != len(data)-1001 {
			t.Fatalf("resume %d asked %q: must continue where the cut happened", i, ranges[i])
		}
	}
}

func TestClientCompleteLostAnswerResolvedByState(t *testing.T) {
	var completed atomic.Bool
	mp := func(done bool) string {
		vid := "null"
		if done {
			vid = strconv.Quote(fakeVersion)
		}
		return fmt.Sprintf(`{"id":%q,"bucket":%q,"key":"big","completed":%v,"size":20000000,"part_size":6000000,`+
			`"version_id":%s,"links":{"self":"x"}}`, fakeUpload, fakeBucket, done, vid)
	}
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		switch kind {
		case "POST uploads":
			writeJSONStatus(w, 200, mp(false))
		case "POST uploadId":
			completed.Store(true)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			w.Write([]byte("   "))
			w.(http.Flusher).Flush()
			reset(w) // the merge happened, the answer is lost
		case "GET state":
			writeJSONStatus(w, 200, mp(completed.Load()))
		case "GET stat":
			writeJSONStatus(w, 200, objectJSON("big", 20000000))
		default:
			t.Errorf("unexpected %s", kind)
			writeJSONStatus(w, 500, `{}`)
		}
	})
	c, _ := f.client(nil)
	m, err := c.InitMultipart(t.Context(), fakeBucket, "big", 20000000, 6000000, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.CompleteMultipart(t.Context(), m.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	if v.VersionID != fakeVersion {
		t.Fatalf("version %+v", v)
	}
	if f.n("POST uploadId") != 1 {
		t.Fatalf("complete sent %d times, want 1", f.n("POST uploadId"))
	}
}

func TestClientCompleteErrorInBody(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		switch kind {
		case "POST uploads":
			writeJSONStatus(w, 200, fmt.Sprintf(`{"id":%q,"bucket":%q,"key":"big","completed":false,"size":20000000,"part_size":6000000}`, fakeUpload, fakeBucket))
		case "POST uploadId":
			writeJSONStatus(w, 200, `  {"status": 400, "message": "Not all parts have been uploaded."}`)
		default:
			t.Errorf("unexpected %s", kind)
		}
	})
	c, _ := f.client(nil)
	m, err := c.InitMultipart(t.Context(), fakeBucket, "big", 20000000, 6000000, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipart(t.Context(), m.UploadID); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("err %v, want ErrConflict", err)
	}
}

func TestClientPutBodyLengthChecked(t *testing.T) {
	var stored atomic.Int32
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		b, err := io.ReadAll(r.Body)
		if err != nil || int64(len(b)) != r.ContentLength {
			return // the server's view of a short body: nothing stored
		}
		stored.Add(1)
		writeJSONStatus(w, 200, objectJSON("k", int64(len(b))))
	})
	c, _ := f.client(nil)
	_, err := c.Put(t.Context(), fakeBucket, "k", strings.NewReader("short"), storage.PutOptions{Size: 10})
	if !errors.Is(err, storage.ErrShortBody) {
		t.Fatalf("short body: %v, want ErrShortBody", err)
	}
	_, err = c.Put(t.Context(), fakeBucket, "k", strings.NewReader("much too long"), storage.PutOptions{Size: 4})
	if err == nil {
		t.Fatal("long body accepted")
	}
	if stored.Load() != 0 {
		t.Fatalf("the server stored %d objects from wrong-sized bodies", stored.Load())
	}
}

func TestClientPutUnknownSizeSendsContentLength(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 3<<20)
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		b, _ := io.ReadAll(r.Body)
		if r.ContentLength != int64(len(data)) || len(r.TransferEncoding) != 0 || !bytes.Equal(b, data) {
			t.Errorf("Content-Length %d, TE %v, %d bytes", r.ContentLength, r.TransferEncoding, len(b))
		}
		writeJSONStatus(w, 200, objectJSON("k", int64(len(b))))
	})
	// SpoolMemory below the size: the body goes through a temp file.
	c, _ := f.client(func(o *ClientOptions) { o.SpoolMemory = 1 << 20; o.SpoolDir = t.TempDir() })
	if _, err := c.Put(t.Context(), fakeBucket, "k", io.MultiReader(bytes.NewReader(data)), storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(t.Context(), fakeBucket, "k", bytes.NewReader(data), storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
}

func TestClientChoosePartSize(t *testing.T) {
	for _, size := range []int64{5<<20 + 1, 10 << 20, 16 << 20, 32 << 20, 64<<20 + 1, 160 << 20, 1 << 30, 150 << 30, 5 << 40} {
		p := choosePartSize(size, 16<<20)
		parts := (size + p - 1) / p
		if size%p == 0 || p < minPartSize || p > maxPartSize || parts > maxParts {
			t.Errorf("size %d: part size %d (%d parts)", size, p, parts)
		}
	}
}

func TestClientBaseURLForms(t *testing.T) {
	for in, want := range map[string]string{
		"http://h:7480":                "http://h:7480/api/files",
		"http://h:7480/":               "http://h:7480/api/files",
		"https://h/api":                "https://h/api/files",
		"https://zenodo.org/api/files": "https://zenodo.org/api/files",
		"http://h/custom/":             "http://h/custom/files",
	} {
		c, err := NewClient(in, ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.filesURL("", "", nil); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"ftp://h", "h:7480", "http://h?x=1", ""} {
		if _, err := NewClient(bad, ClientOptions{}); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	c, _ := NewClient("http://h", ClientOptions{})
	if got := c.filesURL("b", "a dir/ü?#%.txt", query("versions", "", "versionId", "v")); got !=
		"http://h/api/files/b/a%20dir/%C3%BC%3F%23%25.txt?versionId=v&versions" {
		t.Errorf("escaped %s", got)
	}
}

func TestClientDialFailureResendsAnything(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {})
	c, waits := f.client(nil)
	f.srv.Close() // nothing listens: every dial is refused
	// A non-idempotent PUT with a one-shot body: never sent, so it is tried
	// again (the body was not read), up to MaxAttempts.
	_, err := c.Put(t.Context(), fakeBucket, "k", io.MultiReader(strings.NewReader("abc")), storage.PutOptions{Size: 3})
	if !errors.Is(err, storage.ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
	if len(waits()) != 3 {
		t.Fatalf("waits %v, want 3 (4 tries)", waits())
	}
}

func TestClientConsumedStreamNotResent(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		io.Copy(io.Discard, r.Body)
		writeJSONStatus(w, 503, `{"status":503,"message":"File storage is offline."}`)
	})
	c, waits := f.client(nil)
	// 503 means "not done", but the one-shot body is gone: no resend.
	_, err := c.Put(t.Context(), fakeBucket, "k", io.MultiReader(strings.NewReader("abc")), storage.PutOptions{Size: 3})
	if !errors.Is(err, storage.ErrUnavailable) || !IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
	if f.n("PUT object") != 1 || len(waits()) != 0 {
		t.Fatalf("tries %d waits %v, want 1 try", f.n("PUT object"), waits())
	}
}

// TestClientReusesConnections: sequential calls, failed ones included,
// travel over one kept-alive connection.
func TestClientReusesConnections(t *testing.T) {
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		if n%2 == 0 {
			writeJSONStatus(w, 404, `{"status":404,"message":"Object does not exists."}`)
			return
		}
		writeJSONStatus(w, 200, objectJSON("k", 1))
	})
	c, _ := f.client(nil)
	for i := 0; i < 20; i++ {
		_, err := c.Stat(t.Context(), fakeBucket, "k", "")
		if i%2 == 1 && !errors.Is(err, storage.ErrNotFound) || i%2 == 0 && err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if f.conns.Load() != 1 {
		t.Fatalf("%d connections for 20 sequential calls, want 1", f.conns.Load())
	}
}

func TestClient503BeforeBodyResendsStream(t *testing.T) {
	data := bytes.Repeat([]byte("z"), 2<<20)
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		if r.Header.Get("Expect") != "100-continue" {
			t.Errorf("no Expect: 100-continue on a %d byte upload", r.ContentLength)
		}
		if n == 1 {
			// Refused before reading a byte (a server shedding load).
			writeJSONStatus(w, 503, `{"status":503,"message":"busy"}`)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if !bytes.Equal(b, data) {
			t.Errorf("resent body has %d bytes", len(b))
		}
		writeJSONStatus(w, 200, objectJSON("k", int64(len(b))))
	})
	c, _ := f.client(nil)
	_, err := c.Put(t.Context(), fakeBucket, "k", io.MultiReader(bytes.NewReader(data)), storage.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if f.n("PUT object") != 2 {
		t.Fatalf("tries %d, want 2: a refused, unread stream can be sent again", f.n("PUT object"))
	}
}

// TestClientGetWithoutRangeSupport: a server that ignores Range (Invenio's
// default) answers 200 with everything; the client skips to the offset.
func TestClientGetWithoutRangeSupport(t *testing.T) {
	data := []byte("0123456789")
	f := newFaultServer(t, func(w http.ResponseWriter, r *http.Request, kind string, n int) {
		if kind == "GET stat" {
			writeJSONStatus(w, 200, objectJSON("k", int64(len(data))))
			return
		}
		w.Write(data)
	})
	c, _ := f.client(nil)
	rc, _, err := c.Get(t.Context(), fakeBucket, "k", "", 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != "3456" {
		t.Fatalf("got %q, %v", got, err)
	}
}
