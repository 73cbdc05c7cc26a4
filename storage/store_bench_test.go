package storage_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// BenchmarkPut4KParallel: durable 4 KiB puts from exactly 16 goroutines
// (whatever GOMAXPROCS is), the case group commit is for; bench/store.sh
// compares the same load with native write+fsync side by side.
func BenchmarkPut4KParallel(b *testing.B) {
	st, bucket := benchStore(b)
	const writers = 16
	var n atomic.Int64
	b.SetBytes(4096)
	b.ResetTimer()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			data := make([]byte, 4096)
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				binary.LittleEndian.PutUint64(data, uint64(i))
				if _, err := st.Put(b.Context(), bucket, fmt.Sprintf("k%d", i), bytes.NewReader(data), storage.PutOptions{Size: 4096}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkNative4KParallel is the peer of BenchmarkPut4KParallel: the
// same files written natively (create, write, fsync, close) by 16
// goroutines in the same temp directory's filesystem.
func BenchmarkNative4KParallel(b *testing.B) {
	dir := b.TempDir()
	const writers = 16
	for g := range writers {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprint(g)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	b.SetBytes(4096)
	b.ResetTimer()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			data := make([]byte, 4096)
			for {
				i := n.Add(1)
				if i > int64(b.N) {
					return
				}
				binary.LittleEndian.PutUint64(data, uint64(i))
				f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(g), fmt.Sprint(i)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
				if err == nil {
					_, err = f.Write(data)
					if err == nil {
						err = f.Sync()
					}
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkGet1MiB: a warm read of a whole 1 MiB object.
func BenchmarkGet1MiB(b *testing.B) {
	st, bucket := benchStore(b)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	if _, err := st.Put(b.Context(), bucket, "k", bytes.NewReader(data), storage.PutOptions{Size: int64(len(data))}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		rc, _, err := st.Get(b.Context(), bucket, "k", "", 0, -1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

// BenchmarkListFolder: one page of a 1,000-key folder among 20,000 keys.
func BenchmarkListFolder(b *testing.B) {
	st, bucket := benchStore(b)
	ctx := b.Context()
	if _, err := st.Put(ctx, bucket, "seed", strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
		b.Fatal(err)
	}
	for i := range 20_000 {
		if _, err := st.Copy(ctx, storage.CopySource{Bucket: bucket, Key: "seed"}, bucket, fmt.Sprintf("d%03d/k%04d", i/1000, i%1000), storage.PutOptions{Size: -1}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := st.List(ctx, bucket, storage.ListOptions{Prefix: "d010/", Delimiter: "/", Limit: 1000})
		if err != nil || len(r.Objects) != 1000 {
			b.Fatalf("List: %d objects, %v", len(r.Objects), err)
		}
	}
}

func benchStore(b *testing.B) (*storage.Store, string) {
	st, err := storage.Open(b.TempDir(), storage.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	bk, err := st.CreateBucket(b.Context(), storage.BucketOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return st, bk.ID
}
