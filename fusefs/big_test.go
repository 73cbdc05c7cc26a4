package fusefs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestLargeFile writes 1 GiB through the mount in 1 MiB blocks, then reads
// it back and compares checksums.
func TestLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB test skipped with -short")
	}
	_, b := setup(t)
	p := filepath.Join(b, "big.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	block := make([]byte, 1<<20)
	wsum := sha256.New()
	for i := 0; i < 1024; i++ {
		rng.Read(block[:4096]) // vary each block cheaply
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
		wsum.Write(block)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rsum := sha256.New()
	n, err := io.CopyBuffer(rsum, r, make([]byte, 1<<20))
	if err != nil || n != 1<<30 {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	if !bytes.Equal(wsum.Sum(nil), rsum.Sum(nil)) {
		t.Fatal("checksum of the read differs from the write")
	}
}

// TestConcurrentWritersReaders: many goroutines write their own files and
// read each other's, and two writers share one file at disjoint offsets.
func TestConcurrentWritersReaders(t *testing.T) {
	_, b := setup(t)
	const workers, files = 8, 20
	var wg sync.WaitGroup
	var written [workers]atomic.Int32 // files each worker has closed
	errs := make(chan error, workers*files)
	content := func(w, i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("%d/%d.", w, i)), 1000+w*i) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			dir := filepath.Join(b, fmt.Sprintf("w%d", w))
			if err := os.Mkdir(dir, 0o755); err != nil {
				errs <- err
				return
			}
			for i := 0; i < files; i++ {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), content(w, i), 0o644); err != nil {
					errs <- err
					return
				}
				written[w].Store(int32(i + 1))
				// Read a file another worker has closed: it is complete.
				o := (w + 1) % workers
				if j := int(written[o].Load()) - 1; j >= 0 {
					if got, err := os.ReadFile(filepath.Join(b, fmt.Sprintf("w%d", o), fmt.Sprintf("f%d", j))); err != nil || !bytes.Equal(got, content(o, j)) {
						errs <- fmt.Errorf("w%d/f%d torn read: %d bytes (%v)", o, j, len(got), err)
					}
				}
			}
		}(w)
	}
	// Two handles writing disjoint halves of one file: one version with both.
	shared := filepath.Join(b, "shared")
	f1, err := os.Create(shared)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := os.OpenFile(shared, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg2 sync.WaitGroup
	for k, f := range []*os.File{f1, f2} {
		wg2.Add(1)
		go func(k int, f *os.File) {
			defer wg2.Done()
			buf := bytes.Repeat([]byte{byte('a' + k)}, 4096)
			for i := 0; i < 64; i++ {
				f.WriteAt(buf, int64(k*64*4096+i*4096))
			}
		}(k, f)
	}
	wg2.Wait()
	f1.Close()
	f2.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := readFile(t, shared)
	want := string(bytes.Repeat([]byte{'a'}, 64*4096)) + string(bytes.Repeat([]byte{'b'}, 64*4096))
	if got != want {
		t.Fatalf("shared file: %d bytes, content differs", len(got))
	}
	for w := 0; w < workers; w++ {
		for i := 0; i < files; i++ {
			if got := readFile(t, filepath.Join(b, fmt.Sprintf("w%d", w), fmt.Sprintf("f%d", i))); got != string(content(w, i)) {
				t.Fatalf("w%d/f%d differs", w, i)
			}
		}
	}
}
