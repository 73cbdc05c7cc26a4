package remote

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// BenchmarkClientPut uploads a 256 MiB file through the client to a real
// server on 127.0.0.1, as one streamed PUT and as a multipart upload.
//
//	go test ./remote/ -run - -bench ClientPut -benchtime 3x
func BenchmarkClientPut(b *testing.B) {
	const size = 256 << 20
	src := filepath.Join(b.TempDir(), "src")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(f, newGenReader(size))
	f.Close()
	srv := startRealServer(b, 0)
	for _, bc := range []struct {
		name      string
		threshold int64
		parts     int
	}{{"single", 1 << 40, 1}, {"multipart-1", 64 << 20, 1}, {"multipart-4", 64 << 20, 4}} {
		b.Run(bc.name, func(b *testing.B) {
			c := srv.client(b, func(o *ClientOptions) { o.MultipartThreshold = bc.threshold; o.PartConcurrency = bc.parts })
			bk, err := c.CreateBucket(b.Context(), storage.BucketOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for b.Loop() {
				f, err := os.Open(src)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Put(b.Context(), bk.ID, "k", f, storage.PutOptions{Size: size}); err != nil {
					b.Fatal(err)
				}
				f.Close()
				// Distinct content per round would defeat nothing here:
				// the server hashes every upload before it can dedup.
			}
		})
	}
	b.Run("get", func(b *testing.B) {
		c := srv.client(b, nil)
		bk, _ := c.CreateBucket(b.Context(), storage.BucketOptions{})
		f, _ := os.Open(src)
		if _, err := c.Put(b.Context(), bk.ID, "k", f, storage.PutOptions{Size: size}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.SetBytes(size)
		for b.Loop() {
			rc, _, err := c.Get(b.Context(), bk.ID, "k", "", 0, -1)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, rc)
			rc.Close()
		}
	})
}
