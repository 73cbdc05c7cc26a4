package fusefs

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

var (
	fsxDuration = flag.Duration("fsx.duration", 20*time.Second, "how long the fsx-style checker runs")
	fsxSeed     = flag.Int64("fsx.seed", 0, "seed of the fsx-style checker (0 = time based, printed)")
)

const fsxMaxSize = 4 << 20 // crosses the in-memory staging limit

// TestFSX applies seeded random operations (write, read, truncate,
// append, mmap reads and writes, close/reopen, fsync) to one file on the
// mount and to an in-memory shadow, and compares every read. Replay a
// failure with -fsx.seed. The operations run in a child process: a page
// fault on an mmap of the mount, taken by the process that serves the
// mount, can stall Go's stop-the-world and deadlock.
func TestFSX(t *testing.T) {
	_, b := setup(t)
	seed := *fsxSeed
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("fsx seed %d (replay: go test -run TestFSX -args -fsx.seed=%d)", seed, seed)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFSXClient$", "-test.v",
		"-fsx.duration="+fsxDuration.String(), fmt.Sprintf("-fsx.seed=%d", seed))
	cmd.Env = append(os.Environ(), "BUCKETFS_FSX_FILE="+filepath.Join(b, "fsx.bin"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("fsx client: %v\n%s", err, out)
	}
	t.Logf("%s", bytes.TrimSpace(out))
}

// TestFSXClient is TestFSX's child process.
func TestFSXClient(t *testing.T) {
	path := os.Getenv("BUCKETFS_FSX_FILE")
	if path == "" {
		t.Skip("run by TestFSX in a child process")
	}
	seed := *fsxSeed
	rng := rand.New(rand.NewSource(seed))
	var shadow []byte
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { f.Close() }()
	var log []string
	fail := func(format string, a ...any) {
		t.Helper()
		start := max(0, len(log)-15)
		t.Fatalf("seed %d op %d: %s\nlast ops:\n%v", seed, len(log), fmt.Sprintf(format, a...), log[start:])
	}
	check := func(off, n int) {
		t.Helper()
		buf := make([]byte, n)
		k, err := f.ReadAt(buf, int64(off))
		want := []byte{}
		if off < len(shadow) {
			want = shadow[off:min(off+n, len(shadow))]
		}
		if k != len(want) || !bytes.Equal(buf[:k], want) {
			fail("read [%d,+%d): got %d bytes (%v), want %d", off, n, k, err, len(want))
		}
	}
	deadline := time.Now().Add(*fsxDuration)
	ops := 0
	for time.Now().Before(deadline) {
		ops++
		switch op := rng.Intn(100); {
		case op < 30: // write at a random offset
			off := rng.Intn(fsxMaxSize)
			n := 1 + rng.Intn(64<<10)
			if off+n > fsxMaxSize {
				n = fsxMaxSize - off
			}
			data := make([]byte, n)
			rng.Read(data)
			log = append(log, fmt.Sprintf("write %d+%d", off, n))
			if _, err := f.WriteAt(data, int64(off)); err != nil {
				fail("write: %v", err)
			}
			if off+n > len(shadow) {
				shadow = append(shadow, make([]byte, off+n-len(shadow))...)
			}
			copy(shadow[off:], data)
		case op < 55: // read
			off := rng.Intn(len(shadow) + 1)
			n := 1 + rng.Intn(128<<10)
			log = append(log, fmt.Sprintf("read %d+%d", off, n))
			check(off, n)
		case op < 62: // truncate
			size := rng.Intn(fsxMaxSize)
			if rng.Intn(3) == 0 {
				size = rng.Intn(len(shadow) + 1)
			}
			log = append(log, fmt.Sprintf("truncate %d", size))
			if err := f.Truncate(int64(size)); err != nil {
				fail("truncate: %v", err)
			}
			if size < len(shadow) {
				shadow = shadow[:size]
			} else {
				shadow = append(shadow, make([]byte, size-len(shadow))...)
			}
		case op < 68: // append through O_APPEND
			n := 1 + rng.Intn(16<<10)
			if len(shadow)+n > fsxMaxSize {
				continue
			}
			data := make([]byte, n)
			rng.Read(data)
			log = append(log, fmt.Sprintf("append %d", n))
			af, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				fail("open append: %v", err)
			}
			if _, err := af.Write(data); err != nil {
				fail("append: %v", err)
			}
			if err := af.Close(); err != nil {
				fail("close append: %v", err)
			}
			shadow = append(shadow, data...)
		case op < 76: // mmap: read a range, write a range
			if len(shadow) == 0 {
				continue
			}
			log = append(log, "mmap")
			m, err := syscall.Mmap(int(f.Fd()), 0, len(shadow), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
			if err != nil {
				fail("mmap: %v", err)
			}
			off := rng.Intn(len(shadow))
			n := min(1+rng.Intn(8<<10), len(shadow)-off)
			if !bytes.Equal(m[off:off+n], shadow[off:off+n]) {
				syscall.Munmap(m)
				fail("mmap read [%d,+%d) differs", off, n)
			}
			data := make([]byte, n)
			rng.Read(data)
			copy(m[off:], data)
			copy(shadow[off:], data)
			if err := syscall.Munmap(m); err != nil {
				fail("munmap: %v", err)
			}
		case op < 88: // close and reopen: a commit
			log = append(log, "reopen")
			if err := f.Close(); err != nil {
				fail("close: %v", err)
			}
			if f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
				fail("reopen: %v", err)
			}
			check(0, len(shadow)+1)
		case op < 92:
			log = append(log, "fsync")
			if err := f.Sync(); err != nil {
				fail("fsync: %v", err)
			}
		default: // stat
			log = append(log, "stat")
			fi, err := f.Stat()
			if err != nil || fi.Size() != int64(len(shadow)) {
				fail("stat size %v (%v), want %d", fi, err, len(shadow))
			}
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, shadow) {
		t.Fatalf("final content differs (%v)", err)
	}
	t.Logf("%d operations", ops)
}
