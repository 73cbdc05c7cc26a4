package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

const id1 = "deadbeef-dead-dead-dead-deaddeafbeef"

func TestLocalLayoutAndLifecycle(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l, err := NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	w, err := l.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "hello ")
	io.WriteString(w, "world")
	if err := w.Commit(ctx, id1); err != nil {
		t.Fatal(err)
	}
	// Invenio's layout (spec §7.9).
	want := filepath.Join(root, "de", "ad", "beef-dead-dead-dead-deaddeafbeef", "data")
	if b, err := os.ReadFile(want); err != nil || string(b) != "hello world" {
		t.Fatalf("blob at %s: %q %v", want, b, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, tmpDir)); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
	r, err := l.Open(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := r.ReadAt(buf, 6); err != nil || string(buf) != "world" || r.Size() != 11 {
		t.Fatalf("ReadAt: %q %v size %d", buf, err, r.Size())
	}
	r.Close()

	// Multipart style: allocate, then write parts in any order.
	id2 := "0123abcd-0000-4000-8000-000000000000"
	if err := l.Allocate(ctx, id2, 10); err != nil {
		t.Fatal(err)
	}
	if n, err := l.WriteAt(ctx, id2, 5, strings.NewReader("56789")); err != nil || n != 5 {
		t.Fatalf("WriteAt: %d %v", n, err)
	}
	l.WriteAt(ctx, id2, 0, strings.NewReader("01234"))
	r, _ = l.Open(ctx, id2)
	got, _ := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	r.Close()
	if string(got) != "0123456789" {
		t.Fatalf("assembled %q", got)
	}
	if err := l.Allocate(ctx, id2, 10); err == nil {
		t.Fatal("allocating an existing blob succeeded")
	}

	var ids []string
	l.List(ctx, func(id string) error { ids = append(ids, id); return nil })
	sort.Strings(ids)
	if fmt.Sprint(ids) != fmt.Sprint([]string{id2, id1}) {
		t.Fatalf("List = %v", ids)
	}
	if err := l.Remove(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if err := l.Remove(ctx, id1); err != nil {
		t.Fatalf("removing twice: %v", err)
	}
	if _, err := l.Open(ctx, id1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open removed: %v", err)
	}
	if _, err := l.Open(ctx, "../../etc"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("bad id: %v", err)
	}

	// Aborted and crashed writers.
	w, _ = l.Create(ctx)
	io.WriteString(w, "gone")
	w.Abort()
	live, _ := l.Create(ctx)
	os.WriteFile(filepath.Join(root, tmpDir, "w-crashed"), []byte("x"), 0o644)
	if n, err := l.RemoveTemps(ctx); err != nil || n != 1 {
		t.Fatalf("RemoveTemps = %d, %v", n, err)
	}
	if _, err := live.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if err := live.Commit(ctx, id1); err != nil {
		t.Fatalf("live writer after RemoveTemps: %v", err)
	}
}

func TestWrapNoSpace(t *testing.T) {
	err := wrap("write", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("ENOSPC not mapped: %v", err)
	}
}

// TestFullDisk writes into a tiny tmpfs: the error is ErrNoSpace and no
// temp file or blob is left behind.
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	root := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", root).CombinedOutput(); err != nil {
		t.Skipf("cannot mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", root).Run() })
	ctx := context.Background()
	l, err := NewLocal(root)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := l.Create(ctx)
	_, err = io.Copy(w, bytes.NewReader(make([]byte, 1<<20)))
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("write to a full disk: %v", err)
	}
	w.Abort()
	if ents, _ := os.ReadDir(filepath.Join(root, tmpDir)); len(ents) != 0 {
		t.Fatalf("temp files left: %v", ents)
	}
	if err := l.Allocate(ctx, id1, 1<<20); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("allocate on a full disk: %v", err)
	}
}
