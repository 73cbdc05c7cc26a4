package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestServerMultipart(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	p := "/files/" + b + "/big.bin"
	const part = 2 << 10
	data := pattern(5*part + 123)
	// Parameter errors.
	expect(t, e.admReq("POST", p+"?uploads&partSize=2048", nil), 400, "Missing required query argument 'size'")
	expect(t, e.admReq("POST", p+"?uploads&size=20000", nil), 400, "Missing required query argument 'partSize'")
	expect(t, e.admReq("POST", p+"?uploads&size=x&partSize=2048", nil), 422)
	expect(t, e.admReq("POST", p+"?uploads&size=20000&partSize=10", nil), 400, "Invalid part size.")
	expect(t, e.admReq("POST", p+"?uploads&size=1024&partSize=1024", nil), 400, "Invalid file size.")
	expect(t, e.admReq("POST", p+"?uploads&size=20000000&partSize=2048", nil), 400, "Invalid file size.")
	expect(t, e.admReq("POST", p+"?uploads&size=20000&partSize=2048&uploadId=bad", nil), 422)

	// Init via the JSON body.
	r := e.admReq("POST", p+"?uploads", strings.NewReader(fmt.Sprintf(`{"size":%d,"partSize":%d}`, len(data), part)), "Content-Type", "application/json")
	expect(t, r, 200)
	m := r.json(t)
	hasKeys(t, m, "id", "bucket", "key", "completed", "size", "part_size", "last_part_number", "last_part_size", "created", "updated", "links")
	if m["last_part_number"].(float64) != 5 || m["last_part_size"].(float64) != 123 || m["completed"] != false {
		t.Fatalf("multipart JSON %v", m)
	}
	uid := m["id"].(string)
	self := m["links"].(map[string]any)["self"].(string)
	if self != e.base+p+"?uploadId="+uid {
		t.Fatalf("self %q", self)
	}
	// Size reserved.
	if sz := e.admReq("GET", "/files/"+b, nil).json(t)["size"].(float64); sz != float64(len(data)) {
		t.Fatalf("reservation: size %v", sz)
	}
	up := func(n int, body []byte) *resp {
		return e.admReq("PUT", fmt.Sprintf("%s?uploadId=%s&partNumber=%d", p, uid, n), bytes.NewReader(body))
	}
	chunk := func(n int) []byte { return data[n*part : min((n+1)*part, len(data))] }
	expect(t, up(0, chunk(0)[:100]), 400, "Invalid part size.")
	expect(t, up(6, chunk(0)), 400, "Invalid part number.")
	expect(t, up(-1, chunk(0)), 400, "Invalid part number.")
	expect(t, e.admReq("PUT", p+"?uploadId="+uid, bytes.NewReader(chunk(0))), 400, "No upload part detected in request.")
	expect(t, e.admReq("PUT", p+"?uploadId="+uid+"&partNumber=x", bytes.NewReader(chunk(0))), 400, "No upload part detected in request.")
	expect(t, e.admReq("PUT", "/files/"+b+"/other?uploadId="+uid+"&partNumber=0", bytes.NewReader(chunk(0))), 404, "uploadId does not exists.")
	// Parts out of order; complete with a part missing is refused.
	for _, n := range []int{5, 3, 1, 0, 2} {
		r := up(n, chunk(n))
		expect(t, r, 200)
		pj := r.json(t)
		if r.Header.Get("ETag") != `"md5:`+md5hex(chunk(n))+`"` || pj["start_byte"].(float64) != float64(n*part) || pj["end_byte"].(float64) != float64(n*part+len(chunk(n))) {
			t.Fatalf("part %d: %v %q", n, pj, r.Header.Get("ETag"))
		}
	}
	expect(t, e.admReq("POST", p+"?uploadId="+uid, nil), 400, "Not all parts have been uploaded.")
	up(4, chunk(4))
	expect(t, up(4, chunk(4)), 200) // re-upload before completion is fine
	r = e.admReq("GET", p+"?uploadId="+uid, nil)
	expect(t, r, 200)
	parts := r.json(t)["parts"].([]any)
	if len(parts) != 6 || parts[0].(map[string]any)["part_number"].(float64) != 0 || parts[5].(map[string]any)["part_number"].(float64) != 5 {
		t.Fatalf("parts listing %v", parts)
	}
	// Uploads listing is a bare array.
	r = e.admReq("GET", "/files/"+b+"?uploads", nil)
	expect(t, r, 200)
	if !bytes.HasPrefix(r.body, []byte("[")) || !bytes.Contains(r.body, []byte(uid)) {
		t.Fatalf("uploads listing %s", r.body)
	}
	// Complete.
	r = e.admReq("POST", p+"?uploadId="+uid, nil)
	expect(t, r, 200)
	cm := r.json(t)
	ov, _ := cm["links"].(map[string]any)["object_version"].(string)
	if cm["completed"] != true || !strings.Contains(ov, "?versionId=") {
		t.Fatalf("complete body %s", r.body)
	}
	r = e.req("GET", strings.TrimPrefix(ov, e.base), e.admin, nil)
	expect(t, r, 200)
	if !bytes.Equal(r.body, data) || r.Header.Get("ETag") != `"md5:`+md5hex(data)+`"` {
		t.Fatalf("merged object: %d bytes, ETag %q", len(r.body), r.Header.Get("ETag"))
	}
	expect(t, e.admReq("GET", p+"?uploadId="+uid, nil), 404, "uploadId does not exists.")
	expect(t, up(0, chunk(0)), 403, "Multipart upload is already completed.")
	expect(t, e.admReq("POST", p+"?uploadId="+uid, nil), 403, "Multipart upload is already completed.")
	expect(t, e.admReq("DELETE", p+"?uploadId="+uid, nil), 404, "uploadId does not exists.")
	// State (extension) still shows it, with the version it produced.
	st := e.admReq("GET", p+"?uploadId="+uid+"&state", nil).json(t)
	if st["completed"] != true || st["version_id"] == nil {
		t.Fatalf("state %v", st)
	}
	if byID := e.admReq("GET", "/uploads/"+uid, nil).json(t); byID["version_id"] != st["version_id"] || byID["key"] != "big.bin" {
		t.Fatalf("uploads/{id} %v", byID)
	}
	if sz := e.admReq("GET", "/files/"+b, nil).json(t)["size"].(float64); sz != float64(len(data)) {
		t.Fatalf("size after merge %v", sz)
	}
	// Abort restores the size; exact multiples complete (upstream bug not reproduced).
	r = e.admReq("POST", "/files/"+b+"/exact.bin?uploads&size=8192&partSize=2048", nil)
	expect(t, r, 200)
	em := r.json(t)
	if em["last_part_size"].(float64) != 0 || em["last_part_number"].(float64) != 3 {
		t.Fatalf("exact multiple JSON %v", em)
	}
	eid := em["id"].(string)
	exact := pattern(8192)
	for n := 0; n < 4; n++ {
		expect(t, e.admReq("PUT", fmt.Sprintf("/files/%s/exact.bin?uploadId=%s&partNumber=%d", b, eid, n), bytes.NewReader(exact[n*2048:(n+1)*2048])), 200)
	}
	expect(t, e.admReq("POST", "/files/"+b+"/exact.bin?uploadId="+eid, nil), 200)
	r = e.admReq("POST", "/files/"+b+"/gone.bin?uploads&size=5000&partSize=2048", nil)
	gid := r.json(t)["id"].(string)
	before := e.admReq("GET", "/files/"+b, nil).json(t)["size"].(float64)
	expect(t, e.admReq("DELETE", "/files/"+b+"/gone.bin?uploadId="+gid, nil), 204)
	if after := e.admReq("GET", "/files/"+b, nil).json(t)["size"].(float64); after != before-5000 {
		t.Fatalf("abort: size %v -> %v", before, after)
	}
	expect(t, e.admReq("GET", "/files/"+b+"/gone.bin?uploadId="+gid, nil), 404)
	// Locked bucket: init refused, parts of an existing upload still allowed.
	r = e.admReq("POST", "/files/"+b+"/l.bin?uploads&size=5000&partSize=2048", nil)
	lid := r.json(t)["id"].(string)
	expect(t, e.admReq("PUT", "/files/"+b, strings.NewReader(`{"locked":true}`), "Content-Type", "application/json"), 200)
	expect(t, e.admReq("POST", "/files/"+b+"/l2.bin?uploads&size=5000&partSize=2048", nil), 403, "Bucket is locked for modifications.")
	expect(t, e.admReq("PUT", "/files/"+b+"/l.bin?uploadId="+lid+"&partNumber=0", bytes.NewReader(pattern(2048))), 200)
	expect(t, e.admReq("DELETE", "/files/"+b+"/l.bin?uploadId="+lid, nil), 204)
}

// slowStore delays CompleteMultipart (or fails it) to exercise the
// whitespace keep-alive of the complete response.
type slowStore struct {
	storage.ObjectStore
	release chan struct{}
	fail    bool
}

func (s *slowStore) CompleteMultipart(ctx context.Context, id string) (*storage.ObjectVersion, error) {
	<-s.release
	if s.fail {
		return nil, errors.New("merge failed")
	}
	return s.ObjectStore.CompleteMultipart(ctx, id)
}

func TestServerCompleteKeepAlive(t *testing.T) {
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			e := newSrvEnv(t)
			b := e.bucket()
			r := e.admReq("POST", "/files/"+b+"/k?uploads&size=3000&partSize=2048", nil)
			uid := r.json(t)["id"].(string)
			d := pattern(3000)
			expect(t, e.admReq("PUT", "/files/"+b+"/k?uploadId="+uid+"&partNumber=0", bytes.NewReader(d[:2048])), 200)
			expect(t, e.admReq("PUT", "/files/"+b+"/k?uploadId="+uid+"&partNumber=1", bytes.NewReader(d[2048:])), 200)
			slow := &slowStore{ObjectStore: e.store, release: make(chan struct{}), fail: fail}
			e.srv.store = slow
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Released only after the server has sent keep-alive spaces,
				// which the client reads as they come.
				time.Sleep(200 * time.Millisecond)
				close(slow.release)
			}()
			r = e.admReq("POST", "/files/"+b+"/k?uploadId="+uid, nil)
			wg.Wait()
			expect(t, r, 200)
			if r.Header.Get("Content-Length") != "" {
				t.Fatal("complete response has a Content-Length")
			}
			trimmed := bytes.TrimLeft(r.body, " ")
			if len(trimmed) == len(r.body) {
				t.Fatalf("no keep-alive spaces before %q", r.body)
			}
			if fail {
				if string(trimmed) != `{"status": 500, "message": "Job failed."}` {
					t.Fatalf("failed complete body %q", trimmed)
				}
				return
			}
			if r.json(t)["completed"] != true {
				t.Fatalf("complete body %q", r.body)
			}
		})
	}
}

func TestServerCompleteTimeout(t *testing.T) {
	e := newSrvEnv(t, func(o *ServerOptions) { o.TaskWaitMax = 100 * time.Millisecond })
	b := e.bucket()
	r := e.admReq("POST", "/files/"+b+"/k?uploads&size=3000&partSize=2048", nil)
	uid := r.json(t)["id"].(string)
	d := pattern(3000)
	expect(t, e.admReq("PUT", "/files/"+b+"/k?uploadId="+uid+"&partNumber=0", bytes.NewReader(d[:2048])), 200)
	expect(t, e.admReq("PUT", "/files/"+b+"/k?uploadId="+uid+"&partNumber=1", bytes.NewReader(d[2048:])), 200)
	slow := &slowStore{ObjectStore: e.store, release: make(chan struct{})}
	e.srv.store = slow
	r = e.admReq("POST", "/files/"+b+"/k?uploadId="+uid, nil)
	close(slow.release)
	if err := e.srv.WaitBackground(t.Context()); err != nil {
		t.Fatal(err)
	}
	expect(t, r, 200)
	if got := string(bytes.TrimLeft(r.body, " ")); got != `{"status": 500, "message": "Job timed out."}` {
		t.Fatalf("timeout body %q", got)
	}
}
