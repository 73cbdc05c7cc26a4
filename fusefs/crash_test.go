package fusefs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// TestMountServerChild is the mounting process of TestKillDuringWrites.
func TestMountServerChild(t *testing.T) {
	data, mnt := os.Getenv("BUCKETFS_CHILD_DATA"), os.Getenv("BUCKETFS_CHILD_MNT")
	if data == "" {
		t.Skip("run by TestKillDuringWrites in a child process")
	}
	s, err := storage.Open(data, storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.StagingDir = filepath.Join(data, "staging")
	srv, err := Mount(context.Background(), s, mnt, opts)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	srv.Unmount()
	s.Close()
}

// TestKillDuringWrites kills the mounting process with SIGKILL while files
// are being written, then mounts again: every file closed before the kill
// is intact, and the stale mount point is cleaned and usable.
func TestKillDuringWrites(t *testing.T) {
	requireFUSE(t)
	data, mnt := t.TempDir(), t.TempDir()
	{
		s, err := storage.Open(data, storage.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateBucket(context.Background(), storage.BucketOptions{Name: "b"}); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMountServerChild$")
	cmd.Env = append(os.Environ(), "BUCKETFS_CHILD_DATA="+data, "BUCKETFS_CHILD_MNT="+mnt)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "READY") {
	}
	go func() {
		for sc.Scan() {
		}
	}()

	// Writers: each file closed successfully is recorded.
	closed := make(chan string, 10000)
	stop := make(chan struct{})
	done := make(chan struct{})
	content := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("file %d;", i)), 100+i%5000) }
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := filepath.Join(mnt, "b", fmt.Sprintf("f%05d", i))
			f, err := os.Create(name)
			if err != nil {
				return
			}
			if _, err := f.Write(content(i)); err != nil {
				f.Close()
				return
			}
			if err := f.Close(); err != nil {
				return
			}
			closed <- filepath.Base(name)
		}
	}()
	// Also keep one big file open and being written at the moment of the kill.
	go func() {
		f, err := os.Create(filepath.Join(mnt, "b", "open-at-kill"))
		if err != nil {
			return
		}
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				return
			}
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	close(stop)
	<-done
	close(closed)
	var names []string
	for n := range closed {
		names = append(names, n)
	}
	if len(names) == 0 {
		t.Fatal("no file was closed before the kill")
	}

	// Remount in this process: the stale mount is cleaned.
	s, err := storage.Open(data, storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	opts := DefaultOptions()
	opts.StagingDir = t.TempDir()
	srv, err := Mount(context.Background(), s, mnt, opts)
	if err != nil {
		t.Fatalf("remount over the stale mount: %v", err)
	}
	t.Cleanup(func() { srv.Unmount() })
	for _, n := range names {
		var i int
		fmt.Sscanf(n, "f%05d", &i)
		got, err := os.ReadFile(filepath.Join(mnt, "b", n))
		if err != nil || !bytes.Equal(got, content(i)) {
			t.Fatalf("%s closed before the kill but lost or damaged after remount: %v", n, err)
		}
	}
	writeFile(t, filepath.Join(mnt, "b", "after"), "usable")
	t.Logf("%d files closed before the kill, all intact", len(names))
}
