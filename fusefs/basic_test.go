package fusefs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

func TestWriteReadAndVersions(t *testing.T) {
	s, b := setup(t)
	ctx := context.Background()
	p := filepath.Join(b, "dir", "f.txt")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, "one")
	if got := readFile(t, p); got != "one" {
		t.Fatalf("read %q", got)
	}
	v, err := s.Stat(ctx, "b", "dir/f.txt", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Size() != 3 || v.Attrs["mode"] != "420" {
		t.Fatalf("stored %+v attrs %v", v.File, v.Attrs)
	}
	// Many writes, one close: one version.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := f.WriteString("x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	vs, err := s.Versions(ctx, "b", "dir/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 {
		t.Fatalf("%d versions, want 2", len(vs))
	}
	// An unchanged save makes no version.
	writeFile(t, p, "xxxxxxxxxx")
	if vs, _ := s.Versions(ctx, "b", "dir/f.txt"); len(vs) != 2 {
		t.Fatalf("unchanged save: %d versions, want 2", len(vs))
	}
	// Append.
	f, err = os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("yz")
	f.Close()
	if got := readFile(t, p); got != "xxxxxxxxxxyz" {
		t.Fatalf("after append %q", got)
	}
	// Write at an offset.
	f, _ = os.OpenFile(p, os.O_RDWR, 0)
	f.WriteAt([]byte("AB"), 4)
	f.Close()
	if got := readFile(t, p); got != "xxxxABxxxxyz" {
		t.Fatalf("after pwrite %q", got)
	}
	if err := os.Truncate(p, 3); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p); got != "xxx" {
		t.Fatalf("after truncate %q", got)
	}
	// Unlink writes a delete marker; the versions stay reachable.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "b", "dir/f.txt", ""); !errors.Is(err, storage.ErrNotFound) {
		vs, _ := s.Versions(ctx, "b", "dir/f.txt")
		for _, v := range vs {
			t.Logf("%s %d dm=%v %v", v.VersionID, v.Size(), v.DeleteMarker(), v.Created)
		}
		t.Fatalf("stat after unlink: %v", err)
	}
	// The directory stays although it is empty now (made explicit).
	if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
		t.Fatalf("dir after last unlink: %v", err)
	}
	d, err := os.Open(filepath.Join(b, "dir", ".versions", "f.txt"))
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Readdirnames(-1) // directory order, unsorted
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 5 {
		t.Fatalf("versions listed: %v, want 5", names)
	}
	if !sort.IsSorted(sort.Reverse(sort.StringSlice(names))) {
		t.Fatalf("versions not newest first: %v", names)
	}
	oldest := filepath.Join(b, "dir", ".versions", "f.txt", names[len(names)-1])
	if got := readFile(t, oldest); got != "one" {
		t.Fatalf("oldest version %q", got)
	}
	// Version files are read-only.
	if err := os.WriteFile(oldest, []byte("no"), 0o644); !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
		t.Fatalf("write into .versions: %v", err)
	}
	// .versions is hidden from readdir but found by lookup.
	top, _ := os.ReadDir(filepath.Join(b, "dir"))
	for _, e := range top {
		if e.Name() == ".versions" {
			t.Fatal(".versions listed")
		}
	}
	// Recover with cp semantics.
	data, _ := os.ReadFile(oldest)
	writeFile(t, p, string(data))
	if got := readFile(t, p); got != "one" {
		t.Fatal(got)
	}
	// Removing an entry removes that version.
	if err := os.Remove(oldest); err != nil {
		t.Fatal(err)
	}
	vs, _ = s.Versions(ctx, "b", "dir/f.txt")
	for _, v := range vs {
		if strings.HasSuffix(names[len(names)-1], v.VersionID) {
			t.Fatal("removed version still there")
		}
	}
}
