package functions

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProtocolPrinter(t *testing.T) {
	e := newEnv(t, nil)
	f := e.mustReady(shFunction("printer", `
read req
echo "hello stdout"
echo "hello stderr" >&2
printf '{"status":"ok","response":{"n":42}}' >&3
`))
	c, resp, logs := e.call(f.ID, `{"x":1}`)
	if c.Status != CallCompleted {
		t.Fatalf("status %s %+v", c.Status, c.Error)
	}
	if string(resp) != `{"n":42}` {
		t.Fatalf("response %s", resp)
	}
	txt := logText(logs)
	if !strings.Contains(txt, "stdout: hello stdout") || !strings.Contains(txt, "stderr: hello stderr") {
		t.Fatalf("logs %q", txt)
	}
	for _, l := range logs {
		if l.Timestamp == 0 {
			t.Fatal("log line without timestamp")
		}
	}
}

func TestProtocolRequestOnStdin(t *testing.T) {
	e := newEnv(t, nil)
	f := e.mustReady(shFunction("echoer", `
req=$(cat)
printf '{"status":"ok","response":%s}' "$req" >&3
`))
	c, resp, _ := e.call(f.ID, `{"hello":"world"}`)
	if c.Status != CallCompleted {
		t.Fatalf("status %s %+v", c.Status, c.Error)
	}
	s := string(resp)
	for _, want := range []string{`"protocol":"fnproc/1"`, `"hello":"world"`, `"service_token":"fx_`, `"function_name":"echoer"`} {
		if !strings.Contains(s, want) {
			t.Fatalf("request lacks %s: %s", want, s)
		}
	}
}

func TestProtocolNoResultAndExitCode(t *testing.T) {
	e := newEnv(t, nil)
	f := e.mustReady(shFunction("silent", "echo nothing to see\nexit 3\n"))
	c, _, logs := e.call(f.ID, "")
	if c.Status != CallFailed || c.Error == nil || c.Error.Type != "NoResult" || !strings.Contains(c.Error.Message, "exit code 3") {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
	if !strings.Contains(logText(logs), "nothing to see") {
		t.Fatalf("logs %v", logs)
	}
	g := e.mustReady(shFunction("errres", `printf '{"status":"error","error":{"type":"ValueError","message":"bad","trace":"tb"}}' >&3`))
	c, _, _ = e.call(g.ID, "")
	if c.Status != CallFailed || c.Error.Message != "bad" || c.Error.Trace != "tb" {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
	h := e.mustReady(shFunction("garbage", `echo 'not json' >&3`))
	c, _, _ = e.call(h.ID, "")
	if c.Status != CallFailed || c.Error.Type != "InvalidResult" {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
}

func TestProtocolHugeResult(t *testing.T) {
	e := newEnv(t, nil)
	f := e.mustReady(shFunction("huge", `
printf '{"status":"ok","response":"' >&3
head -c 2000000 /dev/zero | tr '\0' 'a' >&3
printf '"}' >&3
`))
	c, resp, _ := e.call(f.ID, "")
	if c.Status != CallFailed || c.Error.Type != "ResponseTooLarge" {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
	if string(resp) != "null" {
		t.Fatalf("response kept: %.40s", resp)
	}
}

func TestProtocolLogsCapped(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Limits.MaxLogBytes = 64 << 10; o.LineLimit = 1024 })
	f := e.mustReady(shFunction("chatty", `
head -c 3000000 /dev/zero | tr '\0' 'x'
i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done
printf '{"status":"ok","response":null}' >&3
`))
	c, _, logs := e.call(f.ID, "")
	if c.Status != CallCompleted {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
	total := 0
	for _, l := range logs {
		if len(l.Message) > 1024 {
			t.Fatalf("line of %d bytes not split", len(l.Message))
		}
		total += len(l.Message)
	}
	if total > 64<<10+200 {
		t.Fatalf("%d log bytes kept", total)
	}
	if last := logs[len(logs)-1]; !strings.Contains(last.Message, "log truncated") {
		t.Fatalf("no truncation marker: %q", last.Message)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

func TestProtocolTimeoutKillsGroup(t *testing.T) {
	e := newEnv(t, nil)
	pidfile := filepath.Join(t.TempDir(), "pids")
	spec := shFunction("sleeper", `
trap '' TERM
sleep 300 &
echo $! > `+pidfile+`
echo $$ >> `+pidfile+`
sleep 300
`)
	spec.TimeoutSec = 1
	f := e.mustReady(spec)
	start := time.Now()
	c, _, _ := e.call(f.ID, "")
	if c.Status != CallTimeout {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("call took %s", time.Since(start))
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, _ := strconv.Atoi(f)
		waitFor(t, "process "+f+" gone", 5*time.Second, func() bool { return !alive(pid) })
	}
}

func TestProtocolGrandchildOutlivingLeader(t *testing.T) {
	e := newEnv(t, nil)
	pidfile := filepath.Join(t.TempDir(), "pid")
	f := e.mustReady(shFunction("forker", `
sleep 300 > /dev/null 2>&1 &
echo $! > `+pidfile+`
( sleep 300 ) &
printf '{"status":"ok","response":1}' >&3
exit 0
`))
	c, _, _ := e.call(f.ID, "")
	if c.Status != CallCompleted {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
	b, _ := os.ReadFile(pidfile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatal("no pid")
	}
	waitFor(t, "grandchild gone", 5*time.Second, func() bool { return !alive(pid) })
	_ = syscall.Getpid
}

func TestProtocolMemoryLimit(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	f := e.mustReady(FunctionSpec{Name: "hog", Memory: 0.2, HandlerSource: `
def handle(data):
    x = bytearray(1 << 30)
    return len(x)
`})
	c, _, _ := e.call(f.ID, "")
	if c.Status != CallFailed || c.Error == nil || c.Error.Type != "MemoryError" {
		t.Fatalf("got %s %+v", c.Status, c.Error)
	}
}
