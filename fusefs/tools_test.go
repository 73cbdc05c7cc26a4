package fusefs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install %s)", name, name)
	}
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	// The child changes into dir itself (through sh) instead of through
	// cmd.Dir: Go forks with vfork, and a chdir onto the mount between
	// vfork and exec needs this process's FUSE server while the forking
	// thread cannot be preempted, so a garbage collection starting then
	// deadlocks the test (a documented go-fuse pitfall).
	cmd := exec.Command("sh", append([]string{"-c", `cd "$0" && exec "$@"`, dir, name}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makeTree writes a small source tree with nested dirs, a symlink, an
// empty dir and odd modes.
func makeTree(t *testing.T, root string) {
	t.Helper()
	for i := 0; i < 30; i++ {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%4), fmt.Sprintf("s%d", i%3), fmt.Sprintf("f%02d.txt", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		writeFile(t, p, strings.Repeat(fmt.Sprintf("line %d\n", i), i*50))
	}
	os.MkdirAll(filepath.Join(root, "empty"), 0o700)
	os.Symlink("d0/s0/f00.txt", filepath.Join(root, "link"))
	os.Chmod(filepath.Join(root, "d1", "s1", "f01.txt"), 0o600)
	big := make([]byte, 3<<20+123)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(root, "big.bin"), big, 0o644)
}

// treeSum describes a tree (paths, types, modes, content hashes, link
// targets) so two trees can be compared.
func treeSum(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
			fmt.Fprintf(&b, " %x", h.Sum(nil)[:8])
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestToolsCopyRsyncTar(t *testing.T) {
	needTool(t, "rsync")
	needTool(t, "tar")
	_, b := setup(t)
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src)
	want := treeSum(t, src)

	run(t, b, "cp", "-a", src, filepath.Join(b, "cp"))
	if got := treeSum(t, filepath.Join(b, "cp")); got != want {
		t.Fatalf("cp -a differs:\n%s\nwant\n%s", got, want)
	}
	run(t, b, "rsync", "-a", src+"/", filepath.Join(b, "rs")+"/")
	if got := treeSum(t, filepath.Join(b, "rs")); got != want {
		t.Fatalf("rsync -a differs:\n%s\nwant\n%s", got, want)
	}
	// A second rsync finds nothing to do (sizes and mtimes kept).
	out := run(t, b, "rsync", "-a", "--itemize-changes", src+"/", filepath.Join(b, "rs")+"/")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("second rsync changed: %s", out)
	}
	tarball := filepath.Join(t.TempDir(), "t.tar")
	run(t, filepath.Dir(src), "tar", "cf", tarball, "src")
	os.Mkdir(filepath.Join(b, "tx"), 0o755)
	run(t, filepath.Join(b, "tx"), "tar", "xf", tarball)
	if got := treeSum(t, filepath.Join(b, "tx", "src")); got != want {
		t.Fatalf("tar x differs:\n%s\nwant\n%s", got, want)
	}
	// And back out of the mount.
	out2 := filepath.Join(t.TempDir(), "back")
	run(t, b, "cp", "-a", filepath.Join(b, "cp"), out2)
	if got := treeSum(t, out2); got != want {
		t.Fatalf("cp -a out of the mount differs")
	}
}

func TestToolsGit(t *testing.T) {
	needTool(t, "git")
	_, b := setup(t)
	repo := filepath.Join(b, "repo")
	os.Mkdir(repo, 0o755)
	run(t, repo, "git", "init", "-q", "-b", "main")
	makeTree(t, repo)
	run(t, repo, "git", "add", "-A")
	run(t, repo, "git", "commit", "-q", "-m", "first")
	writeFile(t, filepath.Join(repo, "d0", "s0", "f00.txt"), "changed\n")
	run(t, repo, "git", "commit", "-q", "-am", "second")
	run(t, repo, "git", "checkout", "-q", "-b", "old", "HEAD~1")
	if got := readFile(t, filepath.Join(repo, "d0", "s0", "f00.txt")); got != "" {
		t.Fatalf("checkout old: %q", got)
	}
	run(t, repo, "git", "checkout", "-q", "main")
	if got := readFile(t, filepath.Join(repo, "d0", "s0", "f00.txt")); got != "changed\n" {
		t.Fatalf("checkout main: %q", got)
	}
	if st := run(t, repo, "git", "status", "--porcelain"); st != "" {
		t.Fatalf("git status not clean:\n%s", st)
	}
	run(t, repo, "git", "fsck", "--no-progress")
}

func TestToolsSQLite(t *testing.T) {
	needTool(t, "sqlite3")
	_, b := setup(t)
	db := filepath.Join(b, "t.db")
	var sql bytes.Buffer
	sql.WriteString("CREATE TABLE t(i INTEGER PRIMARY KEY, v TEXT);\n")
	for i := 0; i < 3000; i++ {
		if i%500 == 0 {
			sql.WriteString("BEGIN;\n")
		}
		fmt.Fprintf(&sql, "INSERT INTO t(v) VALUES('row %d %s');\n", i, strings.Repeat("x", i%100))
		if i%500 == 499 {
			sql.WriteString("COMMIT;\n")
		}
	}
	cmd := exec.Command("sqlite3", db)
	cmd.Dir = t.TempDir() // not on the mount: see run
	cmd.Stdin = &sql
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	// A few single-statement transactions too (journal create/delete each).
	for i := 0; i < 20; i++ {
		run(t, b, "sqlite3", db, fmt.Sprintf("INSERT INTO t(v) VALUES('single %d');", i))
	}
	out := run(t, b, "sqlite3", db, "SELECT count(*) FROM t; PRAGMA integrity_check;")
	if strings.TrimSpace(out) != "3020\nok" {
		t.Fatalf("sqlite3 says %q", out)
	}
}
