package syncer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

const testBucket = "sync"

func newStore(t *testing.T) *storage.Store {
	t.Helper()
	o := storage.DefaultOptions()
	o.MinPartSize = 1 << 20
	s, err := storage.Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testOpts are CI-sized: short delays, 1 MiB parts above 2 MiB.
func testOpts() Options {
	o := DefaultOptions()
	o.Delay = 100 * time.Millisecond
	o.MaxDelay = 2 * time.Second
	o.DeleteDelay = 300 * time.Millisecond
	o.MinAge = -1
	o.PollInterval = 500 * time.Millisecond
	o.RescanInterval = time.Hour
	o.MultipartThreshold = 2 << 20
	o.PartSize = 1 << 20
	o.RetryMin = 20 * time.Millisecond
	o.RetryMax = 200 * time.Millisecond
	o.Concurrency = 8
	return o
}

func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func openEngine(t *testing.T, st storage.ObjectStore, dir, state string, opts Options) *Engine {
	t.Helper()
	e, err := Open(st, state, []FolderConfig{{Path: dir, Bucket: testBucket}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// onceWith runs one --once pass with a fresh engine on the same state.
func onceWith(t *testing.T, st storage.ObjectStore, dir, state string, opts Options) (*Engine, error) {
	t.Helper()
	e := openEngine(t, st, dir, state, opts)
	defer e.Close()
	err := e.Once(context.Background())
	return e, err
}

func remoteContent(t *testing.T, st storage.ObjectStore, key string) []byte {
	t.Helper()
	rc, _, err := st.Get(context.Background(), testBucket, key, "", 0, -1)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func versions(t *testing.T, st storage.ObjectStore, key string) []*storage.ObjectVersion {
	t.Helper()
	vs, err := st.Versions(context.Background(), testBucket, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return vs
}

// liveVersions counts versions with content.
func liveVersions(t *testing.T, st storage.ObjectStore, key string) int {
	n := 0
	for _, v := range versions(t, st, key) {
		if v.File != nil {
			n++
		}
	}
	return n
}

func heads(t *testing.T, st storage.ObjectStore) map[string]*storage.ObjectVersion {
	t.Helper()
	out := map[string]*storage.ObjectVersion{}
	after := ""
	for {
		res, err := st.List(context.Background(), testBucket, storage.ListOptions{After: after})
		if errors.Is(err, storage.ErrNotFound) {
			return out // the engine has not created the bucket yet
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Objects {
			out[v.Key] = v
		}
		if res.Next == "" {
			return out
		}
		after = res.Next
	}
}

func wantContent(t *testing.T, st storage.ObjectStore, key string, want []byte) {
	t.Helper()
	if got := remoteContent(t, st, key); !bytes.Equal(got, want) {
		t.Fatalf("%s: remote has %d bytes, want %d (content differs)", key, len(got), len(want))
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// faultStore wraps a store and injects failures per method.
type faultStore struct {
	storage.ObjectStore
	mu       sync.Mutex
	failPut  int   // fail this many Puts with failErr
	failErr  error // default ErrUnavailable
	lostComp atomic.Bool
	puts     atomic.Int64
	parts    atomic.Int64
	partHook func(n int)
}

func (f *faultStore) err() error {
	if f.failErr != nil {
		return f.failErr
	}
	return storage.ErrUnavailable
}

func (f *faultStore) Put(ctx context.Context, bucket, key string, r io.Reader, opts storage.PutOptions) (*storage.ObjectVersion, error) {
	f.mu.Lock()
	if f.failPut > 0 {
		f.failPut--
		f.mu.Unlock()
		return nil, f.err()
	}
	f.mu.Unlock()
	f.puts.Add(1)
	return f.ObjectStore.Put(ctx, bucket, key, r, opts)
}

func (f *faultStore) UploadPart(ctx context.Context, id string, n int, r io.Reader, size int64) (*storage.Part, error) {
	p, err := f.ObjectStore.UploadPart(ctx, id, n, r, size)
	if err == nil {
		f.parts.Add(1)
		if f.partHook != nil {
			f.partHook(n)
		}
	}
	return p, err
}

// CompleteMultipart can lose its answer after the server applied it.
func (f *faultStore) CompleteMultipart(ctx context.Context, id string) (*storage.ObjectVersion, error) {
	v, err := f.ObjectStore.CompleteMultipart(ctx, id)
	if err == nil && f.lostComp.CompareAndSwap(true, false) {
		return nil, storage.ErrUnavailable
	}
	return v, err
}
