package tests

// End-to-end tests of the sync engine against a real bucketfs HTTP server
// on 127.0.0.1, through a fault-injecting proxy, with the engine in a child
// process that is SIGKILLed at named points and at random times.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/remote"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/bucketfs/bucketfs/syncer"
)

const syncBucket = "mirror"

// syncServer is a real server on 127.0.0.1 behind a fault proxy.
type syncServer struct {
	store *storage.Store
	srv   *httptest.Server
	proxy *faultProxy
	front *httptest.Server
	token string
}

func startSyncServer(t *testing.T) *syncServer {
	t.Helper()
	o := storage.DefaultOptions()
	o.MinPartSize = 1 << 20
	st, err := storage.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	so := remote.DefaultServerOptions()
	so.MinPartSize = 1 << 20
	so.TaskWaitInterval = 50 * time.Millisecond
	srv := remote.NewServer(st, so)
	tok, _, err := srv.Tokens().Create(context.Background(), remote.TokenSpec{Name: "sync-test", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	target, _ := url.Parse(hs.URL)
	p := &faultProxy{target: target}
	front := httptest.NewServer(p)
	s := &syncServer{store: st, srv: hs, proxy: p, front: front, token: tok}
	t.Cleanup(func() {
		front.CloseClientConnections()
		front.Close()
		hs.CloseClientConnections()
		hs.Close()
		st.Close()
	})
	return s
}

func (s *syncServer) url() string { return s.front.URL + "/api" }

func (s *syncServer) client(t *testing.T) storage.ObjectStore {
	t.Helper()
	o := remote.DefaultClientOptions()
	o.Token = s.token
	c, err := remote.NewClient(s.srv.URL+"/api", o) // direct, no faults
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// faultProxy forwards to the server, counts upload payload bytes, and
// injects resets, stalls, error bursts, outages and lost answers.
type faultProxy struct {
	target *url.URL

	payload   atomic.Int64 // request body bytes of PUTs the proxy forwarded
	putCount  atomic.Int64
	mu        sync.Mutex
	failN     int // answer the next failN requests with failCode
	failCode  int
	retryHdr  string
	resetAt   int64 // reset a connection after this many PUT bytes (0 = off)
	sinceRst  int64
	stallNext time.Duration
	down      bool
	dropComp  int // forward this many completes, then lose their answer
	resets    int
}

func (p *faultProxy) set(fn func(p *faultProxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fn(p)
}

func hijackClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // RST, not FIN
			}
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// countingBody counts and can cut the request body mid-stream.
type countingBody struct {
	r   io.Reader
	p   *faultProxy
	cut *atomic.Bool
}

func (b *countingBody) Read(buf []byte) (int, error) {
	n, err := b.r.Read(buf)
	b.p.payload.Add(int64(n))
	b.p.mu.Lock()
	if b.p.resetAt > 0 {
		b.p.sinceRst += int64(n)
		if b.p.sinceRst >= b.p.resetAt {
			b.p.sinceRst = 0
			b.p.resets++
			b.cut.Store(true)
			b.p.mu.Unlock()
			return n, errors.New("injected reset")
		}
	}
	b.p.mu.Unlock()
	return n, err
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	down := p.down
	stall := p.stallNext
	p.stallNext = 0
	code, hdr := 0, p.retryHdr
	if p.failN > 0 {
		p.failN--
		code = p.failCode
	}
	isComplete := r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
	drop := false
	if isComplete && p.dropComp > 0 {
		p.dropComp--
		drop = true
	}
	p.mu.Unlock()
	if down {
		hijackClose(w)
		return
	}
	if stall > 0 {
		time.Sleep(stall)
	}
	if code != 0 {
		io.Copy(io.Discard, r.Body)
		if hdr != "" {
			w.Header().Set("Retry-After", hdr)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"status":%d,"message":"injected"}`, code)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	var cut atomic.Bool
	if r.Method == http.MethodPut {
		p.putCount.Add(1)
		if r.ContentLength != 0 {
			out.Body = io.NopCloser(&countingBody{r: r.Body, p: p, cut: &cut})
		} else {
			out.Body = http.NoBody // keep Content-Length: 0 (not chunked)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil || cut.Load() {
		if resp != nil {
			resp.Body.Close()
		}
		hijackClose(w)
		return
	}
	defer resp.Body.Close()
	if drop {
		io.Copy(io.Discard, resp.Body) // the server completed; the answer is lost
		hijackClose(w)
		return
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(flushWriter{w}, resp.Body)
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// childSpec configures the sync engine run by the child process.
type childSpec struct {
	URL, Token, Dir, State string
	PartSize, Threshold    int64
	PartsInFlight          int
	Concurrency            int
	KillAt                 string // "point:n": SIGKILL self at the n-th hook call
	SessionMaxAge          time.Duration
}

// TestSyncChildProcess is the child: it runs one --once pass and exits.
// It does nothing unless started by runChild.
func TestSyncChildProcess(t *testing.T) {
	raw := os.Getenv("BUCKETFS_SYNC_CHILD")
	if raw == "" {
		t.Skip("helper process for the sync kill tests")
	}
	var sp childSpec
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		t.Fatal(err)
	}
	co := remote.DefaultClientOptions()
	co.Token = sp.Token
	co.Retry.InitialBackoff = 50 * time.Millisecond
	co.Retry.MaxBackoff = 500 * time.Millisecond
	cl, err := remote.NewClient(sp.URL, co)
	if err != nil {
		t.Fatal(err)
	}
	o := syncer.DefaultOptions()
	o.MinAge = -1
	o.PartSize, o.MultipartThreshold = sp.PartSize, sp.Threshold
	o.PartsInFlight, o.Concurrency = sp.PartsInFlight, sp.Concurrency
	o.RetryMin, o.RetryMax = 50*time.Millisecond, time.Second
	o.SessionMaxAge = sp.SessionMaxAge
	o.IsRetryable = remote.IsRetryable
	if sp.KillAt != "" {
		point, ns, _ := strings.Cut(sp.KillAt, ":")
		n, _ := strconv.Atoi(ns)
		var calls atomic.Int64
		o.Hook = func(p string) {
			if p == point && calls.Add(1) == int64(n) {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	e, err := syncer.Open(cl, sp.State, []syncer.FolderConfig{{Path: sp.Dir, Bucket: syncBucket}}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Once(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// runChild runs the engine in a child process; killAfter > 0 kills it then.
func runChild(t *testing.T, sp childSpec, killAfter time.Duration) (killed bool) {
	t.Helper()
	b, _ := json.Marshal(sp)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSyncChildProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "BUCKETFS_SYNC_CHILD="+string(b))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if killAfter > 0 {
		tm := time.AfterFunc(killAfter, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer tm.Stop()
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true
		}
	}
	if err != nil {
		t.Fatalf("sync child failed: %v\n%s", err, out.String())
	}
	return false
}

func randData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeTree(t *testing.T, p string, b []byte) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkOneVersion: exactly one version with the local content.
func checkOneVersion(t *testing.T, c storage.ObjectStore, key string, want []byte) {
	t.Helper()
	ctx := context.Background()
	vs, err := c.Versions(ctx, syncBucket, key)
	if err != nil {
		t.Fatalf("versions %s: %v", key, err)
	}
	if len(vs) != 1 {
		t.Fatalf("%s has %d versions, want exactly 1", key, len(vs))
	}
	rc, _, err := c.Get(ctx, syncBucket, key, "", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: remote content differs from local (%d vs %d bytes)", key, len(got), len(want))
	}
}

func checkNoOpenUploads(t *testing.T, c storage.ObjectStore) {
	t.Helper()
	mps, err := c.ListMultiparts(context.Background(), syncBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mps {
		if !m.Completed {
			t.Fatalf("orphaned upload %s of %s left on the server", m.UploadID, m.Key)
		}
	}
}

// S1: SIGKILL at named points of a multipart upload, then a restart:
// acknowledged parts are not resent, one version, no orphans.
func TestSyncKillNamedPointsResume(t *testing.T) {
	const size, part, inflight = 12 << 20, 1 << 20, 4
	points := []string{"part-acked:1", "part-acked:6", "part-acked:11", "init:1", "before-complete:1", "after-complete:1", "after-journal:1"}
	for _, kp := range points {
		t.Run(strings.ReplaceAll(kp, ":", "_"), func(t *testing.T) {
			s := startSyncServer(t)
			c := s.client(t)
			dir, state := t.TempDir(), t.TempDir()
			data := randData(uint64(len(kp)), size)
			writeTree(t, filepath.Join(dir, "big.bin"), data)
			sp := childSpec{URL: s.url(), Token: s.token, Dir: dir, State: state, PartSize: part,
				Threshold: 2 << 20, PartsInFlight: inflight, Concurrency: 4, KillAt: kp}
			if !runChild(t, sp, 0) {
				t.Fatalf("child was not killed at %s", kp)
			}
			sp.KillAt = ""
			if runChild(t, sp, 0) {
				t.Fatal("restart killed")
			}
			checkOneVersion(t, c, "big.bin", data)
			checkNoOpenUploads(t, c)
			resent := s.proxy.payload.Load() - size
			if resent > inflight*part {
				t.Fatalf("%d bytes resent after a kill at %s, want <= %d (parts in flight)", resent, kp, inflight*part)
			}
			t.Logf("kill at %s: resent %d bytes", kp, resent)
			// A further pass changes nothing.
			before := s.proxy.payload.Load()
			runChild(t, sp, 0)
			if d := s.proxy.payload.Load() - before; d != 0 {
				t.Fatalf("no-op pass sent %d bytes", d)
			}
		})
	}
}

// S1 (random) and S2: SIGKILL at random times during a multipart upload
// and a small-file initial sync, restarted until done.
func TestSyncKillRandomConverges(t *testing.T) {
	s := startSyncServer(t)
	c := s.client(t)
	dir, state := t.TempDir(), t.TempDir()
	files := map[string][]byte{}
	for i := 0; i < 600; i++ {
		k := fmt.Sprintf("small/%02d/f%04d", i%20, i)
		files[k] = randData(uint64(i), 1000+i)
	}
	files["large.bin"] = randData(999, 10<<20)
	for k, b := range files {
		writeTree(t, filepath.Join(dir, k), b)
	}
	sp := childSpec{URL: s.url(), Token: s.token, Dir: dir, State: state, PartSize: 1 << 20,
		Threshold: 2 << 20, PartsInFlight: 2, Concurrency: 8}
	r := rand.New(rand.NewPCG(42, 42))
	kills := 0
	for round := 0; round < 12; round++ {
		if runChild(t, sp, time.Duration(100+r.IntN(500))*time.Millisecond) {
			kills++
		} else {
			break
		}
	}
	runChild(t, sp, 0)
	t.Logf("%d random kills", kills)
	for k, b := range files {
		checkOneVersion(t, c, k, b)
	}
	checkNoOpenUploads(t, c)
	if dup := s.proxy.putCount.Load() - int64(len(files)-1) - 10; dup > int64(kills*(8+2)) {
		t.Fatalf("%d duplicate PUTs over %d kills, want <= concurrency per kill", dup, kills)
	}
}

// S7: network flaps through the proxy converge with one version per file.
func TestSyncNetworkFlaps(t *testing.T) {
	s := startSyncServer(t)
	c := s.client(t)
	dir, state := t.TempDir(), t.TempDir()
	files := map[string][]byte{}
	for i := 0; i < 3; i++ {
		files[fmt.Sprintf("big%d.bin", i)] = randData(uint64(100+i), 6<<20)
	}
	for i := 0; i < 20; i++ {
		files[fmt.Sprintf("s/%02d.txt", i)] = randData(uint64(i), 3000)
	}
	for k, b := range files {
		writeTree(t, filepath.Join(dir, k), b)
	}
	p := s.proxy
	p.set(func(p *faultProxy) {
		p.resetAt = 5 << 20 // reset a connection every 5 MiB of payload
		p.failN, p.failCode, p.retryHdr = 6, 503, "1"
		p.stallNext = 2 * time.Second
		p.dropComp = 2 // two completes lose their answer
	})
	go func() {
		time.Sleep(1500 * time.Millisecond)
		p.set(func(p *faultProxy) { p.down = true }) // a total outage
		time.Sleep(3 * time.Second)
		p.set(func(p *faultProxy) { p.down = false; p.failN, p.failCode, p.retryHdr = 4, 429, "1" })
	}()
	sp := childSpec{URL: s.url(), Token: s.token, Dir: dir, State: state, PartSize: 1 << 20,
		Threshold: 2 << 20, PartsInFlight: 4, Concurrency: 4}
	runChild(t, sp, 0)
	// Whatever --once could not finish during the faults, the next run does.
	p.set(func(p *faultProxy) { p.resetAt = 0 })
	runChild(t, sp, 0)
	for k, b := range files {
		checkOneVersion(t, c, k, b)
	}
	checkNoOpenUploads(t, c)
	var total int64
	for _, b := range files {
		total += int64(len(b))
	}
	t.Logf("payload %d for %d bytes of files (%d resets)", p.payload.Load(), total, p.resets)
}

// S14: a server upload the journal does not know, for our keys, is aborted
// at startup; one outside the folder's keys is left alone.
func TestSyncAbortsOrphanUploads(t *testing.T) {
	s := startSyncServer(t)
	c := s.client(t)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, storage.BucketOptions{Name: syncBucket}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InitMultipart(ctx, syncBucket, "orphan.bin", 3<<20, 1<<20, storage.PutOptions{Size: 3 << 20}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "a"), []byte("a"))
	runChild(t, childSpec{URL: s.url(), Token: s.token, Dir: dir, State: t.TempDir(), PartSize: 1 << 20,
		Threshold: 2 << 20, PartsInFlight: 2, Concurrency: 2}, 0)
	checkNoOpenUploads(t, c)
	// A stale journal session (older than SessionMaxAge) is aborted too.
	state := t.TempDir()
	writeTree(t, filepath.Join(dir, "big"), randData(5, 4<<20))
	sp := childSpec{URL: s.url(), Token: s.token, Dir: dir, State: state, PartSize: 1 << 20,
		Threshold: 2 << 20, PartsInFlight: 1, Concurrency: 2, KillAt: "part-acked:2"}
	runChild(t, sp, 0)
	sp.KillAt, sp.SessionMaxAge = "", time.Nanosecond
	runChild(t, sp, 0)
	checkNoOpenUploads(t, c)
	checkOneVersion(t, c, "big", randData(5, 4<<20))
}

// S3/S12 over HTTP: renames made while stopped cost zero payload bytes.
func TestSyncRenameWhileStoppedZeroBytes(t *testing.T) {
	s := startSyncServer(t)
	c := s.client(t)
	dir, state := t.TempDir(), t.TempDir()
	data := randData(77, 8<<20)
	writeTree(t, filepath.Join(dir, "a", "big.bin"), data)
	writeTree(t, filepath.Join(dir, "a", "small.txt"), []byte("small"))
	writeTree(t, filepath.Join(dir, "empty"), nil)
	if err := os.Symlink("a/small.txt", filepath.Join(dir, "ln")); err != nil {
		t.Fatal(err)
	}
	sp := childSpec{URL: s.url(), Token: s.token, Dir: dir, State: state, PartSize: 1 << 20,
		Threshold: 2 << 20, PartsInFlight: 4, Concurrency: 4}
	runChild(t, sp, 0)
	checkOneVersion(t, c, "empty", nil)
	if v, err := c.Stat(context.Background(), syncBucket, "ln", ""); err != nil || v.Attrs["symlink"] != "a/small.txt" {
		t.Fatalf("symlink over HTTP: %+v, %v", v, err)
	}
	before := s.proxy.payload.Load()
	os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	runChild(t, sp, 0)
	if d := s.proxy.payload.Load() - before; d != 0 {
		t.Fatalf("rename sent %d payload bytes, want 0", d)
	}
	checkOneVersion(t, c, "b/big.bin", data)
	if _, err := c.Stat(context.Background(), syncBucket, "a/big.bin", ""); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("old key still live: %v", err)
	}
}

// S9: a growing file never produces a torn version: every version is a
// prefix of the final content, consistent with one moment's stat.
func TestSyncGrowingFileNoTornVersions(t *testing.T) {
	s := startSyncServer(t)
	c := s.client(t)
	dir, state := t.TempDir(), t.TempDir()
	co := remote.DefaultClientOptions()
	co.Token = s.token
	cl, err := remote.NewClient(s.url(), co)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	o := syncer.DefaultOptions()
	o.Delay, o.MaxDelay, o.MinAge = 100*time.Millisecond, 700*time.Millisecond, 300*time.Millisecond
	o.PartSize, o.MultipartThreshold = 1<<20, 2<<20
	e, err := syncer.Open(cl, state, []syncer.FolderConfig{{Path: dir, Bucket: syncBucket}}, o)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.Run(ctx) }()
	p := filepath.Join(dir, "grow.log")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	full := randData(3, 3<<20)
	for off := 0; off < len(full); off += 64 << 10 {
		f.Write(full[off : off+64<<10])
		time.Sleep(25 * time.Millisecond)
	}
	f.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rc, _, err := c.Get(context.Background(), syncBucket, "grow.log", "", 0, -1)
		if err == nil {
			got, _ := io.ReadAll(rc)
			rc.Close()
			if bytes.Equal(got, full) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("final content never arrived")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-done
	vs, _ := c.Versions(context.Background(), syncBucket, "grow.log")
	for _, v := range vs {
		rc, _, err := c.Get(context.Background(), syncBucket, "grow.log", v.VersionID, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, full[:len(got)]) {
			t.Fatalf("version %s (%d bytes) is torn: not a prefix of the file", v.VersionID, len(got))
		}
	}
	t.Logf("%d versions while growing 3 MiB over ~1.2 s", len(vs))
}
