package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/fusefs"
)

// server is a `bucketfs serve` process on 127.0.0.1 (a free port).
type server struct {
	cmd   *exec.Cmd
	url   string // http://127.0.0.1:port/api
	token string
	out   *bytes.Buffer
	done  chan error
}

func startServe(t *testing.T, bin, data string, extra ...string) *server {
	t.Helper()
	args := append([]string{"--data", data, "serve", "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BUCKETFS_REMOTE=", "BUCKETFS_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, out: &bytes.Buffer{}, done: make(chan error, 1)}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for s.url == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited early: %s", errb.String())
			}
			s.out.WriteString(l + "\n")
			if u, found := strings.CutPrefix(l, "serving "); found {
				s.url = strings.TrimSuffix(u, "/files")
			}
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("serve did not start: %s", errb.String())
		}
	}
	go func() {
		for l := range lines {
			s.out.WriteString(l + "\n")
		}
		s.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	return s
}

func (s *server) do(t *testing.T, method, path string, body io.Reader) (int, []byte) {
	t.Helper()
	rq, _ := http.NewRequest(method, s.url+path, body)
	rq.Header.Set("Authorization", "Bearer "+s.token)
	r, err := http.DefaultClient.Do(rq)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, b
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("serve exit: %v\n%s", err, s.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(s.out.String(), "stopped") {
		t.Fatalf("serve output %q", s.out)
	}
}

// TestServeCommand: admin token 0600 on first start, tokens from the CLI
// on the data directory and through --remote, graceful SIGTERM with an
// upload stalled mid-body (nothing of it survives, every acknowledged write
// does).
func TestServeCommand(t *testing.T) {
	bin := buildBinary(t)
	data := t.TempDir()
	c := &runner{t: t, bin: bin, data: data}
	ro := strings.TrimSpace(serveTestLastLine(c.ok("", "token", "create", "--scope", "object-read", "--expires", "30d")))
	if !strings.HasPrefix(ro, "bfs_") {
		t.Fatalf("token create printed %q", ro)
	}
	c.fails(exitUsage, "token", "create")
	c.fails(exitUsage, "token", "create", "--scope", "object-read", "--expires", "soon")

	s := startServe(t, bin, data, "--shutdown-timeout", "2s")
	st, err := os.Stat(filepath.Join(data, "admin.token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token: %v %v", st.Mode(), err)
	}
	if !strings.Contains(s.out.String(), "admin.token") {
		t.Fatalf("serve does not say where the admin token is: %q", s.out)
	}
	code, body := s.do(t, "POST", "/files", nil)
	if code != 200 {
		t.Fatalf("create bucket: %d %s", code, body)
	}
	bucket := strings.Split(strings.Split(string(body), `"id":"`)[1], `"`)[0]
	if code, body := s.do(t, "PUT", "/files/"+bucket+"/kept.txt", strings.NewReader("kept")); code != 200 {
		t.Fatalf("put: %d %s", code, body)
	}
	// The read-only token works over HTTP, and cannot create buckets.
	rq, _ := http.NewRequest("POST", s.url+"/files", nil)
	rq.Header.Set("Authorization", "Bearer "+ro)
	if r, err := http.DefaultClient.Do(rq); err != nil || r.StatusCode != 403 {
		t.Fatalf("read-only token creating a bucket: %v %v", r, err)
	}
	// Tokens through --remote while the server holds the data directory.
	remote := []string{"--remote", strings.TrimSuffix(s.url, "/api"), "--token", s.token}
	t2 := strings.TrimSpace(serveTestLastLine(c.ok("", append(remote, "token", "create", "--scope", "bucket-read")...)))
	if !strings.HasPrefix(t2, "bfs_") {
		t.Fatalf("remote token create printed %q", t2)
	}
	if out := c.ok("", append(remote, "token", "ls")...); strings.Count(out, "\n") != 4 {
		t.Fatalf("remote token ls:\n%s", out)
	}
	// An upload stalled mid-body when SIGTERM arrives.
	addr := strings.TrimPrefix(strings.TrimSuffix(s.url, "/api"), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "PUT /api/files/"+bucket+"/partial.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+s.token+"\r\nContent-Length: 100000\r\n\r\nabc")
	time.Sleep(200 * time.Millisecond) // let the server start reading the body
	s.stop(t)

	// Offline: the data directory is free again; token ls/revoke work on it.
	out := c.ok("", "token", "ls")
	if strings.Count(out, "\n") != 4 {
		t.Fatalf("token ls:\n%s", out)
	}
	id := strings.Split(ro, "_")[1]
	c.ok("", "token", "revoke", id)
	c.fails(exitNotFound, "token", "revoke", id)

	s = startServe(t, bin, data)
	if strings.Contains(s.out.String(), "created admin token") {
		t.Fatal("admin token recreated on restart")
	}
	if code, body := s.do(t, "GET", "/files/"+bucket+"/kept.txt", nil); code != 200 || string(body) != "kept" {
		t.Fatalf("acknowledged write after restart: %d %q", code, body)
	}
	if code, _ := s.do(t, "GET", "/files/"+bucket+"/partial.bin", nil); code != 404 {
		t.Fatalf("interrupted upload visible after restart: %d", code)
	}
	rq, _ = http.NewRequest("GET", s.url+"/files/"+bucket+"/kept.txt", nil)
	rq.Header.Set("Authorization", "Bearer "+ro)
	if r, err := http.DefaultClient.Do(rq); err != nil || r.StatusCode != 401 {
		t.Fatalf("revoked token: %v %v", r, err)
	}
	s.stop(t)
}

func serveTestLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestServeMount: `serve --mount` serves HTTP and a drive from one process
// over one data directory; a write through either side is seen by the other,
// and SIGTERM unmounts before the store closes.
func TestServeMount(t *testing.T) {
	if err := fusefs.CheckFUSE(); err != nil {
		if os.Getenv("BUCKETFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("FUSE required: %v", err)
		}
		t.Skipf("no FUSE here: %v", err)
	}
	bin := buildBinary(t)
	data, mnt := t.TempDir(), t.TempDir()
	s := startServe(t, bin, data, "--mount", mnt, "--shutdown-timeout", "5s")
	t.Cleanup(func() { exec.Command("fusermount3", "-u", "-z", mnt).Run() })
	waitFor(t, "the mount", func() bool { return mounted(mnt) })

	if code, b := s.do(t, "POST", "/files", strings.NewReader(`{}`)); code != 200 && code != 201 {
		t.Fatalf("create bucket: %d %s", code, b)
	}
	if err := os.Mkdir(filepath.Join(mnt, "shared"), 0o755); err != nil {
		t.Fatalf("mkdir of a bucket through the mount: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "shared", "from-mount.txt"), []byte("written on the drive"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, b := s.do(t, "GET", "/files/shared/from-mount.txt", nil); code != 200 || string(b) != "written on the drive" {
		t.Fatalf("GET of a file written through the mount: %d %q", code, b)
	}
	if code, b := s.do(t, "PUT", "/files/shared/from-http.txt", strings.NewReader("uploaded over HTTP")); code != 200 {
		t.Fatalf("PUT: %d %s", code, b)
	}
	var got []byte
	waitFor(t, "the HTTP upload in the mount", func() bool {
		got, _ = os.ReadFile(filepath.Join(mnt, "shared", "from-http.txt"))
		return string(got) == "uploaded over HTTP"
	})

	s.stop(t)
	if mounted(mnt) {
		t.Fatal("still mounted after serve stopped")
	}
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
