package remote

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServerCurlUploadFile replays the Zenodo-documented shapes (spec
// §11.1): `curl --upload-file` to a bucket link with a bearer token (with
// Expect: 100-continue above 1 MiB), and with ?access_token= as the
// zenodo_upload.sh scripts do, judged by curl's exit code.
func TestServerCurlUploadFile(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	e := newSrvEnv(t)
	b := e.bucket()
	tok := e.token([]string{ActionBucketUpdate, ActionObjectRead, ActionBucketRead}, b)
	dir := t.TempDir()
	big := filepath.Join(dir, "file.dat")
	data := pattern(3<<20 + 17)
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	link := e.base + "/files/" + b
	out, err := exec.Command(curl, "-sS", "-f", "--upload-file", big, "-H", "Authorization: Bearer "+tok, link+"/file.dat").CombinedOutput()
	if err != nil {
		t.Fatalf("curl --upload-file: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte(`"checksum":"md5:`+md5hex(data)+`"`)) {
		t.Fatalf("curl got %s", out)
	}
	out, err = exec.Command(curl, "--progress-bar", "-f", "-o", "/dev/null", "--upload-file", big, link+"/via-query.dat?access_token="+tok).CombinedOutput()
	if err != nil {
		t.Fatalf("curl with access_token: %v\n%s", err, out)
	}
	// Download with curl, compare.
	got := filepath.Join(dir, "got")
	if out, err := exec.Command(curl, "-sS", "-f", "-o", got, link+"/via-query.dat?access_token="+tok).CombinedOutput(); err != nil {
		t.Fatalf("curl GET: %v\n%s", err, out)
	}
	if g, _ := os.ReadFile(got); !bytes.Equal(g, data) {
		t.Fatal("curl round trip differs")
	}
	// A refused upload makes curl -f fail (scripts rely on the exit code).
	if err := exec.Command(curl, "-sS", "-f", "-o", "/dev/null", "--upload-file", big, link+"/x.dat?access_token=bfs_bad").Run(); err == nil {
		t.Fatal("curl -f succeeded with a bad token")
	}
	// Python requests shape: Accept: application/json + octet-stream type.
	r := e.req("PUT", "/files/"+b+"/req.bin", tok, bytes.NewReader([]byte("abc")), "Accept", "application/json", "Content-Type", "application/octet-stream")
	expect(t, r, 200)
}

// formBody builds an ng-file-upload request body: fields first, then "file".
func formBody(t *testing.T, fields map[string]string, order []string, file []byte) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, k := range order {
		if err := w.WriteField(k, fields[k]); err != nil {
			t.Fatal(err)
		}
	}
	fw, err := w.CreateFormFile("file", "blob")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(file)
	w.Close()
	return &buf, w.FormDataContentType()
}

// TestServerInvenioFilesJS replays the invenio-files-js flow (spec §11.2):
// small files by PUT with octet-stream; large files by POST ?uploads&size&
// partSize, form-data chunks (0-based _chunkNumber) to links.self with PUT,
// POST links.self to complete, then DELETE links.version / abort.
func TestServerInvenioFilesJS(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	small := e.put(b, "small.txt", []byte("tiny"), "Content-Type", "application/octet-stream")
	const chunk = 2048
	data := pattern(3*chunk + 500)
	r := e.admReq("POST", fmt.Sprintf("/files/%s/large.bin?uploads=1&size=%d&partSize=%d", b, len(data), chunk), nil, "Content-Type", "application/octet-stream")
	expect(t, r, 200)
	mp := r.json(t)
	self := strings.TrimPrefix(mp["links"].(map[string]any)["self"].(string), e.base)
	for n := 0; n*chunk < len(data); n++ {
		part := data[n*chunk : min((n+1)*chunk, len(data))]
		fields := map[string]string{"_chunkSize": fmt.Sprint(chunk), "_currentChunkSize": fmt.Sprint(len(part)), "_chunkNumber": fmt.Sprint(n), "_totalSize": fmt.Sprint(len(data))}
		body, ct := formBody(t, fields, []string{"_chunkSize", "_currentChunkSize", "_chunkNumber", "_totalSize"}, part)
		r := e.admReq("PUT", self, body, "Content-Type", ct)
		expect(t, r, 200)
		if r.json(t)["part_number"].(float64) != float64(n) {
			t.Fatalf("chunk %d: %s", n, r.body)
		}
	}
	r = e.admReq("POST", self, nil)
	expect(t, r, 200)
	done := r.json(t)
	ov := strings.TrimPrefix(done["links"].(map[string]any)["object_version"].(string), e.base)
	if got := e.admReq("GET", ov, nil); !bytes.Equal(got.body, data) {
		t.Fatalf("merged chunks differ (%d bytes)", len(got.body))
	}
	// Removal: DELETE links.version is a hard delete.
	expect(t, e.admReq("DELETE", strings.TrimPrefix(small["links"].(map[string]any)["version"].(string), e.base), nil), 204)
	expect(t, e.admReq("GET", "/files/"+b+"/small.txt", nil), 404)
	if vs := e.admReq("GET", "/files/"+b+"/small.txt?versions", nil).json(t)["contents"].([]any); len(vs) != 0 {
		t.Fatalf("hard-deleted version still listed: %v", vs)
	}
	// Cancel of an in-flight upload: DELETE links.self.
	r = e.admReq("POST", fmt.Sprintf("/files/%s/cancel.bin?uploads=1&size=%d&partSize=%d", b, len(data), chunk), nil)
	cself := strings.TrimPrefix(r.json(t)["links"].(map[string]any)["self"].(string), e.base)
	expect(t, e.admReq("DELETE", cself, nil), 204)
	// Small file by the form shape of PUT (uses _totalSize as the size).
	body, ct := formBody(t, map[string]string{"_totalSize": "5"}, []string{"_totalSize"}, []byte("hello"))
	r = e.admReq("PUT", "/files/"+b+"/form.txt", body, "Content-Type", ct)
	expect(t, r, 200)
	if got := e.admReq("GET", "/files/"+b+"/form.txt", nil).body; string(got) != "hello" {
		t.Fatalf("form upload stored %q", got)
	}
	body, ct = formBody(t, map[string]string{"_totalSize": "9"}, []string{"_totalSize"}, []byte("hello"))
	expect(t, e.admReq("PUT", "/files/"+b+"/form2.txt", body, "Content-Type", ct), 400, "File is smaller than expected.")
	expect(t, e.admReq("GET", "/files/"+b+"/form2.txt", nil), 404)
}
