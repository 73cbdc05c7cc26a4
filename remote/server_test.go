package remote

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// srvEnv is a server over a real Store in t.TempDir() on 127.0.0.1, with
// the small multipart limits of upstream's own test suite scaled to bytes.
type srvEnv struct {
	t     testing.TB
	srv   *Server
	store *storage.Store
	base  string // http://127.0.0.1:port/api
	admin string
	hc    *http.Client
}

const (
	testMinPart = 1 << 10
	testMaxPart = 1 << 20
)

func newSrvEnv(t testing.TB, mod ...func(*ServerOptions)) *srvEnv {
	t.Helper()
	sopts := storage.DefaultOptions()
	sopts.MinPartSize = testMinPart
	sopts.MaxPartSize = testMaxPart
	sopts.MaxParts = 100
	st, err := storage.Open(t.TempDir(), sopts)
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	o := DefaultServerOptions()
	o.MinPartSize, o.MaxPartSize, o.MaxParts = testMinPart, testMaxPart, 100
	o.TaskWaitInterval = 20 * time.Millisecond
	o.TaskWaitMax = 5 * time.Second
	for _, m := range mod {
		m(&o)
	}
	srv := NewServer(st, o)
	secret, _, err := srv.Tokens().Create(t.Context(), TokenSpec{Name: "admin", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer(ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	e := &srvEnv{t: t, srv: srv, store: st, base: "http://" + ln.Addr().String() + srv.Prefix(), admin: secret,
		hc: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(func() {
		e.hc.CloseIdleConnections()
		_ = hs.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	return e
}

// token creates a token with scopes (limited to buckets, if any).
func (e *srvEnv) token(scopes []string, buckets ...string) string {
	e.t.Helper()
	secret, _, err := e.srv.Tokens().Create(context.Background(), TokenSpec{Scopes: scopes, Buckets: buckets})
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// resp is a read response.
type resp struct {
	*http.Response
	body []byte
}

func (r *resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bytes.TrimLeft(r.body, " "), &m); err != nil {
		t.Fatalf("%s %s: body %q is not a JSON object: %v", r.Request.Method, r.Request.URL, r.body, err)
	}
	return m
}

// req sends a request as token tok ("" = anonymous) to base+path; hdr are
// header name/value pairs.
func (e *srvEnv) req(method, path, tok string, body io.Reader, hdr ...string) *resp {
	e.t.Helper()
	rq, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		rq.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		rq.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := e.hc.Do(rq)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &resp{Response: r, body: data}
}

func (e *srvEnv) admReq(method, path string, body io.Reader, hdr ...string) *resp {
	e.t.Helper()
	return e.req(method, path, e.admin, body, hdr...)
}

// expect checks status, and for errors the JSON body's status and message.
func expect(t testing.TB, r *resp, status int, msg ...string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL, r.StatusCode, status, r.body)
	}
	if status >= 400 && r.Request.Method != http.MethodHead {
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: error Content-Type %q, want application/json", r.Request.Method, r.Request.URL, ct)
		}
		m := r.json(t)
		if int(m["status"].(float64)) != status {
			t.Fatalf("error body status %v, want %d", m["status"], status)
		}
		if len(msg) > 0 {
			got, _ := m["message"].(string)
			if msg[0] == "<null>" {
				if m["message"] != nil {
					t.Fatalf("message %q, want null", got)
				}
			} else if got != msg[0] {
				t.Fatalf("%s %s: message %q, want %q", r.Request.Method, r.Request.URL, got, msg[0])
			}
		}
	}
}

// bucket creates a bucket and returns its id.
func (e *srvEnv) bucket() string {
	e.t.Helper()
	r := e.admReq("POST", "/files", nil)
	expect(e.t, r, 200)
	return r.json(e.t)["id"].(string)
}

func (e *srvEnv) put(b, key string, data []byte, hdr ...string) map[string]any {
	e.t.Helper()
	r := e.admReq("PUT", "/files/"+b+"/"+key, bytes.NewReader(data), hdr...)
	expect(e.t, r, 200)
	return r.json(e.t)
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func hasKeys(t testing.TB, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Fatalf("JSON %v lacks %q", keysOf(m), k)
		}
	}
}

func TestServerCreateBucket(t *testing.T) {
	e := newSrvEnv(t)
	r := e.admReq("POST", "/files", nil)
	expect(t, r, 200)
	m := r.json(t)
	hasKeys(t, m, "id", "size", "quota_size", "max_file_size", "locked", "created", "updated", "links")
	if _, ok := m["name"]; ok {
		t.Fatal("unnamed bucket has a name field")
	}
	if m["quota_size"] != nil || m["max_file_size"] != nil || m["locked"] != false || m["size"].(float64) != 0 {
		t.Fatalf("new bucket %v", m)
	}
	id := m["id"].(string)
	links := m["links"].(map[string]any)
	if links["self"] != e.base+"/files/"+id || links["versions"] != e.base+"/files/"+id+"?versions" || links["uploads"] != e.base+"/files/"+id+"?uploads" {
		t.Fatalf("links %v", links)
	}
	if !strings.HasSuffix(m["created"].(string), "+00:00") {
		t.Fatalf("created %q lacks +00:00", m["created"])
	}
	// Permission: location-update, visible.
	expect(t, e.req("POST", "/files", "", nil), 401)
	tok := e.token([]string{ActionBucketRead})
	expect(t, e.req("POST", "/files", tok, nil), 403, "You do not have a permission for this action")
	// Routes: /files/ is 404, PUT /files 405 with Allow, OPTIONS 200.
	expect(t, e.admReq("GET", "/files/", nil), 404)
	r = e.admReq("PUT", "/files", nil)
	expect(t, r, 405)
	if r.Header.Get("Allow") == "" {
		t.Fatal("405 without Allow")
	}
	expect(t, e.admReq("OPTIONS", "/files", nil), 200)
	// Named bucket (extension), addressed by name; duplicate 409.
	r = e.admReq("POST", "/files", strings.NewReader(`{"name":"photos","quota_size":1000}`), "Content-Type", "application/json")
	expect(t, r, 200)
	m = r.json(t)
	if m["name"] != "photos" || m["quota_size"].(float64) != 1000 {
		t.Fatalf("named bucket %v", m)
	}
	expect(t, e.admReq("HEAD", "/files/photos", nil), 200)
	expect(t, e.admReq("POST", "/files", strings.NewReader(`{"name":"photos"}`), "Content-Type", "application/json"), 409)
	// A JSON body without the JSON content type is ignored (E1).
	r = e.admReq("POST", "/files", strings.NewReader(`{"name":"ignored"}`), "Content-Type", "application/x-www-form-urlencoded")
	expect(t, r, 200)
	if _, ok := r.json(t)["name"]; ok {
		t.Fatal("form-typed body was read")
	}
	// 406 after the fact.
	expect(t, e.admReq("POST", "/files", nil, "Accept", "text/html"), 406)
}

func TestServerBucketHeadGet(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	r := e.admReq("HEAD", "/files/"+b, nil)
	expect(t, r, 200)
	if len(r.body) != 0 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD bucket: %q %v", r.body, r.Header)
	}
	// UUID spellings: upper case, no hyphens, braces, urn.
	for _, spelled := range []string{strings.ToUpper(b), strings.ReplaceAll(b, "-", ""), "{" + b + "}", "urn:uuid:" + b} {
		expect(t, e.admReq("HEAD", "/files/"+spelled, nil), 200)
	}
	expect(t, e.admReq("GET", "/files/9f8e7d6c-0000-4000-8000-000000000000", nil), 404, "Bucket does not exist.")
	expect(t, e.admReq("GET", "/files/not-a-uuid", nil), 404)
	expect(t, e.admReq("GET", "/files/"+b+"/", nil), 404)
	expect(t, e.admReq("POST", "/files/"+b, nil), 405)
	r = e.admReq("GET", "/files/"+b, nil)
	expect(t, r, 200)
	m := r.json(t)
	if c := m["contents"].([]any); len(c) != 0 {
		t.Fatalf("empty bucket lists %v", c)
	}
	hasKeys(t, m, "id", "size", "links", "contents")
	// prettyprint.
	r = e.admReq("GET", "/files/"+b+"?prettyprint=1", nil)
	if !bytes.Contains(r.body, []byte("\n  \"")) {
		t.Fatalf("prettyprint not indented: %s", r.body)
	}
}

func TestServerUploadDownload(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	data := []byte("hello, invenio\n")
	r := e.admReq("PUT", "/files/"+b+"/dir/hello.txt", bytes.NewReader(data))
	expect(t, r, 200)
	if r.Header.Get("ETag") != `"md5:`+md5hex(data)+`"` {
		t.Fatalf("ETag %q", r.Header.Get("ETag"))
	}
	m := r.json(t)
	hasKeys(t, m, "key", "version_id", "is_head", "mimetype", "size", "checksum", "delete_marker", "tags", "created", "updated", "links", "blake3")
	if m["checksum"] != "md5:"+md5hex(data) || m["size"].(float64) != float64(len(data)) || m["is_head"] != true || m["mimetype"] != "text/plain" {
		t.Fatalf("object JSON %v", m)
	}
	if bl, _ := m["blake3"].(string); !strings.HasPrefix(bl, "blake3:") {
		t.Fatalf("blake3 %v", m["blake3"])
	}
	vid := m["version_id"].(string)
	links := m["links"].(map[string]any)
	if links["self"] != e.base+"/files/"+b+"/dir/hello.txt" || links["version"] != e.base+"/files/"+b+"/dir/hello.txt?versionId="+vid {
		t.Fatalf("links %v", links)
	}

	r = e.admReq("GET", "/files/"+b+"/dir/hello.txt", nil)
	expect(t, r, 200)
	if !bytes.Equal(r.body, data) {
		t.Fatalf("GET body %q", r.body)
	}
	want := map[string]string{
		"Content-Type": "text/plain; charset=utf-8", "Content-MD5": md5hex(data), "ETag": `"md5:` + md5hex(data) + `"`,
		"Content-Disposition": "inline; filename=hello.txt", "X-Content-Type-Options": "nosniff",
		"Content-Security-Policy": "default-src 'none';", "X-Frame-Options": "deny", "Accept-Ranges": "bytes",
		"X-Bucketfs-Version-Id": vid,
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if _, err := http.ParseTime(r.Header.Get("Last-Modified")); err != nil {
		t.Errorf("Last-Modified %q", r.Header.Get("Last-Modified"))
	}
	// HEAD: same headers, no body.
	r = e.admReq("HEAD", "/files/"+b+"/dir/hello.txt", nil)
	expect(t, r, 200)
	if len(r.body) != 0 || r.Header.Get("Content-Length") != itoa(int64(len(data))) {
		t.Fatalf("HEAD: %q, length %q", r.body, r.Header.Get("Content-Length"))
	}
	// ?download forces attachment; a pdf is served as octet-stream attachment.
	r = e.admReq("GET", "/files/"+b+"/dir/hello.txt?download", nil)
	if r.Header.Get("Content-Disposition") != "attachment; filename=hello.txt" {
		t.Fatalf("download disposition %q", r.Header.Get("Content-Disposition"))
	}
	e.put(b, "paper.pdf", []byte("%PDF-1.4"))
	r = e.admReq("GET", "/files/"+b+"/paper.pdf", nil)
	if r.Header.Get("Content-Type") != "application/octet-stream" || r.Header.Get("Content-Disposition") != "attachment; filename=paper.pdf" {
		t.Fatalf("pdf: %q %q", r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"))
	}
	// HTML is served as text/plain (no script in our origin).
	e.put(b, "x.html", []byte("<script>"))
	if ct := e.admReq("GET", "/files/"+b+"/x.html", nil).Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("html served as %q", ct)
	}
	// Non-ASCII and spaces in names.
	e.put(b, "my%20file.txt", []byte("x"))
	if cd := e.admReq("GET", "/files/"+b+"/my%20file.txt", nil).Header.Get("Content-Disposition"); cd != `inline; filename="my file.txt"` {
		t.Fatalf("space disposition %q", cd)
	}
	e.put(b, "%C3%BC.txt", []byte("x"))
	if cd := e.admReq("GET", "/files/"+b+"/%C3%BC.txt", nil).Header.Get("Content-Disposition"); cd != `inline; filename=u.txt; filename*=UTF-8''%C3%BC.txt` {
		t.Fatalf("umlaut disposition %q", cd)
	}
	// Content-Type of the upload is ignored; form-urlencoded bodies are not parsed.
	m = e.put(b, "data.bin", []byte("a=b&c=d"), "Content-Type", "application/x-www-form-urlencoded")
	if m["size"].(float64) != 7 {
		t.Fatalf("form-typed upload %v", m)
	}
}

func TestServerConditionalAndRanges(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	data := []byte("0123456789abcdefghij")
	e.put(b, "r.bin", data)
	path := "/files/" + b + "/r.bin"
	etag := `"md5:` + md5hex(data) + `"`
	r := e.admReq("GET", path, nil, "If-None-Match", etag)
	expect(t, r, 304)
	if len(r.body) != 0 {
		t.Fatal("304 with a body")
	}
	expect(t, e.admReq("GET", path, nil, "If-None-Match", `W/`+etag), 304)
	expect(t, e.admReq("GET", path, nil, "If-None-Match", `"other"`), 200)
	expect(t, e.admReq("GET", path, nil, "If-Match", `"other"`), 412)
	expect(t, e.admReq("GET", path, nil, "If-Match", etag), 200)
	lm := e.admReq("HEAD", path, nil).Header.Get("Last-Modified")
	expect(t, e.admReq("GET", path, nil, "If-Modified-Since", lm), 304)
	expect(t, e.admReq("GET", path, nil, "If-Modified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"), 200)
	expect(t, e.admReq("GET", path, nil, "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT"), 412)

	cases := []struct {
		rng, body, cr string
	}{
		{"bytes=0-3", "0123", "bytes 0-3/20"},
		{"bytes=18-", "ij", "bytes 18-19/20"},
		{"bytes=-3", "hij", "bytes 17-19/20"},
		{"bytes=15-100", "fghij", "bytes 15-19/20"},
		{"bytes=-100", string(data), "bytes 0-19/20"},
	}
	for _, c := range cases {
		r := e.admReq("GET", path, nil, "Range", c.rng)
		expect(t, r, 206)
		if string(r.body) != c.body || r.Header.Get("Content-Range") != c.cr {
			t.Fatalf("%s: %q %q", c.rng, r.body, r.Header.Get("Content-Range"))
		}
	}
	for _, bad := range []string{"bytes=20-", "bytes=5-2", "bytes=0-1,3-4", "items=0-1", "bytes=x-1", "bytes=-0"} {
		r := e.admReq("GET", path, nil, "Range", bad)
		expect(t, r, 416)
		if r.Header.Get("Content-Range") != "bytes */20" {
			t.Fatalf("%s: Content-Range %q", bad, r.Header.Get("Content-Range"))
		}
	}
	// If-Range: a matching ETag keeps the range, another gives the whole file.
	expect(t, e.admReq("GET", path, nil, "Range", "bytes=0-1", "If-Range", etag), 206)
	expect(t, e.admReq("GET", path, nil, "Range", "bytes=0-1", "If-Range", `"old"`), 200)
	// Large objects (zero-copy path and the store's stream) serve ranges too.
	big := pattern(3<<20 + 5)
	e.put(b, "big.bin", big)
	for _, zc := range []bool{true, false} {
		e.srv.opts.ZeroCopy = zc
		r := e.admReq("GET", "/files/"+b+"/big.bin", nil, "Range", "bytes=1048570-3145730")
		expect(t, r, 206)
		if !bytes.Equal(r.body, big[1048570:3145731]) {
			t.Fatalf("zero copy %v: large range differs (%d bytes)", zc, len(r.body))
		}
		if r := e.admReq("GET", "/files/"+b+"/big.bin", nil); !bytes.Equal(r.body, big) {
			t.Fatalf("zero copy %v: large GET differs", zc)
		}
	}
	// Ranges off: the header is ignored.
	e2 := newSrvEnv(t, func(o *ServerOptions) { o.AllowRanges = false })
	b2 := e2.bucket()
	e2.put(b2, "r.bin", data)
	r = e2.admReq("GET", "/files/"+b2+"/r.bin", nil, "Range", "bytes=0-1")
	expect(t, r, 200)
	if r.Header.Get("Accept-Ranges") != "" || len(r.body) != 20 {
		t.Fatalf("ranges off: %v %d", r.Header, len(r.body))
	}
}

func TestServerVersionsAndDelete(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	v1 := e.put(b, "k.txt", []byte("one"))["version_id"].(string)
	v2 := e.put(b, "k.txt", []byte("two!"))["version_id"].(string)
	e.put(b, "a.txt", []byte("a"))
	m := e.admReq("GET", "/files/"+b, nil).json(t)
	if c := m["contents"].([]any); len(c) != 2 || c[0].(map[string]any)["key"] != "a.txt" {
		t.Fatalf("heads %v", c)
	}
	if m["size"].(float64) != 8 {
		t.Fatalf("bucket size %v, want 8", m["size"])
	}
	c := e.admReq("GET", "/files/"+b+"?versions=0", nil).json(t)["contents"].([]any)
	if len(c) != 3 {
		t.Fatalf("versions %v", c)
	}
	newest, older := c[1].(map[string]any), c[2].(map[string]any)
	if newest["version_id"] != v2 || older["version_id"] != v1 || older["is_head"] != false {
		t.Fatalf("version order %v / %v", newest, older)
	}
	if older["links"].(map[string]any)["self"] != e.base+"/files/"+b+"/k.txt?versionId="+v1 {
		t.Fatalf("old self link %v", older["links"])
	}
	r := e.admReq("GET", "/files/"+b+"/k.txt?versionId="+v1, nil)
	expect(t, r, 200)
	if string(r.body) != "one" {
		t.Fatalf("old version body %q", r.body)
	}
	// Soft delete.
	expect(t, e.admReq("DELETE", "/files/"+b+"/k.txt", nil), 204)
	expect(t, e.admReq("GET", "/files/"+b+"/k.txt", nil), 404, "Object does not exists.")
	expect(t, e.admReq("DELETE", "/files/"+b+"/k.txt", nil), 404, "Object does not exists.")
	c = e.admReq("GET", "/files/"+b+"?versions", nil).json(t)["contents"].([]any)
	for _, x := range c {
		if x.(map[string]any)["key"] == "k.txt" && x.(map[string]any)["is_head"] == true {
			t.Fatal("a version of a deleted key is head")
		}
	}
	// Per-key versions (extension) show the marker, flagged.
	kv := e.admReq("GET", "/files/"+b+"/k.txt?versions", nil).json(t)["contents"].([]any)
	if len(kv) != 3 || kv[0].(map[string]any)["delete_marker"] != true || kv[0].(map[string]any)["checksum"] != nil {
		t.Fatalf("key versions %v", kv)
	}
	marker := kv[0].(map[string]any)["version_id"].(string)
	// GET of the marker by id: 404 (upstream 500).
	expect(t, e.admReq("GET", "/files/"+b+"/k.txt?versionId="+marker, nil), 404)
	// Hard delete of the marker undeletes; of the head reveals the previous.
	expect(t, e.admReq("DELETE", "/files/"+b+"/k.txt?versionId="+marker, nil), 204)
	if r := e.admReq("GET", "/files/"+b+"/k.txt", nil); string(r.body) != "two!" {
		t.Fatalf("after undelete %q", r.body)
	}
	expect(t, e.admReq("DELETE", "/files/"+b+"/k.txt?versionId="+v2, nil), 204)
	if r := e.admReq("GET", "/files/"+b+"/k.txt", nil); string(r.body) != "one" {
		t.Fatalf("after hard delete of head %q", r.body)
	}
	expect(t, e.admReq("DELETE", "/files/"+b+"/k.txt?versionId="+v2, nil), 404)
	// Selector errors come first.
	expect(t, e.admReq("GET", "/files/nope/k.txt?versionId=invalid", nil), 422, "Validation error.")
	r = e.req("GET", "/files/"+b+"/k.txt?versionId=xyz", "", nil)
	expect(t, r, 422)
	if f := r.json(t)["errors"].([]any)[0].(map[string]any); f["field"] != "versionId" {
		t.Fatalf("422 errors %v", f)
	}
	expect(t, e.admReq("GET", "/files/"+b+"/k.txt?uploads", nil), 405)
	expect(t, e.admReq("DELETE", "/files/"+b+"/k.txt?uploads", nil), 405)
	expect(t, e.admReq("POST", "/files/"+b+"/k.txt", nil), 403)
}

func TestServerUploadErrors(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	p := "/files/" + b + "/"
	expect(t, e.admReq("PUT", p+"empty", bytes.NewReader(nil), "Content-Length", "0"), 400, "<null>")
	expect(t, e.admReq("PUT", p+strings.Repeat("a", 256), strings.NewReader("x")), 400, "Filename is too long.")
	e.put(b, strings.Repeat("a", 255), []byte("x"))
	expect(t, e.admReq("GET", p+strings.Repeat("a", 300), nil), 404)
	// Chunked (no Content-Length): 400.
	rq, _ := http.NewRequest("PUT", e.base+p+"chunked", io.MultiReader(strings.NewReader("abc")))
	rq.Header.Set("Authorization", "Bearer "+e.admin)
	rq.ContentLength = -1
	hr, err := e.hc.Do(rq)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != 400 {
		t.Fatalf("chunked upload: %d", hr.StatusCode)
	}
	// Keys our rules refuse name the problem; %2F is a "/".
	for _, k := range []string{"a/../b", "a//b", "x%00y", "./x", "%2Fabs"} {
		r := e.admReq("PUT", p+k, strings.NewReader("x"))
		expect(t, r, 400)
		wantKind(t, r, "invalid_key")
		if msg, _ := r.json(t)["message"].(string); !strings.Contains(msg, "key") {
			t.Fatalf("%s: message %q does not name the key", k, msg)
		}
	}
	m := e.put(b, "dir%2Fsub.txt", []byte("x"))
	if m["key"] != "dir/sub.txt" {
		t.Fatalf("%%2F key %v", m["key"])
	}
	// Tags header.
	m = e.put(b, "t.txt", []byte("x"), "X-Invenio-File-Tags", "a=1&b=2&c=&d")
	if tags := m["tags"].(map[string]any); len(tags) != 2 || tags["a"] != "1" || tags["b"] != "2" {
		t.Fatalf("tags %v", tags)
	}
	expect(t, e.admReq("PUT", p+"t.txt", strings.NewReader("x"), "X-Invenio-File-Tags", "a=1&a=2"), 400, "Duplicate tag key")
	expect(t, e.admReq("PUT", p+"t.txt", strings.NewReader("x"), "X-Invenio-File-Tags", "a="+strings.Repeat("v", 256)), 400, "Too long/short tag key or tag value.")
	// Limits: max file size and quota, checked before the lock.
	expect(t, e.admReq("PUT", "/files/"+b, strings.NewReader(`{"max_file_size":5}`), "Content-Type", "application/json"), 200)
	r := e.admReq("PUT", p+"big", strings.NewReader("123456"))
	expect(t, r, 400, "Maximum file size exceeded.")
	wantKind(t, r, "too_large")
	e.put(b, "five", []byte("12345"))
	size := e.admReq("GET", "/files/"+b, nil).json(t)["size"].(float64)
	expect(t, e.admReq("PUT", "/files/"+b, strings.NewReader(`{"max_file_size":null,"quota_size":`+itoa(int64(size)+3)+`}`), "Content-Type", "application/json"), 200)
	r = e.admReq("PUT", p+"q", strings.NewReader("1234"))
	expect(t, r, 400, "Bucket quota exceeded.")
	wantKind(t, r, "quota_exceeded")
	expect(t, e.admReq("PUT", "/files/"+b, strings.NewReader(`{"locked":true}`), "Content-Type", "application/json"), 200)
	expect(t, e.admReq("PUT", p+"q", strings.NewReader("1234")), 400, "Bucket quota exceeded.")
	r = e.admReq("PUT", p+"q", strings.NewReader("12"))
	expect(t, r, 403, "Bucket is locked for modifications.")
	wantKind(t, r, "locked")
	expect(t, e.admReq("DELETE", p+"five", nil), 403, "Bucket is locked for modifications.")
	// Reads of a locked bucket work.
	expect(t, e.admReq("GET", p+"five", nil), 200)
}

// TestServerShortBody: a client that announces more than it sends leaves
// no object and no size change behind.
func TestServerShortBody(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(e.base, "/api"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(conn, "PUT /api/files/"+b+"/short.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.admin+"\r\nContent-Length: 100000\r\n\r\n")
	_, _ = conn.Write(bytes.Repeat([]byte("x"), 5000))
	conn.(*net.TCPConn).CloseWrite()
	reply, _ := io.ReadAll(conn)
	conn.Close()
	if len(reply) > 0 && !bytes.HasPrefix(reply, []byte("HTTP/1.1 400")) {
		t.Fatalf("short body answered %q", reply)
	}
	expect(t, e.admReq("GET", "/files/"+b+"/short.bin", nil), 404)
	m := e.admReq("GET", "/files/"+b+"?versions", nil).json(t)
	if m["size"].(float64) != 0 || len(m["contents"].([]any)) != 0 {
		t.Fatalf("short upload left %v", m)
	}
}

// TestServerSlowClient: an upload that stalls is cut after BodyIdleTimeout
// and leaves nothing; oversized headers get 431.
func TestServerSlowClient(t *testing.T) {
	e := newSrvEnv(t, func(o *ServerOptions) { o.BodyIdleTimeout = 300 * time.Millisecond; o.MaxHeaderBytes = 4096 })
	b := e.bucket()
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(e.base, "/api"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "PUT /api/files/"+b+"/slow.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.admin+"\r\nContent-Length: 10\r\n\r\nabc")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	reply, err := io.ReadAll(conn) // the server gives up and closes
	if err != nil {
		t.Fatalf("server did not cut the stalled upload: %v", err)
	}
	if len(reply) > 0 && !bytes.HasPrefix(reply, []byte("HTTP/1.1 4")) && !bytes.HasPrefix(reply, []byte("HTTP/1.1 5")) {
		t.Fatalf("stalled upload answered %q", reply)
	}
	expect(t, e.admReq("GET", "/files/"+b+"/slow.bin", nil), 404)
	// A stalled JSON body is cut the same way.
	conn2, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(e.base, "/api"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_, _ = io.WriteString(conn2, "POST /api/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+e.admin+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na")
	_ = conn2.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(conn2); err != nil {
		t.Fatalf("server did not cut the stalled JSON body: %v", err)
	}
	r := e.admReq("GET", "/files/"+b, nil, "X-Big", strings.Repeat("h", 64<<10))
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("oversized header: %d", r.StatusCode)
	}
}

// wantKind checks the "error" kind of an error body (our extension).
func wantKind(t testing.TB, r *resp, kind string) {
	t.Helper()
	if got := r.json(t)["error"]; got != kind {
		t.Fatalf("%s %s: error kind %v, want %q (%s)", r.Request.Method, r.Request.URL, got, kind, r.body)
	}
}
