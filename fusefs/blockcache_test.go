package fusefs

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
	"syscall"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// fetchStore counts ranged Gets and injects failures and stalls.
type fetchStore struct {
	storage.ObjectStore
	gets  atomic.Int64
	fail  atomic.Bool
	stall atomic.Bool
	gate  chan struct{} // when set, every Get waits for it to close
}

var errInjected = errors.New("injected: connection refused")

func (s *fetchStore) Get(ctx context.Context, bucket, key, version string, off, n int64) (io.ReadCloser, *storage.ObjectVersion, error) {
	s.gets.Add(1)
	if s.gate != nil {
		<-s.gate
	}
	if s.fail.Load() {
		return nil, nil, errInjected
	}
	if s.stall.Load() {
		// The server accepted the request and went silent.
		return io.NopCloser(stallReader{ctx}), nil, nil
	}
	return s.ObjectStore.Get(ctx, bucket, key, version, off, n)
}

type stallReader struct{ ctx context.Context }

func (r stallReader) Read([]byte) (int, error) {
	<-r.ctx.Done()
	return 0, r.ctx.Err()
}

func cacheFixture(t *testing.T, size int) (*fetchStore, *storage.ObjectVersion, []byte) {
	t.Helper()
	st := newStore(t)
	ctx := context.Background()
	if _, err := st.CreateBucket(ctx, storage.BucketOptions{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	v, err := st.Put(ctx, "b", "k", bytes.NewReader(data), storage.PutOptions{Size: int64(size)})
	if err != nil {
		t.Fatal(err)
	}
	return &fetchStore{ObjectStore: st}, v, data
}

func newTestCache(t *testing.T, dir string, mod func(*BlockCacheOptions)) *BlockCache {
	t.Helper()
	o := DefaultBlockCacheOptions()
	o.Dir = dir
	o.BlockSize = 64 << 10
	o.ReadAhead = 3
	if mod != nil {
		mod(&o)
	}
	c, err := NewBlockCache(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readAll(t *testing.T, r contentReader, size int, chunk int) []byte {
	t.Helper()
	out := make([]byte, 0, size)
	buf := make([]byte, chunk)
	for off := 0; ; {
		k, err := r.ReadAt(buf, int64(off))
		out = append(out, buf[:k]...)
		off += k
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
}

func TestBlockCacheSequentialRandomAndWarm(t *testing.T) {
	size := 1<<20 + 12345 // 17 blocks, the last one short
	fs, v, data := cacheFixture(t, size)
	c := newTestCache(t, t.TempDir(), nil)
	r := c.Open(fs, "b", v)
	if got := readAll(t, r, size, 40000); !bytes.Equal(got, data) {
		t.Fatal("sequential read differs")
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < 200; i++ {
		off := rng.IntN(size + 100)
		buf := make([]byte, rng.IntN(300000))
		k, err := r.ReadAt(buf, int64(off))
		end := min(off+len(buf), size)
		if off >= size {
			end = off
		}
		if k != end-off || !bytes.Equal(buf[:k], data[off:end]) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes, %v", off, len(buf), k, err)
		}
		if k < len(buf) && err != io.EOF {
			t.Fatalf("short read without EOF: %v", err)
		}
	}
	r.Close()
	gets := fs.gets.Load()
	if st := c.Stats(); st.Blocks != 17 || st.FetchedBytes != int64(size) {
		t.Fatalf("stats %+v: want every block fetched exactly once", st)
	}
	// Warm: a new reader and a new cache on the same directory fetch nothing.
	r2 := c.Open(fs, "b", v)
	if got := readAll(t, r2, size, 1<<20); !bytes.Equal(got, data) {
		t.Fatal("warm read differs")
	}
	r2.Close()
	c.Close()
	c2 := newTestCache(t, c.o.Dir, nil)
	r3 := c2.Open(fs, "b", v)
	if got := readAll(t, r3, size, 128<<10); !bytes.Equal(got, data) {
		t.Fatal("read after reopen differs")
	}
	r3.Close()
	if fs.gets.Load() != gets {
		t.Fatalf("%d Gets for cached blocks", fs.gets.Load()-gets)
	}
}

func TestBlockCacheOneFetchForConcurrentReaders(t *testing.T) {
	fs, v, data := cacheFixture(t, 100<<10)
	fs.gate = make(chan struct{})
	c := newTestCache(t, t.TempDir(), func(o *BlockCacheOptions) { o.ReadAhead = 0 })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.Open(fs, "b", v)
			defer r.Close()
			buf := make([]byte, 1000)
			if _, err := r.ReadAt(buf, 5000); err != nil || !bytes.Equal(buf, data[5000:6000]) {
				errs <- errors.New("wrong bytes")
			}
		}()
	}
	// Let every reader reach the cache before the fetch may finish.
	for c.Stats().Misses == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(fs.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := fs.gets.Load(); n != 1 {
		t.Fatalf("%d Gets for one block read by 8 readers", n)
	}
}

func TestBlockCacheFailedFetchIsEIOAndNotCached(t *testing.T) {
	fs, v, data := cacheFixture(t, 300<<10)
	dir := t.TempDir()
	c := newTestCache(t, dir, func(o *BlockCacheOptions) { o.Timeout = 100 * time.Millisecond })
	r := c.Open(fs, "b", v)
	defer r.Close()
	buf := make([]byte, 4096)
	fs.fail.Store(true)
	_, err := r.ReadAt(buf, 0)
	if toErrno(err) != syscall.EIO {
		t.Fatalf("read with the server down: %v (errno %v), want EIO", err, toErrno(err))
	}
	if st := c.Stats(); st.Blocks != 0 || st.UsedBytes != 0 {
		t.Fatalf("a failed fetch left blocks: %+v", st)
	}
	fs.fail.Store(false)
	fs.stall.Store(true) // the server stops answering
	if _, err := r.ReadAt(buf, 200<<10); toErrno(err) != syscall.EIO {
		t.Fatalf("read from a stalled server: %v, want EIO", err)
	}
	if st := c.Stats(); st.Blocks != 0 {
		t.Fatalf("a stalled fetch left blocks: %+v", st)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(ents) != 0 {
		t.Fatalf("%d temporary files left", len(ents))
	}
	fs.stall.Store(false)
	if _, err := r.ReadAt(buf, 200<<10); err != nil || !bytes.Equal(buf, data[200<<10:200<<10+4096]) {
		t.Fatalf("read after the server came back: %v", err)
	}
}

func TestBlockCacheTornBlockIsRefetched(t *testing.T) {
	fs, v, data := cacheFixture(t, 200<<10)
	dir := t.TempDir()
	c := newTestCache(t, dir, nil)
	r := c.Open(fs, "b", v)
	readAll(t, r, len(data), 64<<10)
	r.Close()
	c.Close()
	os.Remove(filepath.Join(dir, cleanMarker)) // as after a crash: no clean close
	// A crash (or a bad disk) leaves one block with wrong bytes and one cut short.
	p0 := c.path(c.blockName(contentID(v), 0))
	p1 := c.path(c.blockName(contentID(v), 1))
	b, _ := os.ReadFile(p0)
	b[100] ^= 0xff
	os.WriteFile(p0, b, 0o600)
	os.Truncate(p1, 1000)
	gets := fs.gets.Load()

	c2 := newTestCache(t, dir, func(o *BlockCacheOptions) { o.ReadAhead = 0 })
	r2 := c2.Open(fs, "b", v)
	defer r2.Close()
	if got := readAll(t, r2, len(data), 64<<10); !bytes.Equal(got, data) {
		t.Fatal("a damaged block was served")
	}
	if n := fs.gets.Load() - gets; n != 2 {
		t.Fatalf("%d Gets, want 2 (the two damaged blocks)", n)
	}
}

func TestBlockCacheBoundedAndContentAddressed(t *testing.T) {
	fs, v1, data1 := cacheFixture(t, 2<<20)
	ctx := context.Background()
	data2 := bytes.Repeat([]byte("v2"), 300<<10)
	v2, err := fs.ObjectStore.Put(ctx, "b", "k", bytes.NewReader(data2), storage.PutOptions{Size: int64(len(data2))})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := newTestCache(t, dir, func(o *BlockCacheOptions) { o.MaxBytes = 1 }) // clamped to its floor
	max := c.o.MaxBytes
	for _, tc := range []struct {
		v    *storage.ObjectVersion
		data []byte
	}{{v1, data1}, {v2, data2}, {v1, data1}} {
		r := c.Open(fs, "b", tc.v)
		if got := readAll(t, r, len(tc.data), 100<<10); !bytes.Equal(got, tc.data) {
			t.Fatalf("version %s: wrong bytes", tc.v.VersionID)
		}
		r.Close()
		if st := c.Stats(); st.UsedBytes > max {
			t.Fatalf("cache holds %d bytes, bound %d", st.UsedBytes, max)
		}
	}
	var onDisk int64
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			onDisk += fi.Size()
		}
		return nil
	})
	if onDisk > max || onDisk != c.Stats().UsedBytes {
		t.Fatalf("%d bytes on disk, index says %d, bound %d", onDisk, c.Stats().UsedBytes, max)
	}
}
