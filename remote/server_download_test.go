package remote

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/bucketfs/bucketfs/metadata"
)

// TestDownloadDamagedInline: an inline object whose stored bytes no longer
// match their BLAKE3 answers 500 (kind "checksum") before any byte of it
// leaves; a range of it (not verifiable) and a HEAD still answer.
func TestDownloadDamagedInline(t *testing.T) {
	e := newSrvEnv(t)
	bk := e.bucket()
	data := bytes.Repeat([]byte("abcd"), 1024)
	e.put(bk, "small", data)
	expect(t, e.admReq("GET", "/files/"+bk+"/small", nil), http.StatusOK)

	v, err := e.store.Stat(t.Context(), bk, "small", "")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(data)
	bad[100] ^= 1
	if err := e.store.DB().Update(func(tx metadata.Tx) error { return metadata.PutFileData(tx, v.File.ID, bad) }); err != nil {
		t.Fatal(err)
	}
	r := e.admReq("GET", "/files/"+bk+"/small", nil)
	if r.StatusCode != http.StatusInternalServerError || !strings.Contains(string(r.body), `"checksum"`) {
		t.Fatalf("damaged object: status %d body %q, want 500 kind checksum", r.StatusCode, r.body)
	}
	if bytes.Contains(r.body, bad[:64]) {
		t.Fatal("damaged bytes were sent")
	}
	r = e.admReq("GET", "/files/"+bk+"/small", nil, "Range", "bytes=0-9")
	expect(t, r, http.StatusPartialContent)
	if string(r.body) != string(bad[:10]) {
		t.Fatalf("range body %q", r.body)
	}
	expect(t, e.admReq("HEAD", "/files/"+bk+"/small", nil), http.StatusOK)
}
