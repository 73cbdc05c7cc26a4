package fusefs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Benchmarks of the write path through a real mount (the test process is
// both the client and the server, so CPU profiles show both sides):
//
//	go test ./fusefs/ -run - -bench Write -cpuprofile cpu.out
//
// bench/mount.sh compares the same operations with native and rclone.

// BenchmarkWriteSmallFiles creates 4 KiB files in 20 folders, as
// bench/smallfiles.py does, then deletes them (timed separately).
func BenchmarkWriteSmallFiles(b *testing.B) {
	_, dir := setup(b)
	payload := make([]byte, 4096)
	for i := range 20 {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprintf("d%02d", i)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%06d", i)) }
	b.Run("create", func(b *testing.B) {
		for i := range b.N {
			if err := os.WriteFile(name(i), payload, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("delete", func(b *testing.B) {
		for i := range b.N {
			os.WriteFile(name(1e6+i), payload, 0o644)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := os.Remove(name(1e6 + i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWriteSeq writes 256 MiB in 1 MiB writes and fsyncs, as the fio
// job of bench/mount.sh does with 1 GiB.
func BenchmarkWriteSeq(b *testing.B) {
	_, dir := setup(b)
	writeSeq(b, dir)
}

// BenchmarkWriteSeqNative is BenchmarkWriteSeq on the disk under the
// mount's staging directory, for reference.
func BenchmarkWriteSeqNative(b *testing.B) { writeSeq(b, b.TempDir()) }

func writeSeq(b *testing.B, dir string) {
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	const n = 256
	b.SetBytes(n << 20)
	for i := range b.N {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("seq%d", i)))
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if _, err := f.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
