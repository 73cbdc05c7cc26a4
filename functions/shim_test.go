package functions

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestShimCogniteArgumentSubsets(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	all := []string{"data", "client", "secrets", "function_call_info"}
	for mask := 0; mask < 16; mask++ {
		var names []string
		for i, n := range all {
			if mask&(1<<i) != 0 {
				names = append(names, n)
			}
		}
		// Declared in reverse order: order must not matter, only names.
		rev := append([]string(nil), names...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		src := fmt.Sprintf(`
def handle(%s):
    l = dict(locals())
    out = {}
    for k, v in l.items():
        if k == "client":
            out[k] = [hasattr(v, "generator"), hasattr(v, "file_upload")]
        else:
            out[k] = v
    return out
`, strings.Join(rev, ", "))
		f := e.mustReady(FunctionSpec{Name: fmt.Sprintf("subset-%d", mask), HandlerSource: src,
			Secrets: map[string]string{"api-key": "s3cret"}})
		c, resp, logs := e.call(f.ID, `{"v":7}`)
		if c.Status != CallCompleted {
			t.Fatalf("%v: %s %+v\n%s", names, c.Status, c.Error, logText(logs))
		}
		var got map[string]json.RawMessage
		if err := json.Unmarshal(resp, &got); err != nil {
			t.Fatalf("%v: %s", names, resp)
		}
		if len(got) != len(names) {
			t.Fatalf("%v: handler got %s", names, resp)
		}
		for _, n := range names {
			v := string(got[n])
			switch n {
			case "data":
				if v != `{"v":7}` {
					t.Fatalf("data %s", v)
				}
			case "secrets":
				if v != `{"api-key":"s3cret"}` {
					t.Fatalf("secrets %s", v)
				}
			case "client":
				if v != `[true,true]` {
					t.Fatalf("client %s", v)
				}
			case "function_call_info":
				var info map[string]any
				json.Unmarshal(got[n], &info)
				if info["function_id"] != float64(f.ID) || info["call_id"] != float64(c.ID) {
					t.Fatalf("function_call_info %s", v)
				}
			}
		}
	}
}

func TestShimDeployFailures(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	cases := []struct {
		name, src, want string
	}{
		{"badarg", "def handle(data, session):\n    return 1\n", "session"},
		{"syntax", "def handle(data)\n    return 1\n", "SyntaxError"},
		{"nohandle", "def other():\n    pass\n", "no top-level function named handle"},
		{"importerr", "import no_such_module_xyz\ndef handle():\n    pass\n", "no_such_module_xyz"},
	}
	for _, c := range cases {
		f := e.deploy(FunctionSpec{Name: c.name, HandlerSource: c.src})
		if f.Status != StatusFailed || f.Error == nil {
			t.Fatalf("%s: status %s", c.name, f.Status)
		}
		if !strings.Contains(f.Error.Message+f.Error.Trace+f.Error.Type, c.want) {
			t.Fatalf("%s: error %+v lacks %q", c.name, f.Error, c.want)
		}
		if _, err := e.svc.Call(context.Background(), f.ID, CallRequest{}); err == nil {
			t.Fatalf("%s: a failed function was callable", c.name)
		}
	}
	// The last top-level handle wins, as in Cognite's validation.
	f := e.mustReady(FunctionSpec{Name: "lastwins", HandlerSource: "def handle(bogus):\n    pass\n\ndef handle(data):\n    return data\n"})
	c, resp, _ := e.call(f.ID, `5`)
	if c.Status != CallCompleted || string(resp) != "5" {
		t.Fatalf("%s %s", c.Status, resp)
	}
}

func TestShimCogniteErrors(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	f := e.mustReady(FunctionSpec{Name: "raiser", HandlerSource: "def handle(data):\n    raise ValueError('bad input ' + str(data))\n"})
	c, _, _ := e.call(f.ID, `1`)
	if c.Status != CallFailed || c.Error.Type != "ValueError" || c.Error.Message != "bad input 1" || !strings.Contains(c.Error.Trace, "Traceback") {
		t.Fatalf("%s %+v", c.Status, c.Error)
	}
	g := e.mustReady(FunctionSpec{Name: "unjson", HandlerSource: "def handle():\n    return object()\n"})
	c, _, _ = e.call(g.ID, ``)
	if c.Status != CallFailed || c.Error.Type != "TypeError" {
		t.Fatalf("%s %+v", c.Status, c.Error)
	}
	h := e.mustReady(FunctionSpec{Name: "exiter", HandlerSource: "import sys\ndef handle():\n    print('bye')\n    sys.exit(4)\n"})
	c, _, logs := e.call(h.ID, ``)
	if c.Status != CallFailed || c.Error.Type != "SystemExit" || !strings.Contains(logText(logs), "bye") {
		t.Fatalf("%s %+v", c.Status, c.Error)
	}
}

func zipOf(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, c := range files {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(c))
	}
	zw.Close()
	return buf.Bytes()
}

const cimModule = `
from csfunctions import DataResponse, WorkloadResponse, ErrorResponse
from csfunctions.actions import AbortAndShowErrorAction, StartWorkflowAction

def ret_none(metadata, event, service):
    print("event", event.name, event.event_id)
    return None

def ret_action(metadata, event, service):
    return StartWorkflowAction(template_id="T1", title="check " + event.name)

def ret_list(metadata, event, service):
    return [StartWorkflowAction(template_id="T1", title="a"), StartWorkflowAction(template_id="T2", title="b")]

def ret_data(metadata, event, service):
    return DataResponse(data={"user": metadata.app_user, "svc": hasattr(service, "generator")})

def ret_workload(metadata, event, service):
    return WorkloadResponse(actions=[])

def ret_error(metadata, event, service):
    return ErrorResponse(message="nope", error_type="Custom")

def ret_raise(m, e, s):
    raise RuntimeError("boom")

def ret_bad(m, e, s):
    return 42

def ret_abort(m, e, s):
    return AbortAndShowErrorAction(message="not allowed")

def ret_dict_action(m, e, s):
    return {"name": "start_workflow", "template_id": "X", "title": "t"}
`

func TestShimCIMReturnShapes(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	names := []string{"ret_none", "ret_action", "ret_list", "ret_data", "ret_workload", "ret_error", "ret_raise", "ret_bad", "ret_abort", "ret_dict_action"}
	var yaml strings.Builder
	yaml.WriteString("runtime: python3.11\nversion: v1\nfunctions:\n")
	for _, n := range names {
		fmt.Fprintf(&yaml, "  - name: %s\n    entrypoint: mod.%s\n", strings.ReplaceAll(n, "_", "-"), n)
	}
	code, err := e.svc.UploadCode(context.Background(), bytes.NewReader(zipOf(t, map[string]string{
		"environment.yaml": yaml.String(), "mod.py": cimModule, "requirements.txt": "contactsoftware-functions\n"})))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		status, respType, errType string
		check                     func(resp map[string]any) bool
	}
	wants := map[string]want{
		"ret_none":   {CallCompleted, "", "", nil},
		"ret_action": {CallCompleted, "workload", "", func(r map[string]any) bool { return len(r["actions"].([]any)) == 1 }},
		"ret_list":   {CallCompleted, "workload", "", func(r map[string]any) bool { return len(r["actions"].([]any)) == 2 }},
		"ret_data": {CallCompleted, "data", "", func(r map[string]any) bool {
			d := r["data"].(map[string]any)
			return d["user"] == "alice" && d["svc"] == true
		}},
		"ret_workload":    {CallCompleted, "workload", "", nil},
		"ret_error":       {CallFailed, "error", "Custom", nil},
		"ret_raise":       {CallFailed, "error", "RuntimeError", func(r map[string]any) bool { return strings.Contains(r["trace"].(string), "boom") }},
		"ret_bad":         {CallFailed, "", "TypeError", nil},
		"ret_abort":       {CallFailed, "workload", "Aborted", nil},
		"ret_dict_action": {CallCompleted, "workload", "", nil},
	}
	for _, n := range names {
		w := wants[n]
		f := e.mustReady(FunctionSpec{Name: "cim-" + n, FileID: code, Entrypoint: strings.ReplaceAll(n, "_", "-")})
		if f.Style != StyleCIM {
			t.Fatalf("style %s", f.Style)
		}
		c, err := e.svc.CallAndWait(context.Background(), f.ID, CallRequest{Principal: "alice", Data: json.RawMessage(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := e.svc.CallResponse(context.Background(), f.ID, c.ID)
		logs, _ := e.svc.CallLogs(context.Background(), f.ID, c.ID)
		if c.Status != w.status {
			t.Fatalf("%s: status %s %+v\n%s", n, c.Status, c.Error, logText(logs))
		}
		if w.errType != "" && (c.Error == nil || c.Error.Type != w.errType) {
			t.Fatalf("%s: error %+v", n, c.Error)
		}
		if n == "ret_none" {
			if string(raw) != `""` {
				t.Fatalf("ret_none response %s", raw)
			}
			continue
		}
		if w.respType == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s: response %s", n, raw)
		}
		if r["response_type"] != w.respType || r["event_id"] != fmt.Sprintf("call-%d", c.ID) {
			t.Fatalf("%s: response %s", n, raw)
		}
		if w.check != nil && !w.check(r) {
			t.Fatalf("%s: response %s", n, raw)
		}
	}
	// A missing entrypoint fails the deploy.
	f := e.deploy(FunctionSpec{Name: "cim-missing", FileID: code, Entrypoint: "nope"})
	if f.Status != StatusFailed {
		t.Fatal("deploy of a missing entrypoint did not fail")
	}
}

func TestShimCIMMainEntrypoint(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	code, err := e.svc.UploadCode(context.Background(), bytes.NewReader(zipOf(t, map[string]string{
		"environment.yaml": "runtime: python3.11\nversion: v1\nmain_entrypoint: entry.main\nfunctions:\n  - name: one\n    entrypoint: entry.unused\n",
		"entry.py": `import json
def unused(m, e, s):
    raise RuntimeError("the main entrypoint replaces the dispatcher")
def main(name, body):
    req = json.loads(body)
    return json.dumps({"response_type": "data", "data": {"fn": name, "event": req["event"]["name"]}, "event_id": req["event"]["event_id"]})
`})))
	if err != nil {
		t.Fatal(err)
	}
	f := e.mustReady(FunctionSpec{Name: "main-ep", FileID: code})
	c, resp, logs := e.call(f.ID, `{}`)
	if c.Status != CallCompleted {
		t.Fatalf("%s %+v %s", c.Status, c.Error, logText(logs))
	}
	var r map[string]any
	json.Unmarshal(resp, &r)
	if d := r["data"].(map[string]any); d["fn"] != "one" || d["event"] != TriggerManual {
		t.Fatalf("response %s", resp)
	}
}
