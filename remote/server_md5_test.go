package remote

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// TestServerPendingMD5: an object whose MD5 the store has not computed yet
// (a large put; here the limit is lowered and the background checksummer
// is off) still gets its checksum in the JSON, ETag and Content-MD5, and an
// HTTP PUT answers with the checksum of what it stored.
func TestServerPendingMD5(t *testing.T) {
	sopts := storage.DefaultOptions()
	sopts.InlineMD5Max = 128 << 10
	sopts.NoBackgroundMD5 = true
	st, err := storage.Open(t.TempDir(), sopts)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(st, DefaultServerOptions())
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
		st.Close()
	})

	ctx := t.Context()
	if _, err := st.CreateBucket(ctx, storage.BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("pending md5 "), 40000) // 480 KB
	sum := md5.Sum(data)
	want := "md5:" + hex.EncodeToString(sum[:])
	v, err := st.Put(ctx, "b", "big", bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if v.File.MD5 != "" {
		t.Fatalf("put of %d bytes over InlineMD5Max has MD5 %q already", len(data), v.File.MD5)
	}

	r := e.admReq("GET", "/files/b/big", nil)
	expect(t, r, http.StatusOK)
	if got := r.Header.Get("Content-MD5"); got != want[len("md5:"):] {
		t.Fatalf("Content-MD5 %q, want %s", got, want[len("md5:"):])
	}
	if got := r.Header.Get("ETag"); got != `"`+want+`"` {
		t.Fatalf("ETag %q, want %q", got, want)
	}
	// A second pending object, seen first in a listing.
	data3 := append(bytes.Clone(data), 'x')
	sum3 := md5.Sum(data3)
	if _, err := st.Put(ctx, "b", "big3", bytes.NewReader(data3), storage.PutOptions{Size: int64(len(data3))}); err != nil {
		t.Fatal(err)
	}
	r = e.admReq("GET", "/files/b", nil)
	expect(t, r, http.StatusOK)
	contents, _ := r.json(t)["contents"].([]any)
	if len(contents) != 2 || contents[0].(map[string]any)["checksum"] != want ||
		contents[1].(map[string]any)["checksum"] != "md5:"+hex.EncodeToString(sum3[:]) {
		t.Fatalf("listing: %s, want checksums %s and md5:%x", r.body, want, sum3)
	}

	data2 := bytes.Repeat([]byte("put over http "), 40000)
	sum2 := md5.Sum(data2)
	r = e.admReq("PUT", "/files/b/big2", bytes.NewReader(data2))
	expect(t, r, http.StatusOK)
	if got := r.json(t)["checksum"]; got != "md5:"+hex.EncodeToString(sum2[:]) {
		t.Fatalf("PUT response checksum %v, want md5:%x", got, sum2)
	}
}
