package remote

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// TestClientMultipartFromReaderAt: a Put over the threshold from an
// io.ReaderAt goes up in concurrent parts whose size does not divide the
// object, and the object reads back intact.
func TestClientMultipartFromReaderAt(t *testing.T) {
	srv := startRealServer(t, 0)
	c := srv.client(t, func(o *ClientOptions) {
		o.MultipartThreshold = 6 << 20
		o.PartSize = 5 << 20
	})
	ctx := t.Context()
	_, err := c.CreateBucket(ctx, storage.BucketOptions{Name: "mp"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(newGenReader(15 << 20)) // an exact multiple of 5 MiB
	f, err := os.Create(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(data)
	f.Seek(0, io.SeekStart)
	v, err := c.Put(ctx, "mp", "dir/big.bin", f, storage.PutOptions{Size: -1, Tags: map[string]string{"t": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	if v.File.MD5 != "md5:"+hex.EncodeToString(sum[:]) || v.Size() != int64(len(data)) || v.Tags["t"] != "1" {
		t.Fatalf("version %+v file %+v", v, v.File)
	}
	evs, err := c.Events(ctx, 0, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	var completes int
	for _, e := range evs {
		if e.Name == storage.EventCompleteMultipart && e.Key == "dir/big.bin" {
			completes++
		}
	}
	if completes != 1 {
		t.Fatalf("%d complete-multipart events, want 1 (events %+v)", completes, evs)
	}
	if ups, err := c.ListMultiparts(ctx, "mp"); err != nil || len(ups) != 0 {
		t.Fatalf("uploads left behind: %v %v", ups, err)
	}
	rc, _, err := c.Get(ctx, "mp", "dir/big.bin", "", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

type failingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= int64(n)
	return n, err
}

// TestClientMultipartFailureAborts: a body that fails half-way leaves no
// upload (and no reservation) behind and no object.
func TestClientMultipartFailureAborts(t *testing.T) {
	srv := startRealServer(t, 0)
	c := srv.client(t, func(o *ClientOptions) { o.MultipartThreshold = 6 << 20; o.PartSize = 5 << 20 })
	ctx := t.Context()
	b, err := c.CreateBucket(ctx, storage.BucketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	_, err = c.Put(ctx, b.ID, "k", &failingReader{r: newGenReader(20 << 20), n: 7 << 20, err: boom}, storage.PutOptions{Size: 20 << 20})
	if !errors.Is(err, boom) {
		t.Fatalf("Put: %v, want the reader's error", err)
	}
	if ups, err := c.ListMultiparts(ctx, b.ID); err != nil || len(ups) != 0 {
		t.Fatalf("uploads left behind: %v %v", ups, err)
	}
	if bk, err := c.GetBucket(ctx, b.ID); err != nil || bk.Size != 0 {
		t.Fatalf("bucket %+v %v: reservation not released", bk, err)
	}
	if _, err := c.Stat(ctx, b.ID, "k", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Stat: %v", err)
	}
}

// TestClientOriginAndAuth: the origin of a write reaches the server's
// events; a missing or wrong token is ErrPermission, not retried.
func TestClientOriginAndAuth(t *testing.T) {
	srv := startRealServer(t, 0)
	c := srv.client(t, nil)
	ctx := t.Context()
	b, err := c.CreateBucket(ctx, storage.BucketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	octx := storage.WithOrigin(ctx, storage.Origin{Kind: "sync", Hops: 2})
	v, err := c.Put(octx, b.ID, "o", bytes.NewReader([]byte("x")), storage.PutOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := c.Events(ctx, 0, 100, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		if e.VersionID == v.VersionID {
			found = true
			if e.Origin.Kind != "sync" || e.Origin.Hops != 2 {
				t.Fatalf("event origin %+v, want sync/2", e.Origin)
			}
		}
	}
	if !found {
		t.Fatalf("no event for the put in %+v", evs)
	}
	for _, tok := range []string{"", "bfs_wrong"} {
		anon := srv.client(t, func(o *ClientOptions) { o.Token = tok })
		_, err := anon.ListBuckets(ctx)
		if !errors.Is(err, storage.ErrPermission) || IsRetryable(err) {
			t.Fatalf("token %q: %v, want a permanent ErrPermission", tok, err)
		}
	}
}

// TestClientTLS: a self-signed server is trusted through CAFile, and an
// untrusted one fails at once (a certificate error is not retryable).
func TestClientTLS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSONStatus(w, 200, `{"buckets":[]}`)
	}))
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ts.URL, ClientOptions{CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ListBuckets(t.Context()); err != nil {
		t.Fatalf("with CA: %v", err)
	}
	u, err := NewClient(ts.URL, ClientOptions{Retry: RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.ListBuckets(t.Context()); err == nil || IsRetryable(err) {
		t.Fatalf("untrusted: %v (retryable %v), want a permanent error", err, IsRetryable(err))
	}
	if _, err := NewClient(ts.URL, ClientOptions{CAFile: filepath.Join(t.TempDir(), "none.pem")}); !errors.Is(err, storage.ErrInvalid) {
		t.Fatalf("missing CA file: %v", err)
	}
}

// TestClientUploadPartsFromOneFile: UploadPart consumes its reader like a
// Read would, also when it reads through io.ReaderAt (an *os.File), so
// consecutive parts can come from one open file.
func TestClientUploadPartsFromOneFile(t *testing.T) {
	srv := startRealServer(t, contractPartSize)
	c := srv.client(t, nil)
	ctx := t.Context()
	b, err := c.CreateBucket(ctx, storage.BucketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(newGenReader(3*contractPartSize + 5))
	f, err := os.Create(filepath.Join(t.TempDir(), "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(data)
	f.Seek(0, io.SeekStart)
	size := int64(len(data))
	m, err := c.InitMultipart(ctx, b.ID, "parts", size, contractPartSize, storage.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; int64(n)*contractPartSize < size; n++ {
		l := min(int64(contractPartSize), size-int64(n)*contractPartSize)
		if _, err := c.UploadPart(ctx, m.UploadID, n, f, l); err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
	}
	if ps, err := c.ListParts(ctx, m.UploadID); err != nil || len(ps) != 4 {
		t.Fatalf("parts %v %v", ps, err)
	}
	// A fresh client knows the upload only by id.
	c2 := srv.client(t, nil)
	if mm, err := c2.GetMultipart(ctx, m.UploadID); err != nil || mm.Key != "parts" || mm.Completed {
		t.Fatalf("GetMultipart from another client: %+v %v", mm, err)
	}
	v, err := c2.CompleteMultipart(ctx, m.UploadID)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	if v.File.MD5 != "md5:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("stored %s, want md5 of the file", v.File.MD5)
	}
	if mm, err := c2.GetMultipart(ctx, m.UploadID); err != nil || !mm.Completed || mm.VersionID != v.VersionID {
		t.Fatalf("state after complete: %+v %v", mm, err)
	}
}
