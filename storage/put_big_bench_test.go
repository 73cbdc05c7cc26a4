package storage_test

import (
	"io"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// zeroReader yields n bytes of a repeating pattern without copying much.
type patternReader struct{ n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), r.n)
	for i := range p[:k] {
		p[i] = byte(i)
	}
	r.n -= k
	return int(k), nil
}

// BenchmarkPut256MiB: one streaming durable put of 256 MiB (BLAKE3 in the
// pass, MD5 left to the checksummer, blob fsync, synced commit).
func BenchmarkPut256MiB(b *testing.B) {
	st, bucket := benchStore(b)
	const size = 256 << 20
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		if _, err := st.Put(b.Context(), bucket, "big", &patternReader{size}, storage.PutOptions{Size: size}); err != nil {
			b.Fatal(err)
		}
	}
}
