package fusefs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"golang.org/x/sys/unix"
)

func wantErrno(t *testing.T, what string, err error, want ...syscall.Errno) {
	t.Helper()
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	t.Fatalf("%s: got %v, want one of %v", what, err, want)
}

func TestBucketsAsDirectories(t *testing.T) {
	requireFUSE(t)
	s := newStore(t)
	ctx := context.Background()
	mnt := mountStore(t, s, DefaultOptions())
	if err := os.Mkdir(filepath.Join(mnt, "photos"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetBucket(ctx, "photos"); err != nil {
		t.Fatalf("mkdir at root made no bucket: %v", err)
	}
	// A bucket without a name appears under its id.
	b, err := s.CreateBucket(ctx, storage.BucketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(mnt, b.ID)); err != nil || !fi.IsDir() {
		t.Fatalf("bucket by id: %v", err)
	}
	writeFile(t, filepath.Join(mnt, "photos", "a.jpg"), "jpg")
	wantErrno(t, "rmdir non-empty bucket", os.Remove(filepath.Join(mnt, "photos")), syscall.ENOTEMPTY)
	os.Remove(filepath.Join(mnt, "photos", "a.jpg"))
	if err := os.Remove(filepath.Join(mnt, "photos")); err != nil {
		t.Fatalf("rmdir empty bucket: %v", err)
	}
	if bb, err := s.GetBucket(ctx, "photos"); err == nil && !bb.Deleted {
		t.Fatal("bucket still there")
	}
	wantErrno(t, "file at root", os.WriteFile(filepath.Join(mnt, "x"), nil, 0o644), syscall.EPERM)
}

func TestDirectoriesAndRename(t *testing.T) {
	s, b := setup(t)
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(b, "a", "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "b", "a/empty/", ""); err != nil {
		t.Fatalf("marker: %v", err)
	}
	writeFile(t, filepath.Join(b, "a", "f1"), "1")
	if err := os.MkdirAll(filepath.Join(b, "a", "deep", "er"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(b, "a", "deep", "er", "f3"), "3")
	// Rename a whole directory: one store step, content intact.
	if err := os.Rename(filepath.Join(b, "a"), filepath.Join(b, "z")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(b, "z", "deep", "er", "f3")); got != "3" {
		t.Fatal(got)
	}
	if _, err := os.Stat(filepath.Join(b, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old dir still there: %v", err)
	}
	if _, err := s.Stat(ctx, "b", "z/deep/er/f3", ""); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(b, "z", "empty")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("empty dir after rename: %v %v", fi, err)
	}
	// File rename over an existing file.
	writeFile(t, filepath.Join(b, "z", "g"), "g")
	if err := os.Rename(filepath.Join(b, "z", "g"), filepath.Join(b, "z", "f1")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(b, "z", "f1")); got != "g" {
		t.Fatal(got)
	}
	wantErrno(t, "rmdir non-empty", os.Remove(filepath.Join(b, "z")), syscall.ENOTEMPTY)
	if err := os.Remove(filepath.Join(b, "z", "empty")); err != nil {
		t.Fatal(err)
	}
	// Renaming a file that is still being written (not yet stored).
	f, err := os.Create(filepath.Join(b, "z", "open"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("pending")
	if err := os.Rename(filepath.Join(b, "z", "open"), filepath.Join(b, "z", "moved")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(b, "z", "moved")); got != "pending" {
		t.Fatal(got)
	}
	if v, err := s.Stat(ctx, "b", "z/moved", ""); err != nil || v.Size() != 7 {
		t.Fatalf("moved pending file: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	s, b := setup(t)
	ctx := context.Background()
	writeFile(t, filepath.Join(b, "f"), "x")
	wantErrno(t, "link", os.Link(filepath.Join(b, "f"), filepath.Join(b, "l")), syscall.EPERM)
	wantErrno(t, "mkfifo", unix.Mkfifo(filepath.Join(b, "fifo"), 0o644), syscall.EPERM)
	wantErrno(t, "mknod", unix.Mknod(filepath.Join(b, "dev"), unix.S_IFCHR|0o644, 0x0101), syscall.EPERM)
	long := strings.Repeat("n", 256)
	wantErrno(t, "long name", os.WriteFile(filepath.Join(b, long), nil, 0o644), syscall.ENAMETOOLONG)
	// A key longer than the store allows, through nested directories.
	deep := filepath.Join(b, strings.Repeat("d", 200))
	if err := os.Mkdir(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "long key", os.WriteFile(filepath.Join(deep, strings.Repeat("e", 100)), nil, 0o644), syscall.ENAMETOOLONG)
	if err := os.Mkdir(filepath.Join(filepath.Dir(b), "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Across buckets: EXDEV (mv falls back to copy).
	wantErrno(t, "rename across buckets", os.Rename(filepath.Join(b, "f"), filepath.Join(filepath.Dir(b), "other", "f")), syscall.EXDEV)
	// Nothing can be written into .versions.
	wantErrno(t, "create in .versions", os.WriteFile(filepath.Join(b, ".versions", "x"), nil, 0o644), syscall.EROFS)
	wantErrno(t, "mkdir .versions", os.Mkdir(filepath.Join(b, ".versions"), 0o755), syscall.EEXIST)
	wantErrno(t, "rename into .versions", os.Rename(filepath.Join(b, "f"), filepath.Join(b, ".versions", "zz")), syscall.EROFS)
	// A locked bucket is read-only.
	locked := true
	if _, err := s.UpdateBucket(ctx, "b", storage.BucketUpdate{Locked: &locked}); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "write to locked", os.WriteFile(filepath.Join(b, "g"), []byte("x"), 0o644), syscall.EROFS, syscall.EACCES)
	wantErrno(t, "unlink in locked", os.Remove(filepath.Join(b, "f")), syscall.EROFS, syscall.EACCES)
	locked = false
	s.UpdateBucket(ctx, "b", storage.BucketUpdate{Locked: &locked})
	// Quota and maximum file size.
	quota, maxSize := int64(1<<20), int64(1000)
	if _, err := s.UpdateBucket(ctx, "b", storage.BucketUpdate{QuotaSize: &quota, MaxFileSize: &maxSize}); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "over max file size", os.WriteFile(filepath.Join(b, "big"), make([]byte, 2000), 0o644), syscall.EFBIG, syscall.EDQUOT)
	var st unix.Statfs_t
	if err := unix.Statfs(b, &st); err != nil {
		t.Fatal(err)
	}
	if got := st.Blocks * uint64(st.Bsize); got != uint64(quota) {
		t.Fatalf("statfs size %d, want the quota %d", got, quota)
	}
	maxSize = 0
	s.UpdateBucket(ctx, "b", storage.BucketUpdate{MaxFileSize: &maxSize})
	wantErrno(t, "over quota", os.WriteFile(filepath.Join(b, "big"), make([]byte, 2<<20), 0o644), syscall.EDQUOT, syscall.EFBIG)
}

func TestAttributesPersist(t *testing.T) {
	s, b := setup(t)
	ctx := context.Background()
	p := filepath.Join(b, "f")
	writeFile(t, p, "x")
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	mt := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := os.Chtimes(p, mt, mt); err != nil {
		t.Fatal(err)
	}
	v, err := s.Stat(ctx, "b", "f", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Attrs["mode"] != "384" || v.Attrs["uid"] != "1234" || v.Attrs["gid"] != "5678" || v.Attrs["mtime"] != strconv.FormatInt(mt.UnixNano(), 10) {
		t.Fatalf("attrs %v", v.Attrs)
	}
	vs, _ := s.Versions(ctx, "b", "f")
	if len(vs) != 1 {
		t.Fatalf("attribute changes made %d versions", len(vs))
	}
	time.Sleep(1100 * time.Millisecond) // past the attribute cache
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || st.Uid != 1234 || st.Gid != 5678 || !fi.ModTime().Equal(mt) {
		t.Fatalf("stat %v uid %d gid %d mtime %v", fi.Mode(), st.Uid, st.Gid, fi.ModTime())
	}
	// Symlinks.
	if err := os.Symlink("f", filepath.Join(b, "ln")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(b, "ln")); got != "f" {
		t.Fatal(got)
	}
	if v, err := s.Stat(ctx, "b", "ln", ""); err != nil || v.Attrs["symlink"] != "f" {
		t.Fatalf("symlink stored as %v (%v)", v, err)
	}
	// xattrs.
	if err := unix.Setxattr(p, "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "user.bin", []byte{0xff, 0, 1}, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := unix.Getxattr(p, "user.color", buf)
	if err != nil || string(buf[:n]) != "blue" {
		t.Fatalf("getxattr %q %v", buf[:n], err)
	}
	n, err = unix.Getxattr(p, "user.bin", buf)
	if err != nil || !bytes.Equal(buf[:n], []byte{0xff, 0, 1}) {
		t.Fatalf("binary xattr %q %v", buf[:n], err)
	}
	if v, _ := s.Stat(ctx, "b", "f", ""); v.Attrs["xattr.user.color"] != "blue" {
		t.Fatalf("xattr not stored: %v", v.Attrs)
	}
	for _, fact := range []string{"version_id", "blake3", "md5", "mimetype"} {
		n, err := unix.Getxattr(p, "user.bucketfs."+fact, buf)
		if err != nil || n == 0 {
			t.Fatalf("user.bucketfs.%s: %v", fact, err)
		}
	}
	v, _ = s.Stat(ctx, "b", "f", "")
	n, _ = unix.Getxattr(p, "user.bucketfs.blake3", buf)
	if string(buf[:n]) != v.File.BLAKE3 {
		t.Fatalf("blake3 xattr %q, stored %q", buf[:n], v.File.BLAKE3)
	}
	wantErrno(t, "set read-only xattr", unix.Setxattr(p, "user.bucketfs.md5", []byte("x"), 0), syscall.EPERM)
	wantErrno(t, "trusted xattr", unix.Setxattr(p, "trusted.x", []byte("x"), 0), syscall.EOPNOTSUPP, syscall.EPERM)
	// Reads outside the user namespace say "not supported" (ls -l then stops
	// asking for labels and ACLs on this device), on files and directories.
	for _, q := range []string{p, filepath.Dir(p)} {
		for _, name := range []string{"security.selinux", "system.posix_acl_access"} {
			_, err := unix.Lgetxattr(q, name, buf)
			wantErrno(t, q+" "+name, err, syscall.EOPNOTSUPP)
		}
	}
	if err := unix.Removexattr(p, "user.color"); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Getxattr(p, "user.color", buf); !errors.Is(err, syscall.ENODATA) {
		t.Fatalf("removed xattr: %v", err)
	}
}

func TestInodesStable(t *testing.T) {
	_, b := setup(t)
	p := filepath.Join(b, "f")
	writeFile(t, p, "x")
	ino := func(p string) uint64 {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	i1 := ino(p)
	writeFile(t, p, "y")
	if i2 := ino(p); i2 != i1 {
		t.Fatalf("inode changed on overwrite: %d -> %d", i1, i2)
	}
	ents, err := os.ReadDir(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "f" {
			info, _ := e.Info()
			if info.Sys().(*syscall.Stat_t).Ino != i1 {
				t.Fatal("readdir and lookup disagree on the inode")
			}
		}
	}
	vdir := filepath.Join(b, ".versions", "f")
	vs, _ := os.ReadDir(vdir)
	if len(vs) != 2 {
		t.Fatalf("%d versions", len(vs))
	}
	a, c := ino(filepath.Join(vdir, vs[0].Name())), ino(filepath.Join(vdir, vs[1].Name()))
	if a == c || a == i1 {
		t.Fatal("versions share inode numbers")
	}
}

func TestTimeTravelAndDeletedFiles(t *testing.T) {
	_, b := setup(t)
	if err := os.Mkdir(filepath.Join(b, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(b, "d", "f"), "old")
	writeFile(t, filepath.Join(b, "top"), "top")
	time.Sleep(20 * time.Millisecond)
	at := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)
	writeFile(t, filepath.Join(b, "d", "f"), "new")
	writeFile(t, filepath.Join(b, "later"), "later")
	if err := os.Remove(filepath.Join(b, "top")); err != nil {
		t.Fatal(err)
	}
	view := filepath.Join(b, ".versions", "@"+at.Format(time.RFC3339Nano))
	if got := readFile(t, filepath.Join(view, "d", "f")); got != "old" {
		t.Fatalf("time travel read %q", got)
	}
	if got := readFile(t, filepath.Join(view, "top")); got != "top" {
		t.Fatalf("deleted file in the past %q", got)
	}
	if _, err := os.Stat(filepath.Join(view, "later")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("future file visible: %v", err)
	}
	ents, err := os.ReadDir(view)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "d,top" {
		t.Fatalf("view lists %v", names)
	}
	wantErrno(t, "write in view", os.WriteFile(filepath.Join(view, "x"), nil, 0o644), syscall.EROFS)
	// A deleted file is still listed in .versions and can be copied back.
	vents, err := os.ReadDir(filepath.Join(b, ".versions"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range vents {
		found = found || e.Name() == "top"
	}
	if !found {
		t.Fatal("deleted name missing from .versions")
	}
	vs, _ := os.ReadDir(filepath.Join(b, ".versions", "top"))
	if len(vs) != 1 {
		t.Fatalf("versions of deleted file: %d", len(vs))
	}
	if out, err := exec.Command("cp", filepath.Join(b, ".versions", "top", vs[0].Name()), filepath.Join(b, "top")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if got := readFile(t, filepath.Join(b, "top")); got != "top" {
		t.Fatal(got)
	}
}

func TestShowVersions(t *testing.T) {
	opts := DefaultOptions()
	opts.ShowVersions = true
	_, b := setupOpts(t, opts)
	ents, err := os.ReadDir(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != ".versions" {
		t.Fatalf("listing %v", ents)
	}
}

// TestExternalChangesSeen: a write through the store (the API, a
// function) is visible on the mount before the kernel caches expire.
func TestExternalChangesSeen(t *testing.T) {
	opts := DefaultOptions()
	opts.EntryTimeout, opts.AttrTimeout, opts.NegativeTimeout = time.Hour, time.Hour, time.Hour
	s, b := setupOpts(t, opts)
	ctx := context.Background()
	p := filepath.Join(b, "f")
	writeFile(t, p, "mount")
	if _, err := os.Stat(filepath.Join(b, "g")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	readFile(t, p)
	if _, err := s.Put(ctx, "b", "f", strings.NewReader("from the API"), storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "b", "g", strings.NewReader("g"), storage.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := os.ReadFile(p)
		_, gerr := os.Stat(filepath.Join(b, "g"))
		if err == nil && string(got) == "from the API" && gerr == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("external change not seen: %q %v %v", got, err, gerr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
