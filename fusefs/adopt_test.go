package fusefs

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// TestStagedFileAdopted: a file bigger than memory staging is committed by
// handing its staging file to the store (nothing is left in the staging
// directory), with the right content and BLAKE3, whether it was written in
// order or not; writing on after an fsync (which committed it) starts from
// the committed content.
func TestStagedFileAdopted(t *testing.T) {
	opts := DefaultOptions()
	opts.MemoryStaging = 1 << 20
	opts.StagingDir = t.TempDir()
	s, dir := setupOpts(t, opts)
	ctx := context.Background()
	rng := rand.New(rand.NewSource(7))
	data := make([]byte, 5<<20+123)
	rng.Read(data)

	check := func(name string, want []byte) {
		t.Helper()
		if got := readFile(t, filepath.Join(dir, name)); got != string(want) {
			t.Fatalf("%s: content differs (%d bytes, want %d)", name, len(got), len(want))
		}
		v, err := s.Stat(ctx, "b", name, "")
		if err != nil {
			t.Fatal(err)
		}
		sum := blake3.Sum256(want)
		if v.File.BLAKE3 != "blake3:"+hexString(sum[:]) {
			t.Fatalf("%s: stored BLAKE3 %s is not the content's", name, v.File.BLAKE3)
		}
		buf := make([]byte, 128)
		k, err := unix.Getxattr(filepath.Join(dir, name), "user.bucketfs.md5", buf)
		if err != nil || k < 10 {
			t.Fatalf("%s: md5 xattr %q: %v", name, buf[:max(k, 0)], err)
		}
		ents, err := os.ReadDir(opts.StagingDir)
		if err != nil || len(ents) != 0 {
			t.Fatalf("staging directory after close: %d entries, %v", len(ents), err)
		}
	}

	// In order, 64 KiB writes.
	f, err := os.Create(filepath.Join(dir, "seq"))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 64 << 10 {
		if _, err := f.Write(data[off:min(off+64<<10, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	check("seq", data)

	// Out of order: the second half first, then a patch in the middle.
	f, err = os.Create(filepath.Join(dir, "rnd"))
	if err != nil {
		t.Fatal(err)
	}
	h := len(data) / 2
	if _, err := f.WriteAt(data[h:], int64(h)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(data[:h], 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	check("rnd", data)

	// fsync commits (the staging file becomes the blob); later writes and
	// reads through the same descriptor go on from that content.
	f, err = os.OpenFile(filepath.Join(dir, "grow"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, 4096)
	if _, err := f.ReadAt(back, 1<<20); err != nil || !bytes.Equal(back, data[1<<20:1<<20+4096]) {
		t.Fatalf("read after fsync and write: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	check("grow", append(append([]byte{}, data...), "tail"...))
	vs, err := s.Versions(ctx, "b", "grow")
	if err != nil || len(vs) != 2 {
		t.Fatalf("grow: %d versions (want 2: fsync, close): %v", len(vs), err)
	}

	// The same content again is deduplicated.
	if err := os.WriteFile(filepath.Join(dir, "copy"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Stat(ctx, "b", "seq", "")
	c, err := s.Stat(ctx, "b", "copy", "")
	if err != nil || c.File.ID != a.File.ID {
		t.Fatalf("identical content not shared: %v", err)
	}
	check("copy", data)
}

// TestFsyncDirectory: fsync(2) of a directory in the mount succeeds (it
// makes the namespace changes durable).
func TestFsyncDirectory(t *testing.T) {
	_, dir := setup(t)
	writeFile(t, filepath.Join(dir, "a"), "x")
	for _, p := range []string{dir, filepath.Dir(dir)} {
		d, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			t.Fatalf("fsync %s: %v", p, err)
		}
		d.Close()
	}
}
