package tests

// End-to-end test of functions on a mount of the embedded default: a file
// copied into a mounted bucket fires a trigger; the Python function (CIM
// style) takes a number from a generator through the Access Service that the
// mount serves on loopback and uploads a derived file next to the original.

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/fusefs"
)

func buildBucketfs(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bucketfs")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/bucketfs/bucketfs/cmd/bucketfs")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func requireFUSEHere(t *testing.T) {
	t.Helper()
	if err := fusefs.CheckFUSE(); err != nil {
		if os.Getenv("BUCKETFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("FUSE required: %v", err)
		}
		t.Skipf("no FUSE here: %v", err)
	}
}

func runCLI(t *testing.T, bin, data string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--data", data}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("bucketfs %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

const stampEnv = `runtime: python3.11
version: v1
functions:
  - name: stamp
    entrypoint: main.stamp
`

const stampMain = `
def stamp(metadata, event, service):
    n = service.generator.get_number("docno")
    name = event.data.key.rsplit("/", 1)[-1] + ".stamp"
    body = ("%d %s %s\n" % (n, event.event_id, event.data.size)).encode()
    service.file_upload.upload_new_file(event.data.file_object_id, name, body)
    print("stamped", event.data.key, "with", n)
`

func TestFunctionTriggeredByMountCopy(t *testing.T) {
	requireFUSEHere(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	bin := buildBucketfs(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	code := filepath.Join(dir, "code")
	os.MkdirAll(code, 0o755)
	os.WriteFile(filepath.Join(code, "environment.yaml"), []byte(stampEnv), 0o644)
	os.WriteFile(filepath.Join(code, "main.py"), []byte(stampMain), 0o644)

	runCLI(t, bin, data, "bucket", "create", "docs")
	runCLI(t, bin, data, "fn", "numgen", "docno", "--start", "41")
	runCLI(t, bin, data, "fn", "create", "stamper", "--folder", code)
	runCLI(t, bin, data, "fn", "trigger", "create", "stamper", "--bucket", "docs", "--event", "s3:ObjectCreated:*", "--suffix", ".txt")

	mnt := filepath.Join(dir, "mnt")
	unmount, mlog := startMount(t, bin, data, mnt, "docs")

	// Copy a file into the mounted bucket.
	src := filepath.Join(dir, "report.txt")
	os.WriteFile(src, []byte("quarterly numbers\n"), 0o644)
	if err := os.MkdirAll(filepath.Join(mnt, "docs", "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	in, _ := os.Open(src)
	out, err := os.Create(filepath.Join(mnt, "docs", "in", "report.txt"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, in)
	in.Close()
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}

	// The derived file appears next to it.
	stamp := filepath.Join(mnt, "docs", "in", "report.txt.stamp")
	var got []byte
	deadline := time.Now().Add(60 * time.Second)
	for {
		if got, err = os.ReadFile(stamp); err == nil && len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			unmount()
			t.Fatalf("no derived file: %v\nmount log:\n%s\ncalls:\n%s", err, mlog.String(),
				runCLI(t, bin, data, "fn", "calls", "stamper"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	fields := strings.Fields(string(got))
	if len(fields) != 3 || fields[0] != "41" || fields[2] != "18" {
		t.Fatalf("derived file %q", got)
	}
	// Give a wrongly repeated delivery the chance to show.
	time.Sleep(time.Second)
	unmount()

	var calls []struct {
		ID      int64  `json:"id"`
		Status  string `json:"status"`
		Trigger string `json:"trigger"`
		EventID string `json:"eventId"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, bin, data, "fn", "calls", "stamper", "--json")), &calls); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].Status != "Completed" || calls[0].Trigger != "file_event" || calls[0].EventID != fields[1] {
		t.Fatalf("calls %+v (event id in file %s)", calls, fields[1])
	}
	logs := runCLI(t, bin, data, "fn", "logs", "stamper", "1")
	if !strings.Contains(logs, "stamped in/report.txt with 41") {
		t.Fatalf("logs %q", logs)
	}
}

// startServe runs `bucketfs serve` on a free port and returns its base URL.
func startServe(t *testing.T, bin, data string) (string, *exec.Cmd, chan error) {
	t.Helper()
	cmd := exec.Command(bin, "--data", data, "serve", "--listen", "127.0.0.1:0", "--no-housekeeping")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	urlc := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var acc string
		sent := false
		for {
			n, err := stdout.Read(buf)
			acc += string(buf[:n])
			if i := strings.Index(acc, "serving "); i >= 0 && !sent {
				if j := strings.Index(acc[i:], "/api/files"); j >= 0 {
					urlc <- acc[i+len("serving") : i+j]
					sent = true
				}
			}
			if err != nil {
				exited <- cmd.Wait()
				return
			}
		}
	}()
	select {
	case u := <-urlc:
		return strings.TrimSpace(u), cmd, exited
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("serve did not start")
	}
	return "", nil, nil
}

// The server is SIGKILLed while a triggered call runs; after a restart the
// event is delivered again (at least once) and the call completes.
func TestFunctionRedeliveredAfterServerKill(t *testing.T) {
	bin := buildBucketfs(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	starts, proceed := filepath.Join(dir, "starts"), filepath.Join(dir, "proceed")
	script := filepath.Join(dir, "slow.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
req=$(cat)
printf '%s\n' "$req" | sed -n 's/.*"event_id":"\([^"]*\)".*/\1/p' | head -n 1 >> "$STARTS"
while [ ! -f "$PROCEED" ]; do sleep 0.05; done
printf '{"status":"ok","response":"done"}' >&3
`), 0o755)
	payload := filepath.Join(dir, "report.txt")
	os.WriteFile(payload, []byte("numbers"), 0o644)

	url, srv, exited := startServe(t, bin, data)
	tokb, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(tokb))
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--remote", url, "--token", tok}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bucketfs %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cli("bucket", "create", "docs")
	cli("fn", "create", "slow", "--file", script, "--env", "STARTS="+starts, "--env", "PROCEED="+proceed)
	cli("fn", "trigger", "create", "slow", "--bucket", "docs")
	cli("put", "docs/report.txt", payload)

	lines := func() []string {
		b, _ := os.ReadFile(starts)
		return strings.Fields(string(b))
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(lines()) < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the triggered call did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Process.Kill() // SIGKILL: no shutdown code runs
	<-exited
	os.WriteFile(proceed, nil, 0o644)

	url, srv, exited = startServe(t, bin, data)
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	var calls []struct {
		Status  string `json:"status"`
		EventID string `json:"eventId"`
		Error   *struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		json.Unmarshal([]byte(cli("fn", "calls", "slow", "--json")), &calls)
		if len(calls) == 2 && calls[0].Status == "Completed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no redelivery: calls %+v, starts %v", calls, lines())
		}
		time.Sleep(100 * time.Millisecond)
	}
	ids := lines()
	if len(ids) != 2 || ids[0] != ids[1] || ids[0] != calls[0].EventID {
		t.Fatalf("attempts %v, calls %+v", ids, calls)
	}
	if calls[1].Status != "Failed" || calls[1].Error == nil || calls[1].Error.Type != "Interrupted" {
		t.Fatalf("first call %+v", calls[1])
	}
}

// startMount runs `bucketfs mount MNT` on data until the bucket's folder
// shows; unmount (also run at cleanup) stops it with SIGINT.
func startMount(t *testing.T, bin, data, mnt, bucket string) (unmount func(), mlog *bytes.Buffer) {
	t.Helper()
	os.MkdirAll(mnt, 0o755)
	mount := exec.Command(bin, "--data", data, "mount", mnt)
	mlog = &bytes.Buffer{}
	mount.Stdout, mount.Stderr = mlog, mlog
	if err := mount.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- mount.Wait() }()
	unmounted := false
	unmount = func() {
		if unmounted {
			return
		}
		unmounted = true
		mount.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			mount.Process.Kill()
			exec.Command("fusermount3", "-u", "-z", mnt).Run()
			<-exited
		}
	}
	t.Cleanup(unmount)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(mnt, bucket)); err == nil {
			return unmount, mlog
		}
		if time.Now().After(deadline) {
			t.Fatalf("mount did not come up:\n%s", mlog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A function that writes through the mount itself: its write carries the
// call's origin (the mount resolves the writing process to the call), so
// the trigger does not call the function again on its own output.
func TestFunctionWriteThroughMountDoesNotRetrigger(t *testing.T) {
	requireFUSEHere(t)
	bin := buildBucketfs(t)
	dir := t.TempDir()
	data, mnt := filepath.Join(dir, "data"), filepath.Join(dir, "mnt")
	script := filepath.Join(dir, "log.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
cat >/dev/null
echo "seen by the function" >> "$MNT/docs/log.txt"
printf '{"status":"ok","response":"logged"}' >&3
`), 0o755)
	runCLI(t, bin, data, "bucket", "create", "docs")
	runCLI(t, bin, data, "fn", "create", "logger", "--file", script, "--env", "MNT="+mnt)
	runCLI(t, bin, data, "fn", "trigger", "create", "logger", "--bucket", "docs")
	unmount, mlog := startMount(t, bin, data, mnt, "docs")

	if err := os.WriteFile(filepath.Join(mnt, "docs", "input.txt"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(mnt, "docs", "log.txt")); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the function never wrote its log\nmount log:\n%s", mlog)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A loop would show as more calls within the dispatcher's reach.
	time.Sleep(2 * time.Second)
	unmount()
	var calls []struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(runCLI(t, bin, data, "fn", "calls", "logger", "--json")), &calls); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 1 || calls[0].Status != "Completed" {
		t.Fatalf("calls %+v, want exactly one completed call (the function re-triggered itself)", calls)
	}
	// events --json prints one JSON object per line.
	type event struct {
		Key    string `json:"key"`
		Origin struct {
			Kind       string `json:"kind"`
			FunctionID string `json:"function_id"`
		} `json:"origin"`
	}
	var evs []event
	out := runCLI(t, bin, data, "events", "--json")
	for dec := json.NewDecoder(strings.NewReader(out)); dec.More(); {
		var e event
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("events --json: %v\n%s", err, out)
		}
		evs = append(evs, e)
	}
	found := false
	for _, e := range evs {
		if e.Key == "log.txt" {
			found = true
			if e.Origin.Kind != "function" || e.Origin.FunctionID == "" {
				t.Fatalf("the function's write through the mount has origin %+v, want the call's", e.Origin)
			}
		}
	}
	if !found {
		t.Fatalf("no event for log.txt in\n%s", out)
	}
}
