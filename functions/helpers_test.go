package functions

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

type env struct {
	t     *testing.T
	dir   string
	store *storage.Store
	svc   *Service
}

// newEnv opens a real store (badger in a temp dir) and a Service on it.
func newEnv(t *testing.T, mut func(o *Options)) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir}
	e.open(mut)
	return e
}

func (e *env) open(mut func(o *Options)) {
	t := e.t
	t.Helper()
	st, err := storage.Open(filepath.Join(e.dir, "data"), storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Dir = filepath.Join(e.dir, "functions")
	opts.KillGrace = 300 * time.Millisecond
	opts.PollWait = 200 * time.Millisecond
	opts.UseCgroups = false
	if mut != nil {
		mut(&opts)
	}
	svc, err := New(st.DB(), st, opts)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	e.store, e.svc = st, svc
	t.Cleanup(e.close)
}

func (e *env) close() {
	if e.svc != nil {
		e.svc.Close()
		e.svc = nil
	}
	if e.store != nil {
		e.store.Close()
		e.store = nil
	}
}

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
}

// deploy creates a function and waits until it is Ready or Failed.
func (e *env) deploy(spec FunctionSpec) *Function {
	e.t.Helper()
	f, err := e.svc.CreateFunction(context.Background(), spec)
	if err != nil {
		e.t.Fatalf("create %s: %v", spec.Name, err)
	}
	return e.waitDeployed(f.ID)
}

func (e *env) waitDeployed(id int64) *Function {
	e.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		f, err := e.svc.GetFunction(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if f.Status == StatusReady || f.Status == StatusFailed {
			return f
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("function %d not deployed in time", id)
	return nil
}

func (e *env) mustReady(spec FunctionSpec) *Function {
	e.t.Helper()
	f := e.deploy(spec)
	if f.Status != StatusReady {
		e.t.Fatalf("function %s: status %s, error %+v", spec.Name, f.Status, f.Error)
	}
	return f
}

func (e *env) call(fid int64, data string) (*Call, json.RawMessage, []LogEntry) {
	e.t.Helper()
	ctx := context.Background()
	req := CallRequest{}
	if data != "" {
		req.Data = json.RawMessage(data)
	}
	c, err := e.svc.CallAndWait(ctx, fid, req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.svc.CallResponse(ctx, fid, c.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	logs, err := e.svc.CallLogs(ctx, fid, c.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return c, resp, logs
}

func shFunction(name, script string) FunctionSpec {
	return FunctionSpec{Name: name, FunctionPath: "handler.sh", HandlerSource: "#!/bin/sh\n" + script, TimeoutSec: 30}
}

func logText(l []LogEntry) string {
	var b strings.Builder
	for _, e := range l {
		b.WriteString(e.Stream + ": " + e.Message + "\n")
	}
	return b.String()
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
