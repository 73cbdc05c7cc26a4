package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// sdkUpload replays csfunctions' upload_file_content: generate, chunk PUTs,
// complete (and abort when a step fails).
func (e *fnEnv) sdkUpload(token, fid string, content []byte, lockID string) (int, string) {
	e.t.Helper()
	base := e.svc.ServiceURL()
	st, body, _ := e.do("POST", base+"/file_upload/"+fid+"/generate_presigned_url", token,
		map[string]any{"filesize": len(content), "check_access": true, "persno": "alice", "lock_id": lockID})
	if st != 200 {
		return st, string(body)
	}
	var pre map[string]any
	json.Unmarshal(body, &pre)
	chunk := int(pre["chunksize"].(float64))
	var etags []string
	rest := content
	for _, u := range pre["urls"].([]any) {
		n := min(chunk, len(rest))
		req, _ := http.NewRequest("PUT", u.(string), bytes.NewReader(rest[:n]))
		for k, v := range pre["headers"].(map[string]any) {
			req.Header.Set(k, v.(string))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			e.do("POST", base+"/file_upload/"+fid+"/abort", token, map[string]any{"lock_id": lockID, "persno": "alice", "presigned_write_urls": pre})
			return resp.StatusCode, "chunk"
		}
		etags = append(etags, resp.Header.Get("ETag"))
		rest = rest[n:]
	}
	pre["etags"] = etags
	sum := sha256.Sum256(content)
	st, body, _ = e.do("POST", base+"/file_upload/"+fid+"/complete", token, map[string]any{
		"filesize": len(content), "check_access": true, "persno": "alice", "presigned_write_urls": pre,
		"sha256": hex.EncodeToString(sum[:]), "lock_id": lockID, "delete_derived_files": true})
	if st != 200 {
		e.do("POST", base+"/file_upload/"+fid+"/abort", token, map[string]any{"lock_id": lockID, "persno": "alice", "presigned_write_urls": pre})
	}
	return st, string(body)
}

func readObject(t *testing.T, st storage.ObjectStore, bucket, key string) (string, *storage.ObjectVersion) {
	t.Helper()
	rc, v, err := st.Get(context.Background(), bucket, key, "", 0, -1)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b), v
}

func TestAccessSDKSequences(t *testing.T) {
	e := newFnEnv(t)
	ctx := context.Background()
	b, err := e.store.CreateBucket(ctx, storage.BucketOptions{Name: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	fn := e.holder("holder")
	h := e.holdCall(fn)
	defer h.release()
	base := e.svc.ServiceURL()

	// upload_new_file: exactly 3 Access Service requests.
	e.access.Store(0)
	st, body, _ := e.do("POST", base+"/file_upload/create", h.Token,
		map[string]any{"parent_object_id": "docs/reports", "filename": "a.txt", "persno": "alice", "check_access": true})
	if st != 200 {
		t.Fatalf("create: %d %s", st, body)
	}
	var created struct {
		FileObjectID string `json:"file_object_id"`
	}
	json.Unmarshal(body, &created)
	if st, msg := e.sdkUpload(h.Token, created.FileObjectID, []byte("first"), "lockAAAAAAAA"); st != 200 {
		t.Fatalf("upload: %d %s", st, msg)
	}
	if n := e.access.Load(); n != 3 {
		t.Fatalf("new file took %d requests, want 3", n)
	}
	got, v := readObject(t, e.store, "docs", "reports/a.txt")
	if got != "first" {
		t.Fatalf("content %q", got)
	}
	// The write is attributed to the call.
	evs, err := e.store.Events(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Key != "reports/a.txt" || last.Origin.Kind != "function" || last.Origin.Hops != 1 ||
		last.Origin.CallID != strconv.FormatInt(h.call.ID, 10) || last.Origin.FunctionID != strconv.FormatInt(fn.ID, 10) {
		t.Fatalf("event %+v", last)
	}

	// upload_file_content (overwrite): exactly 2 requests, a new version.
	e.access.Store(0)
	if st, msg := e.sdkUpload(h.Token, created.FileObjectID, bytes.Repeat([]byte("x"), 100000), "lockBBBBBBBB"); st != 200 {
		t.Fatalf("overwrite: %d %s", st, msg)
	}
	if n := e.access.Load(); n != 2 {
		t.Fatalf("overwrite took %d requests, want 2", n)
	}
	got, v2 := readObject(t, e.store, "docs", "reports/a.txt")
	if len(got) != 100000 || v2.VersionID == v.VersionID {
		t.Fatalf("overwrite: %d bytes, version %s", len(got), v2.VersionID)
	}

	// A held lock: another lock id gets 409; abort releases it.
	fid := created.FileObjectID
	st, body, _ = e.do("POST", base+"/file_upload/"+fid+"/generate_presigned_url", h.Token,
		map[string]any{"filesize": 3, "check_access": true, "persno": "alice", "lock_id": "lockCCCCCCCC"})
	if st != 200 {
		t.Fatalf("lock: %d %s", st, body)
	}
	var pre map[string]any
	json.Unmarshal(body, &pre)
	if st, _ := e.sdkUpload(h.Token, fid, []byte("abc"), "lockDDDDDDDD"); st != 409 {
		t.Fatalf("second lock: %d, want 409", st)
	}
	// Failure after generate: a short chunk fails, the SDK aborts (1 more request).
	e.access.Store(0)
	req, _ := http.NewRequest("PUT", pre["urls"].([]any)[0].(string), strings.NewReader("a"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 422 {
		t.Fatalf("short chunk: %d", resp.StatusCode)
	}
	st, body, _ = e.do("POST", base+"/file_upload/"+fid+"/abort", h.Token, map[string]any{"lock_id": "lockCCCCCCCC", "persno": "alice", "presigned_write_urls": pre})
	if st != 200 || string(bytes.TrimSpace(body)) != "{}" {
		t.Fatalf("abort: %d %s", st, body)
	}
	if n := e.access.Load(); n != 1 {
		t.Fatalf("abort took %d requests", n)
	}
	if st, msg := e.sdkUpload(h.Token, fid, []byte("abc"), "lockDDDDDDDD"); st != 200 {
		t.Fatalf("after abort: %d %s", st, msg)
	}
	// A tampered presigned URL is refused.
	u := strings.Replace(pre["urls"].([]any)[0].(string), "sig=", "sig=00", 1)
	req, _ = http.NewRequest("PUT", u, strings.NewReader("abc"))
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("tampered URL: %d", resp.StatusCode)
	}
	// A wrong checksum is 422 and nothing is written.
	st, body, _ = e.do("POST", base+"/file_upload/"+fid+"/generate_presigned_url", h.Token,
		map[string]any{"filesize": 0, "check_access": true, "persno": "alice", "lock_id": "lockEEEEEEEE"})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	json.Unmarshal(body, &pre)
	st, _, _ = e.do("POST", base+"/file_upload/"+fid+"/complete", h.Token, map[string]any{"filesize": 0, "lock_id": "lockEEEEEEEE",
		"presigned_write_urls": pre, "sha256": strings.Repeat("0", 64), "persno": "alice", "check_access": true})
	if st != 422 {
		t.Fatalf("bad sha: %d", st)
	}
	if got, _ := readObject(t, e.store, "docs", "reports/a.txt"); got != "abc" {
		t.Fatalf("content after bad sha %q", got)
	}

	// Unknown parent bucket: 404. Bad filename: 422.
	st, _, _ = e.do("POST", base+"/file_upload/create", h.Token, map[string]any{"parent_object_id": "nope", "filename": "x", "persno": "", "check_access": true})
	if st != 404 {
		t.Fatalf("unknown parent: %d", st)
	}
	st, _, _ = e.do("POST", base+"/file_upload/create", h.Token, map[string]any{"parent_object_id": b.ID, "filename": "a/b", "persno": "", "check_access": true})
	if st != 422 {
		t.Fatalf("bad filename: %d", st)
	}
	// The file object of an existing file names its folder as a parent.
	st, body, _ = e.do("POST", base+"/file_upload/create", h.Token, map[string]any{"parent_object_id": fid, "filename": "b.txt", "persno": "", "check_access": true})
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	json.Unmarshal(body, &created)
	if st, msg := e.sdkUpload(h.Token, created.FileObjectID, []byte("sibling"), "lockFFFFFFFF"); st != 200 {
		t.Fatalf("%d %s", st, msg)
	}
	if got, _ := readObject(t, e.store, "docs", "reports/b.txt"); got != "sibling" {
		t.Fatalf("sibling %q", got)
	}
}

func TestAccessNumgenAndStatuses(t *testing.T) {
	e := newFnEnv(t)
	ctx := context.Background()
	if _, err := e.store.CreateBucket(ctx, storage.BucketOptions{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateBucket(ctx, storage.BucketOptions{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CreateGenerator(ctx, "invoice", 1000); err != nil {
		t.Fatal(err)
	}
	h := e.holdCall(e.holder("holder", "other"))
	base := e.svc.ServiceURL()

	st, body, _ := e.do("GET", base+"/numgen?name=invoice&count=1", h.Token, nil)
	if st != 200 || !strings.Contains(string(body), `"numbers":[1000]`) {
		t.Fatalf("%d %s", st, body)
	}
	st, body, _ = e.do("GET", base+"/numgen?name=invoice&count=3", h.Token, nil)
	if st != 200 || !strings.Contains(string(body), `[1001,1002,1003]`) {
		t.Fatalf("%d %s", st, body)
	}
	for _, c := range []string{"0", "101", "x"} {
		if st, _, _ := e.do("GET", base+"/numgen?name=invoice&count="+c, h.Token, nil); st != 422 {
			t.Fatalf("count %s: %d", c, st)
		}
	}
	if st, _, _ := e.do("GET", base+"/numgen?name=nosuch&count=1", h.Token, nil); st != 404 {
		t.Fatalf("unknown generator: %d", st)
	}
	// The token may only write to "other": docs is 403.
	st, _, _ = e.do("POST", base+"/file_upload/create", h.Token, map[string]any{"parent_object_id": "docs", "filename": "x", "persno": "", "check_access": true})
	if st != 403 {
		t.Fatalf("forbidden bucket: %d", st)
	}
	// 401: no token, a made-up token.
	if st, _, _ := e.do("GET", base+"/numgen?name=invoice&count=1", "", nil); st != 401 {
		t.Fatalf("no token: %d", st)
	}
	if st, _, _ := e.do("GET", base+"/numgen?name=invoice&count=1", "fx_bogus", nil); st != 401 {
		t.Fatalf("bogus token: %d", st)
	}
	// 100 requests per rolling minute: 7 used so far (the 401s do not count).
	used := 7
	for i := used; i < 100; i++ {
		if st, body, _ := e.do("GET", base+"/numgen?name=invoice&count=1", h.Token, nil); st != 200 {
			t.Fatalf("request %d: %d %s", i+1, st, body)
		}
	}
	st, body, hdr := e.do("GET", base+"/numgen?name=invoice&count=1", h.Token, nil)
	if st != 429 || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "rate limit") {
		t.Fatalf("101st request: %d %s Retry-After=%q", st, body, hdr.Get("Retry-After"))
	}
	if ra, _ := strconv.Atoi(hdr.Get("Retry-After")); ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", hdr.Get("Retry-After"))
	}
	// The numbers handed out are persistent and unique: next is 1000+3+1+93.
	h.release()
	// A used token (its call ended) is revoked.
	if st, _, _ := e.do("GET", base+"/numgen?name=invoice&count=1", h.Token, nil); st != 401 {
		t.Fatalf("revoked token: %d", st)
	}
	h2 := e.holdCall(e.holder("holder2"))
	defer h2.release()
	if h2.Token == h.Token {
		t.Fatal("token reused across calls")
	}
	st, body, _ = e.do("GET", base+"/numgen?name=invoice&count=1", h2.Token, nil)
	if st != 200 || !strings.Contains(string(body), `[1097]`) {
		t.Fatalf("%d %s", st, body)
	}
}
