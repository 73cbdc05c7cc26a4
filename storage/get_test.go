package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/bucketfs/bucketfs/storage/blob"
)

// TestGetWriteToVerifies: io.Copy takes blobStream's pipelined WriteTo. It
// must hand over the exact bytes, continue a hash begun by Read, and end in
// ErrChecksum for a damaged blob, like the plain Read path.
func TestGetWriteToVerifies(t *testing.T) {
	s := openTest(t, false)
	ctx := context.Background()
	s.CreateBucket(ctx, BucketOptions{Name: "b"})
	content := make([]byte, 3<<20+12345) // several 1 MiB chunks and a tail
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	v, err := s.Put(ctx, "b", "k", bytes.NewReader(content), PutOptions{Size: int64(len(content))})
	if err != nil {
		t.Fatal(err)
	}
	get := func() io.ReadCloser {
		t.Helper()
		rc, _, err := s.Get(ctx, "b", "k", "", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}

	var got bytes.Buffer
	rc := get()
	if _, ok := rc.(io.WriterTo); !ok {
		t.Fatalf("%T has no WriteTo: io.Copy would not take the pipelined path", rc)
	}
	if n, err := io.Copy(&got, rc); err != nil || n != int64(len(content)) || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("io.Copy: %d bytes, %v, equal %v", n, err, bytes.Equal(got.Bytes(), content))
	}
	rc.Close()

	// A Read first, then io.Copy for the rest: one hash over both.
	rc = get()
	head := make([]byte, 1000)
	if _, err := io.ReadFull(rc, head); err != nil {
		t.Fatal(err)
	}
	got.Reset()
	if _, err := io.Copy(&got, rc); err != nil || !bytes.Equal(append(head, got.Bytes()...), content) {
		t.Fatalf("Read then io.Copy: %v", err)
	}
	rc.Close()

	// Damage one byte in the middle of the blob, same size.
	p, _ := s.backends[s.defaultLocationID(t)].(*blob.Local).Path(v.File.ID)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{content[2<<20] ^ 0xff}, 2<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	rc = get()
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, ErrChecksum) {
		t.Fatalf("io.Copy of a damaged blob: %v, want ErrChecksum", err)
	}
	rc.Close()
	rc = get()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrChecksum) {
		t.Fatalf("io.ReadAll of a damaged blob: %v, want ErrChecksum", err)
	}
	rc.Close()
}
