package remote

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-0", "bytes=-1", "bytes=5-", "bytes=0-1,2-3", "bytes= 1 - 2 ", "bytes=+1-2", "bytes=-", "bytes=9223372036854775807-", "items=1-2", ""} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		start, end, ok := parseRange(h, size)
		if ok && (start < 0 || end < start || end >= size) {
			t.Fatalf("parseRange(%q, %d) = %d-%d", h, size, start, end)
		}
	})
}

func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=1&a=2", "a=%zz", "=x", "k=" + strings.Repeat("v", 300), "a+b=c%20d;e=f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tags, err := parseTags(h)
		if err != nil {
			if st, _ := StatusOf(err); st != http.StatusBadRequest {
				t.Fatalf("parseTags(%q): status %d", h, st)
			}
			return
		}
		for k, v := range tags {
			if k == "" || v == "" || utf8.RuneCountInString(k) >= 256 || utf8.RuneCountInString(v) >= 256 {
				t.Fatalf("parseTags(%q) kept %q=%q", h, k, v)
			}
		}
	})
}

// FuzzServerRequest sends arbitrary paths, queries and headers through the
// router: it must never panic, never answer 500, and every error is JSON.
func FuzzServerRequest(f *testing.F) {
	sopts := storage.DefaultOptions()
	sopts.DB = metadata.NewMemory()
	st, err := storage.Open(f.TempDir(), sopts)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv := NewServer(st, ServerOptions{TaskWaitInterval: 1})
	admin, _, err := srv.Tokens().Create(f.Context(), TokenSpec{Admin: true})
	if err != nil {
		f.Fatal(err)
	}
	b, err := st.CreateBucket(f.Context(), storage.BucketOptions{Name: "fz"})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.Put(f.Context(), b.ID, "a/b.txt", strings.NewReader("hello"), storage.PutOptions{Size: 5}); err != nil {
		f.Fatal(err)
	}
	seeds := []struct{ method, target, rng string }{
		{"GET", "/api/files/fz/a/b.txt", "bytes=1-2"},
		{"GET", "/api/files/fz/a%2Fb.txt", ""},
		{"GET", "/api/files/fz/a/../b.txt?versionId=x", ""},
		{"GET", "/api/files/" + b.ID + "?versions&limit=0&after=%00", ""},
		{"PUT", "/api/files/fz/%00", ""},
		{"DELETE", "/api/files/fz/a/b.txt?uploadId=" + b.ID, ""},
		{"POST", "/api/files/fz/k?uploads&size=1&partSize=-1", ""},
		{"GET", "/api/files/fz/k?uploadId=&state", ""},
		{"GET", "/api/events?after=1&wait=1ns", ""},
		{"GET", "/api/uploads/%zz", ""},
		{"PATCH", "/api/files", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.rng, true)
	}
	f.Fuzz(func(t *testing.T, method, target, rng string, auth bool) {
		switch method {
		case "GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH":
		default:
			method = "GET"
		}
		if !strings.HasPrefix(target, "/") {
			target = "/api/files/" + target
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+target, strings.NewReader("xy"))
		if err != nil {
			return // not a request a client could send
		}
		if rng != "" && !strings.ContainsAny(rng, "\r\n") {
			req.Header.Set("Range", rng)
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+admin)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d %s", method, target, w.Code, w.Body)
		}
		if w.Code >= 400 && method != "HEAD" {
			var eb map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || int(eb["status"].(float64)) != w.Code {
				t.Fatalf("%s %s: error body %q", method, target, w.Body)
			}
		}
	})
}
