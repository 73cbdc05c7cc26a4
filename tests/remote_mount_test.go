package tests

// FUSE-level tests of a mount of a remote server (`bucketfs mount
// --remote`): a real server on 127.0.0.1, the HTTP client, the write-back
// queue and the block cache wired as cmd/bucketfs wires them, and a real
// mount. A handler wrapper counts content requests and injects stalls and
// refused uploads; the server is also really stopped and restarted.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/fusefs"
	"github.com/bucketfs/bucketfs/remote"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/bucketfs/bucketfs/syncer"
)

// serverTap wraps the server's handler: it counts content GETs and
// multipart part uploads, can refuse uploads (PUTs and multipart calls:
// 503, retryable; other calls still work) and can make
// content GETs go silent half-way, like a server that went away.
type serverTap struct {
	h          http.Handler
	contentGET atomic.Int64
	parts      atomic.Int64
	refusePut  atomic.Bool
	stall      atomic.Bool
	release    chan struct{}
	releaseOne sync.Once
}

func (s *serverTap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	files := strings.Contains(r.URL.Path, "/files/")
	if files && r.Method == http.MethodGet && q.Has("versionId") && !q.Has("stat") && !q.Has("versions") && !q.Has("uploads") {
		s.contentGET.Add(1)
		if s.stall.Load() {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-s.release:
			}
			return
		}
	}
	upload := r.Method == http.MethodPut || r.Method == http.MethodPost && (q.Has("uploads") || q.Has("uploadId"))
	if files && upload {
		if q.Has("partNumber") {
			s.parts.Add(1)
		}
		if s.refusePut.Load() {
			http.Error(w, `{"status":503,"message":"maintenance"}`, http.StatusServiceUnavailable)
			return
		}
	}
	s.h.ServeHTTP(w, r)
}

// remoteEnv is a server and the state a mount of it keeps between runs.
type remoteEnv struct {
	t      *testing.T
	store  *storage.Store
	tap    *serverTap
	hs     *httptest.Server
	addr   string
	token  string
	state  string // write-back journal and staged files
	cache  string // block cache
	mounts []*remoteMount
}

type remoteMount struct {
	srv *fusefs.Server
	cl  *remote.Client
	wb  *syncer.WriteBack
	bc  *fusefs.BlockCache
	dir string
}

func newRemoteEnv(t *testing.T) *remoteEnv {
	t.Helper()
	if err := fusefs.CheckFUSE(); err != nil {
		if os.Getenv("BUCKETFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("FUSE required: %v", err)
		}
		t.Skipf("no FUSE here: %v", err)
	}
	o := storage.DefaultOptions()
	o.MinPartSize = 1 << 20
	st, err := storage.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	so := remote.DefaultServerOptions()
	so.Prefix = "/api"
	so.MinPartSize = 1 << 20
	srv := remote.NewServer(st, so)
	tok, _, err := srv.Tokens().Create(context.Background(), remote.TokenSpec{Name: "mount-test", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &remoteEnv{t: t, store: st, tap: &serverTap{h: srv, release: make(chan struct{})}, token: tok,
		state: t.TempDir(), cache: t.TempDir()}
	e.hs = httptest.NewServer(e.tap)
	e.addr = e.hs.Listener.Addr().String()
	if _, err := st.CreateBucket(context.Background(), storage.BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := len(e.mounts) - 1; i >= 0; i-- {
			e.unmount(e.mounts[i])
		}
		e.tap.releaseOne.Do(func() { close(e.tap.release) })
		e.hs.CloseClientConnections()
		e.hs.Close()
		st.Close()
	})
	return e
}

// stopServer stops the server the hard way: open connections are cut.
func (e *remoteEnv) stopServer() {
	e.hs.Listener.Close() // no new connections while the open ones are cut
	e.hs.CloseClientConnections()
	e.hs.Close()
}

// startServer serves again on the same address.
func (e *remoteEnv) startServer() {
	e.t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.hs = &httptest.Server{Listener: l, Config: &http.Server{Handler: e.tap}}
	e.hs.Start()
}

// mount mounts the server as `bucketfs mount --remote` does, with a short
// read timeout and small multipart parts.
func (e *remoteEnv) mount() *remoteMount {
	t := e.t
	t.Helper()
	co := remote.DefaultClientOptions()
	co.Token = e.token
	cl, err := remote.NewClient("http://"+e.addr+"/api", co)
	if err != nil {
		t.Fatal(err)
	}
	so := syncer.DefaultOptions()
	so.MultipartThreshold = 4 << 20
	so.PartSize = 1 << 20
	so.RetryMin, so.RetryMax = 20*time.Millisecond, 200*time.Millisecond
	so.IsRetryable = remote.IsRetryable
	wb, err := syncer.NewWriteBack(cl, e.state, so)
	if err != nil {
		t.Fatal(err)
	}
	bo := fusefs.DefaultBlockCacheOptions()
	bo.Dir = e.cache
	bo.Timeout = time.Second
	bc, err := fusefs.NewBlockCache(bo)
	if err != nil {
		t.Fatal(err)
	}
	opts := fusefs.DefaultOptions()
	opts.WriteBack = wb
	opts.BlockCache = bc
	opts.StagingDir = filepath.Join(e.state, "writing")
	os.RemoveAll(opts.StagingDir)
	dir := t.TempDir()
	srv, err := fusefs.Mount(context.Background(), cl, dir, opts)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	m := &remoteMount{srv: srv, cl: cl, wb: wb, bc: bc, dir: dir}
	e.mounts = append(e.mounts, m)
	return m
}

func (e *remoteEnv) unmount(m *remoteMount) {
	if m.srv == nil {
		return
	}
	if err := m.srv.Unmount(); err != nil {
		e.t.Errorf("unmount: %v", err)
	}
	m.srv = nil
	m.wb.Close()
	m.bc.Close()
	m.cl.Close()
}

// serverHas waits until the server's head of key has exactly want.
func (e *remoteEnv) serverHas(key string, want []byte) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := e.serverContent(key)
		if err == nil && bytes.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("server content of %s: %d bytes, err %v; want %d bytes", key, len(got), err, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *remoteEnv) serverContent(key string) ([]byte, error) {
	rc, _, err := e.store.Get(context.Background(), "b", key, "", 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeThrough(t *testing.T, path string, data []byte, fsync bool) error {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := f.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			f.Close()
			return err
		}
	}
	if fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// Writes go through the write-back queue (close returns once staged, reads
// see staged bytes, fsync waits for the upload, big files go multipart);
// reads come through the block cache, and a second read is served from it.
func TestRemoteMountWriteBackAndBlockCache(t *testing.T) {
	e := newRemoteEnv(t)
	m := e.mount()
	bdir := filepath.Join(m.dir, "b")
	small := []byte("hello over http\n")
	big := randomBytes(1, 9<<20+777) // 10 parts of 1 MiB

	// Uploads refused for now: close must still return, reads see the
	// staged bytes.
	e.tap.refusePut.Store(true)
	if err := writeThrough(t, filepath.Join(bdir, "small.txt"), small, false); err != nil {
		t.Fatalf("close with uploads refused: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(bdir, "small.txt")); err != nil || !bytes.Equal(got, small) {
		t.Fatalf("read of a staged file: %q, %v", got, err)
	}
	if _, err := e.serverContent("small.txt"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("server has small.txt while uploads are refused: %v", err)
	}
	e.tap.refusePut.Store(false)
	if err := writeThrough(t, filepath.Join(bdir, "big.bin"), big, true); err != nil {
		t.Fatalf("write+fsync of the big file: %v", err)
	}
	// fsync returned: the server has it, in parts.
	if got, err := e.serverContent("big.bin"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("server content after fsync: %d bytes, %v", len(got), err)
	}
	if e.tap.parts.Load() < 10 {
		t.Fatalf("%d part uploads for a 9 MiB file with 1 MiB parts", e.tap.parts.Load())
	}
	e.serverHas("small.txt", small)

	// A fresh mount (empty kernel page cache) reads through the block cache.
	e.unmount(m)
	m = e.mount()
	bdir = filepath.Join(m.dir, "b")
	before := e.tap.contentGET.Load()
	if got, err := os.ReadFile(filepath.Join(bdir, "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read through the cache: %d bytes, %v", len(got), err)
	}
	cold := e.tap.contentGET.Load() - before
	if cold == 0 {
		t.Fatal("no ranged GET for a cold read")
	}
	f, err := os.Open(filepath.Join(bdir, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 100; i++ {
		off := rng.IntN(len(big))
		buf := make([]byte, rng.IntN(256<<10)+1)
		k, err := f.ReadAt(buf, int64(off))
		if (err != nil && err != io.EOF) || !bytes.Equal(buf[:k], big[off:off+k]) || k != min(len(buf), len(big)-off) {
			t.Fatalf("pread(%d, %d) = %d, %v", off, len(buf), k, err)
		}
	}
	f.Close()

	e.unmount(m)
	m = e.mount()
	before = e.tap.contentGET.Load()
	if got, err := os.ReadFile(filepath.Join(m.dir, "b", "big.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("warm read: %d bytes, %v", len(got), err)
	}
	if n := e.tap.contentGET.Load() - before; n != 0 {
		t.Fatalf("warm read sent %d ranged GETs; the cache should serve it", n)
	}
	if st := m.bc.Stats(); st.Hits == 0 {
		t.Fatalf("block cache stats %+v: no hits", st)
	}
}

// The server going silent or away mid-read makes that read fail with EIO
// (after the read timeout, never a hang); cached data stays readable and
// the mount works again once the server is back.
func TestRemoteMountServerGoneMidRead(t *testing.T) {
	e := newRemoteEnv(t)
	data := randomBytes(3, 40<<20)
	if _, err := e.store.Put(context.Background(), "b", "f.bin", bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	m := e.mount()
	f, err := os.Open(filepath.Join(m.dir, "b", "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 1<<20)
	if _, err := f.ReadAt(head, 0); err != nil || !bytes.Equal(head, data[:1<<20]) {
		t.Fatalf("first read: %v", err)
	}

	// Silent server: the ranged GET starts and then nothing comes.
	e.tap.stall.Store(true)
	buf := make([]byte, 64<<10)
	if _, err := f.ReadAt(buf, 20<<20); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read from a silent server: %v, want EIO", err)
	}
	e.tap.stall.Store(false)
	if _, err := f.ReadAt(buf, 20<<20); err != nil || !bytes.Equal(buf, data[20<<20:20<<20+len(buf)]) {
		t.Fatalf("read once the server answers again: %v", err)
	}

	// Server stopped: uncached bytes are EIO, cached ones still read.
	e.stopServer()
	if _, err := f.ReadAt(buf, 32<<20); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read with the server stopped: %v, want EIO", err)
	}
	if _, err := f.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:len(buf)]) {
		t.Fatalf("cached read with the server stopped: %v", err)
	}
	e.startServer()
	if _, err := f.ReadAt(buf, 32<<20); err != nil || !bytes.Equal(buf, data[32<<20:32<<20+len(buf)]) {
		t.Fatalf("read after the server restarted: %v", err)
	}
	if err := writeThrough(t, filepath.Join(m.dir, "b", "after.txt"), []byte("back"), true); err != nil {
		t.Fatalf("write after the server restarted: %v", err)
	}
	e.serverHas("after.txt", []byte("back"))
}

// An upload the server refuses is reported (close: the bucket's known
// limit; fsync: the server's answer), is never dropped, and goes up once
// the limit allows it.
func TestRemoteMountRefusedUploadReported(t *testing.T) {
	e := newRemoteEnv(t)
	ctx := context.Background()
	limit := int64(1 << 20)
	if _, err := e.store.UpdateBucket(ctx, "b", storage.BucketUpdate{MaxFileSize: &limit}); err != nil {
		t.Fatal(err)
	}
	m := e.mount()
	bdir := filepath.Join(m.dir, "b")
	big := randomBytes(4, 2<<20)
	if err := writeThrough(t, filepath.Join(bdir, "toobig.bin"), big, false); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("close of a file over max_file_size: %v, want EFBIG", err)
	}

	// The limit shrinks behind the mount's back: close cannot know, fsync
	// reports the server's refusal.
	unlimited := int64(0)
	e.store.UpdateBucket(ctx, "b", storage.BucketUpdate{MaxFileSize: &unlimited})
	e.unmount(m)
	m = e.mount()
	bdir = filepath.Join(m.dir, "b")
	if err := writeThrough(t, filepath.Join(bdir, "warm.txt"), []byte("learn the limits"), true); err != nil {
		t.Fatal(err)
	}
	e.store.UpdateBucket(ctx, "b", storage.BucketUpdate{MaxFileSize: &limit})
	if err := writeThrough(t, filepath.Join(bdir, "late.bin"), big, true); !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("fsync of an upload the server refuses: %v, want EFBIG", err)
	}
	if got, err := os.ReadFile(filepath.Join(bdir, "late.bin")); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("refused content is not readable in the mount: %d bytes, %v", len(got), err)
	}
	if m.wb.Pending() == 0 {
		t.Fatal("refused upload dropped from the queue")
	}

	// Raised limit + restart: the journaled upload goes through.
	e.store.UpdateBucket(ctx, "b", storage.BucketUpdate{MaxFileSize: &unlimited})
	e.unmount(m)
	m = e.mount()
	e.serverHas("late.bin", big)
}

// Files closed while the server refused uploads are uploaded by the next
// mount, from the journal, one version each.
func TestRemoteMountResumesAfterRestart(t *testing.T) {
	e := newRemoteEnv(t)
	m := e.mount()
	bdir := filepath.Join(m.dir, "b")
	e.tap.refusePut.Store(true)
	files := map[string][]byte{"a.txt": []byte("a"), "b.bin": randomBytes(5, 6<<20)}
	for k, v := range files {
		if err := writeThrough(t, filepath.Join(bdir, k), v, false); err != nil {
			t.Fatalf("close of %s: %v", k, err)
		}
	}
	if m.wb.Pending() != 2 {
		t.Fatalf("%d pending uploads, want 2", m.wb.Pending())
	}
	e.unmount(m)
	e.tap.refusePut.Store(false)
	for k := range files {
		if _, err := e.serverContent(k); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("%s reached the server before the restart: %v", k, err)
		}
	}
	m = e.mount()
	for k, v := range files {
		e.serverHas(k, v)
		vs, err := e.store.Versions(context.Background(), "b", k)
		if err != nil || len(vs) != 1 {
			t.Fatalf("%s: %d versions, %v; want 1", k, len(vs), err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.wb.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if m.wb.Pending() != 0 {
		t.Fatalf("%d uploads still pending", m.wb.Pending())
	}
}

// A queued file that is renamed is uploaded under its new name (the save
// pattern "write a temporary file, rename it over the original"); a queued
// file that is removed never reaches the server; a newer queued content of
// a file that is on the server follows it through a rename.
func TestRemoteMountRenameAndUnlinkOfQueuedFiles(t *testing.T) {
	e := newRemoteEnv(t)
	m := e.mount()
	bdir := filepath.Join(m.dir, "b")
	p := func(k string) string { return filepath.Join(bdir, k) }
	if err := writeThrough(t, p("doc"), []byte("v1"), true); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.tap.refusePut.Store(true) // everything below stays queued
	if err := writeThrough(t, p("dir/f"), []byte("in a folder"), false); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p("dir"), p("dir2")); err != nil {
		t.Fatalf("rename of a folder holding a queued file: %v", err)
	}
	if got, err := os.ReadFile(p("dir2/f")); err != nil || string(got) != "in a folder" {
		t.Fatalf("queued file after its folder was renamed: %q, %v", got, err)
	}
	if err := writeThrough(t, p(".doc.tmp"), []byte("v2"), false); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p(".doc.tmp"), p("doc")); err != nil {
		t.Fatalf("rename of a queued file over an uploaded one: %v", err)
	}
	if err := writeThrough(t, p("scratch"), []byte("temporary"), false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p("scratch")); err != nil {
		t.Fatalf("unlink of a queued file: %v", err)
	}
	if _, err := os.Stat(p("scratch")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removed queued file still there: %v", err)
	}
	if err := writeThrough(t, p("a"), []byte("a2"), false); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p("a"), p("b")); err != nil {
		t.Fatalf("rename of a queued file: %v", err)
	}
	for k, want := range map[string]string{"doc": "v2", "b": "a2"} {
		if got, err := os.ReadFile(p(k)); err != nil || string(got) != want {
			t.Fatalf("%s in the mount: %q, %v; want %q", k, got, err, want)
		}
	}
	ents, err := os.ReadDir(bdir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range ents {
		names = append(names, de.Name())
	}
	if strings.Join(names, ",") != "b,dir2,doc" {
		t.Fatalf("listing with queued files: %v, want [b dir2 doc]", names)
	}
	e.tap.refusePut.Store(false)
	e.unmount(m) // the rest happens after a restart, from the journal
	m = e.mount()
	e.serverHas("doc", []byte("v2"))
	e.serverHas("b", []byte("a2"))
	e.serverHas("dir2/f", []byte("in a folder"))
	deadline := time.Now().Add(10 * time.Second)
	for m.wb.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, k := range []string{".doc.tmp", "scratch", "a", "dir/f"} {
		if got, err := e.serverContent(k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("server has %s = %q (%v); it was renamed or removed before its upload", k, got, err)
		}
	}
}
