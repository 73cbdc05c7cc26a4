package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// raceEnabled builds the binary under test with -race when the tests run so.
var raceEnabled bool

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildBinary builds cmd/bucketfs once for all tests (or takes the binary
// named by BUCKETFS_TEST_BIN, to test an installed one).
func buildBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("BUCKETFS_TEST_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if buildDir, buildErr = os.MkdirTemp("", "bucketfs-cli-test-"); buildErr != nil {
			return
		}
		builtBin = filepath.Join(buildDir, "bucketfs")
		args := []string{"build", "-o", builtBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		if out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

type runner struct {
	t    *testing.T
	bin  string
	data string
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *runner) run(stdin string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "BUCKETFS_DATA="+c.data, "BUCKETFS_REMOTE=", "BUCKETFS_TOKEN=")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs a command that must succeed and returns its stdout.
func (c *runner) ok(stdin string, args ...string) string {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.code != 0 {
		c.t.Fatalf("bucketfs %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs a command that must exit with code and say something on stderr.
func (c *runner) fails(code int, args ...string) result {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != code {
		c.t.Fatalf("bucketfs %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "bucketfs: ") && code != exitUsage {
		c.t.Fatalf("bucketfs %s: stderr %q, want a bucketfs: error line", strings.Join(args, " "), r.stderr)
	}
	return r
}

func (c *runner) json(v any, args ...string) {
	c.t.Helper()
	out := c.ok("", append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("bucketfs %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestCLI(t *testing.T) {
	c := &runner{t: t, bin: buildBinary(t), data: filepath.Join(t.TempDir(), "data")}
	tmp := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Buckets.
	if out := c.ok("", "bucket", "create", "photos", "--quota", "1MiB"); !strings.Contains(out, "photos") || !strings.Contains(out, "1.0 MiB") {
		t.Fatalf("bucket create output:\n%s", out)
	}
	c.fails(exitConflict, "bucket", "create", "--name", "photos")
	var bs []storage.Bucket
	c.json(&bs, "bucket", "ls")
	if len(bs) != 1 || bs[0].Name != "photos" || bs[0].QuotaSize != 1<<20 {
		t.Fatalf("bucket ls --json: %+v", bs)
	}
	c.fails(exitNotFound, "bucket", "show", "nosuch")

	// Put from a file and from stdin; get to stdout and to a file.
	c.ok("", "put", "photos/a/b.txt", file("v1", "version one"))
	var v2 storage.ObjectVersion
	if err := json.Unmarshal([]byte(c.ok("version two", "put", "photos/a/b.txt", "-", "--json")), &v2); err != nil || v2.Size() != 11 {
		t.Fatalf("put --json: %+v %v", v2, err)
	}
	if out := c.ok("", "get", "photos/a/b.txt"); out != "version two" {
		t.Fatalf("get to stdout: %q", out)
	}
	dst := filepath.Join(tmp, "out.txt")
	c.ok("", "get", "photos/a/b.txt", dst)
	if b, _ := os.ReadFile(dst); string(b) != "version two" {
		t.Fatalf("get to file: %q", b)
	}
	var vs []storage.ObjectVersion
	c.json(&vs, "versions", "photos/a/b.txt")
	if len(vs) != 2 || vs[0].VersionID != v2.VersionID {
		t.Fatalf("versions: %+v", vs)
	}
	v1 := vs[1].VersionID
	if out := c.ok("", "cat", "photos/a/b.txt", "--version", v1); out != "version one" {
		t.Fatalf("cat --version: %q", out)
	}

	// Listing: folders by default, everything with -r.
	if out := c.ok("", "ls", "photos"); !strings.Contains(out, "a/") || strings.Contains(out, "b.txt") {
		t.Fatalf("ls photos:\n%s", out)
	}
	var l listing
	c.json(&l, "ls", "-r", "photos")
	if len(l.Objects) != 1 || l.Objects[0].Key != "a/b.txt" {
		t.Fatalf("ls -r: %+v", l)
	}
	c.json(&l, "ls", "photos/a/", "--versions")
	if len(l.Objects) != 2 {
		t.Fatalf("ls --versions: %+v", l)
	}

	// Delete, restore, copy, move.
	c.ok("", "rm", "photos/a/b.txt")
	c.fails(exitNotFound, "get", "photos/a/b.txt")
	c.fails(exitNotFound, "rm", "photos/a/b.txt")
	c.ok("", "restore", "photos/a/b.txt", v1)
	if out := c.ok("", "cat", "photos/a/b.txt"); out != "version one" {
		t.Fatalf("after restore: %q", out)
	}
	c.ok("", "cp", "photos/a/b.txt", "photos/c.txt")
	c.ok("", "mv", "photos/c.txt", "photos/d/")
	c.fails(exitNotFound, "cat", "photos/c.txt")
	if out := c.ok("", "cat", "photos/d/c.txt"); out != "version one" {
		t.Fatalf("after mv: %q", out)
	}
	c.ok("", "rm", "photos/a/b.txt", "--version", v2.VersionID)

	// Errors and their exit codes.
	c.ok("", "bucket", "lock", "photos")
	c.fails(exitLocked, "put", "photos/x", file("x", "x"))
	c.ok("", "bucket", "unlock", "photos")
	c.fails(exitLimit, "put", "photos/big", file("big", strings.Repeat("x", 2<<20)))
	c.fails(exitInvalid, "put", "photos/a//b", file("y", "y"))
	c.fails(exitConflict, "put", "photos/d/c.txt", file("z", "z"), "--if-match", "null")
	c.fails(exitNotFound, "restore", "photos/a/b.txt", "0d9e5cc4-7b30-4d43-9d7e-1a1f3b7c2a11")
	c.fails(exitUsage, "put")
	c.fails(exitUsage, "get", "photos")
	c.fails(exitUsage, "ls", "--no-such-flag")
	c.fails(exitUsage, "no-such-command")
	c.fails(exitUsage, "bucket", "no-such-subcommand")
	c.fails(exitUsage, "bucket", "create", "--quota", "lots")
	if openRemote == nil {
		r := c.fails(exitError, "--remote", "http://127.0.0.1:1", "ls")
		if !strings.Contains(r.stderr, "no remote client") {
			t.Fatalf("--remote without a client: %q", r.stderr)
		}
	}

	// Locations: a second blob root, used by buckets created while it is the default.
	locDir := filepath.Join(tmp, "loc2")
	c.ok("", "location", "add", "second", locDir, "--default")
	var locs []storage.Location
	c.json(&locs, "location", "ls")
	if len(locs) != 2 {
		t.Fatalf("location ls: %+v", locs)
	}
	c.ok("", "bucket", "create", "elsewhere")
	c.ok("", "put", "elsewhere/k", file("k", "on the second location"))
	if out := c.ok("", "cat", "elsewhere/k"); out != "on the second location" {
		t.Fatalf("cat from second location: %q", out)
	}
	var defaultName string
	for _, l := range locs {
		if l.Name != "second" {
			defaultName = l.Name
		}
	}
	c.ok("", "location", "default", defaultName)
	c.fails(exitNotFound, "location", "default", "nosuch")

	// A large file goes up in parts.
	big := bytes.Repeat([]byte("0123456789abcdef"), 11<<16) // 11 MiB
	c.ok("", "bucket", "create", "media")
	bigFile := file("big.bin", string(big))
	c.ok("", "put", "media/big.bin", bigFile, "--multipart-threshold", "6MiB", "--part-size", "5MiB")
	got := filepath.Join(tmp, "big.out")
	c.ok("", "get", "media/big.bin", got)
	if b, _ := os.ReadFile(got); !bytes.Equal(b, big) {
		t.Fatalf("multipart round trip: %d bytes", len(b))
	}
	if out := c.ok("", "events", "--json"); !strings.Contains(out, storage.EventCompleteMultipart) || !strings.Contains(out, storage.EventBucketCreated) {
		t.Fatalf("events:\n%s", out)
	}
	if out := c.ok("", "events", "--after", "1", "--limit", "2", "--json"); strings.Count(out, "\n") != 2 {
		t.Fatalf("events --limit 2:\n%s", out)
	}

	// Snapshot, housekeeping, removal.
	c.ok("", "bucket", "snapshot", "photos", "--name", "snap", "--lock")
	c.json(&l, "ls", "-r", "snap")
	if len(l.Objects) != 2 {
		t.Fatalf("snapshot lists %+v", l)
	}
	c.fails(exitLocked, "rm", "snap/d/c.txt")
	var fsck struct{ Checked, Bad int }
	c.json(&fsck, "fsck")
	if fsck.Checked == 0 || fsck.Bad != 0 {
		t.Fatalf("fsck: %v", fsck)
	}
	c.ok("", "gc")
	c.ok("", "bucket", "create", "scratch")
	c.ok("", "put", "scratch/k", file("s", "scratch"))
	c.fails(exitConflict, "bucket", "rm", "scratch", "--permanent")
	c.ok("", "bucket", "rm", "scratch", "--permanent", "--force")
	c.fails(exitNotFound, "bucket", "show", "scratch")
	c.fails(exitConflict, "bucket", "rm", "photos")
	c.ok("", "bucket", "rm", "photos", "--force")
	c.json(&bs, "bucket", "ls")
	for _, b := range bs {
		if b.Name == "photos" {
			t.Fatalf("deleted bucket still listed")
		}
	}

	// Damage a blob on disk: fsck reports it with its own exit code.
	c.json(&vs, "versions", "media/big.bin")
	id := vs[0].File.ID
	blob := filepath.Join(c.data, "blobs", id[0:2], id[2:4], id[4:], "data")
	f, err := os.OpenFile(blob, os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open blob of %s: %v", id, err)
	}
	f.WriteAt([]byte("X"), 5)
	f.Close()
	r := c.fails(exitCorrupt, "fsck")
	if !strings.Contains(r.stdout, "1 damaged") || !strings.Contains(r.stdout, "big.bin") {
		t.Fatalf("fsck of a damaged blob: %q %q", r.stdout, r.stderr)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "123": 123, "1K": 1024, "5MiB": 5 << 20, "2G": 2 << 30, "1.5k": 1536, "3GB": 3 << 30} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "1X"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestChoosePartSize(t *testing.T) {
	for _, size := range []int64{minPartSize + 1, 64 << 20, 1 << 30, 100 << 30, 40 << 40} {
		ps := choosePartSize(size, 0)
		n := (size + ps - 1) / ps
		if ps < minPartSize || ps > maxPartSize || n > maxParts || (size%ps == 0 && ps < maxPartSize) {
			t.Errorf("choosePartSize(%d) = %d (%d parts)", size, ps, n)
		}
	}
}

func TestIntersperse(t *testing.T) {
	app := newApp(nil, nil, nil)
	for _, c := range []struct{ in, want string }{
		{"bucketfs put b/k f --json", "bucketfs put --json b/k f"},
		{"bucketfs --data d put b/k - --if-match null", "bucketfs --data d put --if-match null b/k -"},
		{"bucketfs bucket create photos --quota 1M", "bucketfs bucket create --quota 1M photos"},
		{"bucketfs get b/k --version=v out", "bucketfs get --version=v b/k out"},
		{"bucketfs rm b/k -- -odd", "bucketfs rm -- b/k -odd"},
		{"bucketfs ls", "bucketfs ls"},
	} {
		if got := strings.Join(intersperse(app, strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("intersperse(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCLIDataDirAndFollow: the default data directory comes from
// XDG_DATA_HOME, and `events --follow` prints the outbox, keeps waiting, and
// ends cleanly on SIGINT. (A second process cannot write meanwhile: the data
// directory has one opener at a time.)
func TestCLIDataDirAndFollow(t *testing.T) {
	bin := buildBinary(t)
	xdg := t.TempDir()
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "BUCKETFS_") && !strings.HasPrefix(e, "XDG_DATA_HOME=") {
			env = append(env, e)
		}
	}
	env = append(env, "XDG_DATA_HOME="+xdg)
	cmd := exec.Command(bin, "bucket", "create", "b")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bucket create: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(xdg, "bucketfs")); err != nil {
		t.Fatalf("no data directory under XDG_DATA_HOME: %v", err)
	}

	follow := exec.Command(bin, "events", "--follow", "--json")
	follow.Env = env
	out, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	follow.Stderr = &stderr
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	var e storage.Event
	if err := json.NewDecoder(out).Decode(&e); err != nil || e.Name != storage.EventBucketCreated {
		follow.Process.Kill()
		follow.Wait()
		t.Fatalf("events --follow printed %+v, %v (stderr %s)", e, err, stderr.String())
	}
	// It is now waiting for more; an interrupt ends it with success.
	follow.Process.Signal(os.Interrupt)
	if err := follow.Wait(); err != nil {
		t.Fatalf("events --follow after SIGINT: %v\n%s", err, stderr.String())
	}
}

// TestObjectGroup: the per-key commands also answer as `object NAME`, with
// their flags after the arguments, and act on the same data as the short form.
func TestObjectGroup(t *testing.T) {
	c := &runner{t: t, bin: buildBinary(t), data: filepath.Join(t.TempDir(), "data")}
	src := filepath.Join(t.TempDir(), "a.txt")
	if err := os.WriteFile(src, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("", "bucket", "create", "docs")
	c.ok("", "object", "put", "docs/a.txt", src)
	c.ok("", "put", "docs/a.txt", "-", "--json")
	if got := c.ok("", "object", "cat", "docs/a.txt"); got != "" {
		t.Fatalf("object cat after an empty put = %q", got)
	}
	var vs []map[string]any
	c.json(&vs, "object", "versions", "docs/a.txt")
	if len(vs) != 2 {
		t.Fatalf("object versions: %d versions, want 2: %v", len(vs), vs)
	}
	c.ok("", "object", "cp", "docs/a.txt", "docs/b.txt")
	c.ok("", "object", "rm", "docs/a.txt")
	c.fails(exitNotFound, "object", "cat", "docs/a.txt")
	if got := c.ok("", "cat", "docs/b.txt"); got != "" {
		t.Fatalf("cat of the copy = %q", got)
	}
	c.fails(exitUsage, "object", "nosuch")
}
