package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/functions"
	"github.com/bucketfs/bucketfs/storage"
)

// fnEnv is a real store, a functions.Service and a real HTTP server with
// the functions API and the Access Service mounted.
type fnEnv struct {
	t      *testing.T
	store  *storage.Store
	svc    *functions.Service
	ts     *httptest.Server
	admin  string
	access atomic.Int64 // Access Service requests other than chunk PUTs
}

func newFnEnv(t *testing.T) *fnEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Open(filepath.Join(dir, "data"), storage.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	opts := functions.DefaultOptions()
	opts.Dir = filepath.Join(dir, "functions")
	opts.UseCgroups = false
	opts.KillGrace = 300 * time.Millisecond
	opts.PollWait = 200 * time.Millisecond
	svc, err := functions.New(st.DB(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(st, DefaultServerOptions())
	MountFunctions(srv, svc)
	e := &fnEnv{t: t, store: st, svc: svc}
	e.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/access/") && !strings.Contains(r.URL.Path, "/chunk/") {
			e.access.Add(1)
		}
		srv.ServeHTTP(w, r)
	}))
	svc.SetServiceURL(e.ts.URL + AccessPath(srv))
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok, _, err := srv.Tokens().Create(context.Background(), TokenSpec{Name: "admin", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	e.admin = tok
	t.Cleanup(func() {
		e.ts.Close()
		svc.Close()
		st.Close()
	})
	return e
}

// do sends a request; token "" sends none.
func (e *fnEnv) do(method, url, token string, body any) (int, []byte, http.Header) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	if !strings.HasPrefix(url, "http") {
		url = e.ts.URL + url
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

// heldCall starts a call of a shell function that hands its request (with
// the Access Service token) to the test and runs until release is called.
type heldCall struct {
	Token   string
	Request map[string]any
	release func()
	call    *functions.Call
}

func (e *fnEnv) holdCall(fn *functions.Function) *heldCall {
	e.t.Helper()
	dir := e.t.TempDir()
	reqFile, doneFile := filepath.Join(dir, "req.json"), filepath.Join(dir, "done")
	c, err := e.svc.Call(context.Background(), fn.ID, functions.CallRequest{
		Data: json.RawMessage(`{"req":"` + reqFile + `","done":"` + doneFile + `"}`), Principal: "tester"})
	if err != nil {
		e.t.Fatal(err)
	}
	var raw []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		raw, err = os.ReadFile(reqFile)
		if err == nil && json.Valid(raw) {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatal("held call did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	h := &heldCall{call: c}
	json.Unmarshal(raw, &h.Request)
	h.Token = h.Request["metadata"].(map[string]any)["service_token"].(string)
	h.release = func() {
		os.WriteFile(doneFile, nil, 0o644)
		e.svc.WaitCall(context.Background(), c.ID)
	}
	return h
}

const holderScript = `#!/bin/sh
req=$(cat)
reqfile=$(printf '%s' "$req" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["req"])')
done=$(printf '%s' "$req" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["done"])')
printf '%s' "$req" > "$reqfile.tmp" && mv "$reqfile.tmp" "$reqfile"
while [ ! -f "$done" ]; do sleep 0.02; done
printf '{"status":"ok","response":null}' >&3
`

func (e *fnEnv) holder(name string, accessBuckets ...string) *functions.Function {
	e.t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		e.t.Skip("python3 not installed")
	}
	f, err := e.svc.CreateFunction(context.Background(), functions.FunctionSpec{Name: name, FunctionPath: "hold.sh",
		HandlerSource: holderScript, TimeoutSec: 120, AccessBuckets: accessBuckets})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.ready(f.ID)
}

func (e *fnEnv) ready(id int64) *functions.Function {
	e.t.Helper()
	for i := 0; i < 3000; i++ {
		f, err := e.svc.GetFunction(context.Background(), id)
		if err != nil {
			e.t.Fatal(err)
		}
		switch f.Status {
		case functions.StatusReady:
			return f
		case functions.StatusFailed:
			e.t.Fatalf("deploy failed: %+v", f.Error)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("deploy did not finish")
	return nil
}
