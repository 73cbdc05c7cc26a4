package storage

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/zeebo/blake3"
)

// TestMultipartRunningHash: whatever the order of the parts and however
// often parts are written again (before, during or after they were hashed
// ahead), the completed version's checksums are those of the final bytes.
func TestMultipartRunningHash(t *testing.T) {
	forBoth(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		if _, err := s.CreateBucket(ctx, BucketOptions{Name: "b"}); err != nil {
			t.Fatal(err)
		}
		const part, nparts = 4096, 12
		size := int64(part*nparts - 100)
		for seed := uint64(1); seed <= 12; seed++ {
			r := rand.New(rand.NewPCG(seed, 7))
			final := make([]byte, size)
			m, err := s.InitMultipart(ctx, "b", fmt.Sprint("k", seed), size, part, PutOptions{Size: size})
			if err != nil {
				t.Fatal(err)
			}
			send := func(n int) {
				lo, hi := int64(n)*part, min(int64(n+1)*part, size)
				b := make([]byte, hi-lo)
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				copy(final[lo:], b)
				if _, err := s.UploadPart(ctx, m.UploadID, n, bytes.NewReader(b), hi-lo); err != nil {
					t.Fatal(err)
				}
			}
			order := r.Perm(nparts)
			if seed%3 == 0 {
				order = nil
				for n := range nparts {
					order = append(order, n)
				}
			}
			for _, n := range order {
				send(n)
				if r.IntN(4) == 0 {
					send(r.IntN(nparts)) // a resend with other bytes
				}
			}
			v, err := s.CompleteMultipart(ctx, m.UploadID)
			if err != nil {
				t.Fatal(err)
			}
			b3 := blake3.Sum256(final)
			m5 := md5.Sum(final)
			if v.File.BLAKE3 != "blake3:"+hex.EncodeToString(b3[:]) || v.File.MD5 != "md5:"+hex.EncodeToString(m5[:]) {
				t.Fatalf("seed %d: version checksums %s %s, not those of the uploaded bytes", seed, v.File.BLAKE3, v.File.MD5)
			}
		}
	})
}

type failAfter struct{ n int }

func (f *failAfter) Write(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, fmt.Errorf("disk gone")
	}
	f.n--
	return len(b), nil
}

// TestPartBodyCopy: the block copy stops at the part's size, reports a
// failed write, and never hangs on its buffers.
func TestPartBodyCopy(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 500_000) // 5 MB
	for _, writes := range []int{0, 1, 2, 100} {
		p := &partBody{r: bytes.NewReader(data), md5: md5.New(), left: 3 << 20}
		n, err := p.WriteTo(&failAfter{n: writes})
		if writes < 3 && (err == nil || n != int64(writes)<<20) {
			t.Fatalf("%d good writes: copied %d, %v", writes, n, err)
		}
		if writes == 100 {
			sum := md5.Sum(data[:3<<20])
			if err != nil || n != 3<<20 || !bytes.Equal(p.md5.Sum(nil), sum[:]) {
				t.Fatalf("copied %d, %v; md5 %x, want %x", n, err, p.md5.Sum(nil), sum)
			}
		}
	}
}
