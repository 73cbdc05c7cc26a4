package storage_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// BenchmarkPut4KParallel: durable 4 KiB puts from 16 goroutines per CPU
// batch, the case group commit is for (compare with bench/store.sh's
// native write+fsync numbers).
func BenchmarkPut4KParallel(b *testing.B) {
	st, bucket := benchStore(b)
	var n atomic.Uint64
	b.SetBytes(4096)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		data := make([]byte, 4096)
		for pb.Next() {
			i := n.Add(1)
			binary.LittleEndian.PutUint64(data, i)
			if _, err := st.Put(b.Context(), bucket, fmt.Sprintf("k%d", i), bytes.NewReader(data), storage.PutOptions{Size: 4096}); err != nil {
				b.Fatal(err)
			}
		}
	})
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
