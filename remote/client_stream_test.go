package remote

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"io"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// genReader yields size deterministic bytes without holding them: a 1 MiB
// random block repeated, each copy stamped with its index so that no two
// MiB are equal.
type genReader struct {
	block []byte
	off   int64
	size  int64
}

func newGenReader(size int64) *genReader {
	b := make([]byte, 1<<20)
	var x uint64 = 0x9e3779b97f4a7c15
	for i := 0; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		binary.LittleEndian.PutUint64(b[i:], x)
	}
	return &genReader{block: b, size: size}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.off < g.size {
		blk := g.off >> 20
		in := g.off & (1<<20 - 1)
		src := g.block[in:]
		m := copy(p[n:], src[:min(int64(len(src)), g.size-g.off)])
		// Stamp the block index over the first 8 bytes of every MiB.
		if in < 8 {
			var stamp [8]byte
			binary.LittleEndian.PutUint64(stamp[:], uint64(blk))
			for i := in; i < 8 && i-in < int64(m); i++ {
				p[n+int(i-in)] = stamp[i]
			}
		}
		n += m
		g.off += int64(m)
	}
	return n, nil
}

// heapPeak samples the live heap (as marked by the last GC, so garbage a
// slow collector has not reached yet does not count: what matters is what
// the code keeps) until stopped and reports the peak above the level at start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := live()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if l := live(); l > base && l-base > peak.Load() {
					peak.Store(l - base)
				}
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		// The last stretch may not have seen a GC yet.
		runtime.GC()
		if l := live(); l > base && l-base > peak.Load() {
			peak.Store(l - base)
		}
		return peak.Load()
	}
}

// TestStreamingPutGet moves 200 MiB up and down through a real server and
// checks that the heap (client and server, one process) stays far below
// the object's size: nothing buffers the whole object.
func TestClientStreamingPutGet(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: 200 MiB transfer")
	}
	const size = 200 << 20
	const budget = 48 << 20 // a fraction of size; parts are 16 MiB at most
	srv := startRealServer(t, 0)
	for _, tc := range []struct {
		name      string
		threshold int64
	}{
		{"single", 1 << 30},     // one streamed PUT with Content-Length
		{"multipart", 64 << 20}, // parts from a plain stream, one buffer
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := srv.client(t, func(o *ClientOptions) { o.MultipartThreshold = tc.threshold })
			ctx := t.Context()
			b, err := c.CreateBucket(ctx, storage.BucketOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := md5.New()
			io.Copy(want, newGenReader(size))
			wantSum := "md5:" + hex.EncodeToString(want.Sum(nil))

			stop := heapPeak()
			v, err := c.Put(ctx, b.ID, "big.bin", newGenReader(size), storage.PutOptions{Size: size})
			putPeak := stop()
			if err != nil {
				t.Fatal(err)
			}
			if v.Size() != size || v.File.MD5 != wantSum {
				t.Fatalf("stored %d bytes %s, want %d %s", v.Size(), v.File.MD5, size, wantSum)
			}

			stop = heapPeak()
			rc, _, err := c.Get(ctx, b.ID, "big.bin", "", 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			got := md5.New()
			n, err := io.Copy(got, rc)
			rc.Close()
			getPeak := stop()
			if err != nil || n != size {
				t.Fatalf("read %d bytes: %v", n, err)
			}
			if s := "md5:" + hex.EncodeToString(got.Sum(nil)); s != wantSum {
				t.Fatalf("read %s, want %s", s, wantSum)
			}
			t.Logf("heap peak above start: put %d MiB, get %d MiB (object %d MiB)", putPeak>>20, getPeak>>20, size>>20)
			if putPeak > budget || getPeak > budget {
				t.Fatalf("heap grew by %d MiB (put) / %d MiB (get) for a %d MiB object; budget %d MiB",
					putPeak>>20, getPeak>>20, size>>20, budget>>20)
			}
		})
	}
}

// TestGetRange reads byte ranges of a real object.
func TestClientGetRange(t *testing.T) {
	srv := startRealServer(t, 0)
	c := srv.client(t, nil)
	ctx := t.Context()
	b, err := c.CreateBucket(ctx, storage.BucketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(newGenReader(3<<20 + 5))
	if _, err := c.Put(ctx, b.ID, "r", bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	for _, rg := range [][2]int64{{0, -1}, {0, 1}, {1 << 20, 100}, {int64(len(data)) - 3, -1}, {int64(len(data)) - 3, 10}, {int64(len(data)), -1}, {5, 0}} {
		rc, _, err := c.Get(ctx, b.ID, "r", "", rg[0], rg[1])
		if err != nil {
			t.Fatalf("Get(%d, %d): %v", rg[0], rg[1], err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(data))
		if rg[1] >= 0 {
			end = min(end, rg[0]+rg[1])
		}
		if err != nil || !bytes.Equal(got, data[rg[0]:end]) {
			t.Fatalf("Get(%d, %d): %d bytes, %v", rg[0], rg[1], len(got), err)
		}
	}
}
