package remote

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// FuzzClientResponses feeds arbitrary bytes to every parser the client
// runs on a server's answer: error bodies, the complete's keep-alive body,
// JSON documents, timestamps and Retry-After. None may panic, and every
// error must carry a storage sentinel.
func FuzzClientResponses(f *testing.F) {
	f.Add(400, []byte(`{"status":400,"message":"Bucket quota exceeded.","error":"invalid"}`), "5")
	f.Add(200, []byte(`   {"status": 500, "message": "Job failed."}`), "Thu, 01 Jan 1970 00:00:00 GMT")
	f.Add(200, []byte(`{"id":"u","bucket":"b","key":"k","completed":true,"version_id":"v","links":{"object_version":"http://h/api/files/b/k?versionId=v"}}`), "")
	f.Add(422, []byte(`{"status":422,"message":"Validation error.","errors":[{"field":"versionId","message":"Not a valid UUID."}]}`), "-1")
	f.Add(503, []byte(`<html>oops</html>`), "99999999999999999999")
	f.Add(200, []byte(`{"key":"k","created":"2026-07-20T09:15:02","updated":"2026-07-20 09:15:02.1+00:00","checksum":null,"delete_marker":true}`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		if status < 100 || status > 999 {
			status = 500
		}
		req, _ := http.NewRequest(http.MethodPost, "http://h/api/files/b/k?uploadId=u", nil)
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}},
			Body: io.NopCloser(bytes.NewReader(body)), Request: req}
		if status < 200 || status > 299 {
			e := responseError(req, resp)
			if e.Kind == nil || !errors.Is(e, e.Kind) || e.RetryAfter < 0 {
				t.Fatalf("error %+v", e)
			}
			_ = e.Error()
			return
		}
		var m wireMultipart
		if err := decodeComplete(&m)(resp); err != nil {
			var e *Error
			if errors.As(err, &e) && e.Kind == nil {
				t.Fatalf("error without kind: %+v", e)
			}
		}
		_ = m.multipart()
		var o wireObject
		_ = decodeJSON(&o)(&http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body)), Request: req})
		_ = o.version()
		var l wireListing
		_ = decodeJSON(&l)(&http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body)), Request: req})
		_ = l.bucket()
		_ = parseWireTime(string(body))
		_ = parseRetryAfter(retryAfter, time.Now())
		_ = bucketFromLink(string(body))
		_ = redactURL(string(body))
		_ = escapeKey(strings.ToValidUTF8(string(body), ""))
		if _, err := url.Parse("http://h/" + escapeKey(string(body))); err != nil {
			t.Fatalf("escaped key does not parse: %v", err)
		}
	})
}

// TestClientErrorWrapping: errors.Is sees the sentinel and the transport
// error; IsRetryable is false for a caller's cancellation.
func TestClientErrorWrapping(t *testing.T) {
	base := errors.New("connection reset")
	e := &Error{Method: "GET", URL: "http://h/x?access_token=secret&a=1", Kind: storage.ErrUnavailable, Err: base, Retryable: true, Message: "reset"}
	if !errors.Is(e, storage.ErrUnavailable) || !errors.Is(e, base) || !IsRetryable(e) {
		t.Fatal("wrapping")
	}
	if strings.Contains(e.Error(), "secret") {
		t.Fatalf("token in error text: %s", e.Error())
	}
	if IsRetryable(nil) || IsRetryable(errors.New("x")) {
		t.Fatal("plain errors are not retryable")
	}
}
