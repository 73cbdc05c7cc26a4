package remote

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/functions"
	"github.com/bucketfs/bucketfs/storage"
)

func (e *fnEnv) api(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	st, raw, _ := e.do(method, "/api/functions"+path, e.admin, body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{"raw": string(raw)}
	}
	return st, out
}

func (e *fnEnv) waitStatus(id float64) map[string]any {
	e.t.Helper()
	for i := 0; i < 3000; i++ {
		_, f := e.api("GET", "/"+strconv.Itoa(int(id)), nil)
		if f["status"] == "Ready" || f["status"] == "Failed" {
			return f
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("deploy did not finish")
	return nil
}

func TestFunctionsAPI(t *testing.T) {
	e := newFnEnv(t)
	// Limits in Cognite's shape.
	st, lim := e.api("GET", "/limits", nil)
	if st != 200 || lim["timeoutMinutes"] != float64(10) || lim["responseSizeMb"] != float64(1) || lim["cpuCores"] == nil || lim["memoryGb"] == nil || lim["runtimes"] == nil {
		t.Fatalf("limits %d %v", st, lim)
	}
	// No token: 401.
	if st, _, _ := e.do("GET", "/api/functions/limits", "", nil); st != 401 {
		t.Fatalf("anonymous: %d", st)
	}
	// Upload a folder archive, then create from it.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("pkg/handler.py")
	w.Write([]byte("def handle(data, secrets):\n    print('got', data)\n    return {'echo': data, 'n': len(secrets)}\n"))
	zw.Close()
	st, raw, _ := e.do("POST", "/api/functions/code", e.admin, buf.Bytes())
	if st != 201 {
		t.Fatalf("code upload %d %s", st, raw)
	}
	var code struct{ FileID string }
	json.Unmarshal(raw, &code)
	st, out := e.api("POST", "", map[string]any{"items": []any{map[string]any{
		"name": "echo", "externalId": "x-echo", "fileId": code.FileID, "functionPath": "pkg/handler.py",
		"secrets": map[string]string{"key-1": "v"}, "metadata": map[string]string{"team": "a"}}}})
	if st != 201 {
		t.Fatalf("create %d %v", st, out)
	}
	fn := out["items"].([]any)[0].(map[string]any)
	if fn["status"] != "Queued" || fn["secrets"].(map[string]any)["key-1"] != "***" {
		t.Fatalf("created %v", fn)
	}
	fn = e.waitStatus(fn["id"].(float64))
	if fn["status"] != "Ready" || fn["runtimeVersion"] == "" {
		t.Fatalf("deployed %v", fn)
	}
	id := strconv.Itoa(int(fn["id"].(float64)))
	// Bad input is a clear 400.
	for _, bad := range []map[string]any{
		{"name": "b1", "handlerSource": "x", "secrets": map[string]string{"UPPER": "v"}},
		{"name": "b2", "handlerSource": "x", "envVars": map[string]string{"A-B": "v"}},
		{"name": "b3", "handlerSource": "x", "metadata": map[string]string{strings.Repeat("k", 33): "v"}},
		{"name": "b4"},
		{"name": "echo", "handlerSource": "x"},
	} {
		st, out := e.api("POST", "", map[string]any{"items": []any{bad}})
		if st != 400 && st != 409 {
			t.Fatalf("%v: %d %v", bad, st, out)
		}
	}
	// Retrieve by id, by external id (byids), list with filters.
	if st, f := e.api("GET", "/"+id, nil); st != 200 || f["name"] != "echo" {
		t.Fatalf("get %d %v", st, f)
	}
	st, out = e.api("POST", "/byids", map[string]any{"items": []any{map[string]any{"externalId": "x-echo"}, map[string]any{"id": 999}}, "ignoreUnknownIds": true})
	if st != 200 || len(out["items"].([]any)) != 1 {
		t.Fatalf("byids %d %v", st, out)
	}
	if st, _ := e.api("POST", "/byids", map[string]any{"items": []any{map[string]any{"id": 999}}}); st != 404 {
		t.Fatalf("byids unknown: %d", st)
	}
	st, out = e.api("POST", "/list", map[string]any{"filter": map[string]any{"metadata": map[string]string{"team": "a"}}})
	if st != 200 || len(out["items"].([]any)) != 1 {
		t.Fatalf("list %d %v", st, out)
	}
	st, out = e.api("GET", "?status=Failed", nil)
	if st != 200 || len(out["items"].([]any)) != 0 {
		t.Fatalf("list failed %d %v", st, out)
	}
	// Call, poll, response, logs, list calls.
	st, call := e.api("POST", "/"+id+"/call", map[string]any{"data": map[string]any{"q": 1}})
	if st != 201 || call["status"] != "Running" {
		t.Fatalf("call %d %v", st, call)
	}
	cid := strconv.Itoa(int(call["id"].(float64)))
	for call["status"] == "Running" {
		time.Sleep(20 * time.Millisecond)
		_, call = e.api("GET", "/"+id+"/calls/"+cid, nil)
	}
	if call["status"] != "Completed" {
		t.Fatalf("call %v", call)
	}
	_, resp := e.api("GET", "/"+id+"/calls/"+cid+"/response", nil)
	if fmt.Sprint(resp["response"]) != "map[echo:map[q:1] n:1]" {
		t.Fatalf("response %v", resp)
	}
	_, logs := e.api("GET", "/"+id+"/calls/"+cid+"/logs", nil)
	items := logs["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["message"] != "got {'q': 1}" || items[0].(map[string]any)["timestamp"] == nil {
		t.Fatalf("logs %v", logs)
	}
	_, calls := e.api("POST", "/"+id+"/calls/list", map[string]any{"filter": map[string]any{"status": "Completed"}})
	if len(calls["items"].([]any)) != 1 {
		t.Fatalf("calls %v", calls)
	}
	_, calls = e.api("GET", "/"+id+"/calls?status=Failed", nil)
	if len(calls["items"].([]any)) != 0 {
		t.Fatalf("calls %v", calls)
	}
	// Schedules: create, list, retrieve, input data, delete; 6 fields are refused.
	st, out = e.api("POST", "/schedules", map[string]any{"items": []any{map[string]any{"name": "s", "functionId": fn["id"], "cronExpression": "0 0 * * * *"}}})
	if st != 400 {
		t.Fatalf("6-field cron: %d %v", st, out)
	}
	st, out = e.api("POST", "/schedules", map[string]any{"items": []any{map[string]any{"name": "s", "functionExternalId": "x-echo", "cronExpression": "0 0 * * *", "data": map[string]int{"k": 1}}}})
	if st != 201 {
		t.Fatalf("schedule %d %v", st, out)
	}
	sid := strconv.Itoa(int(out["items"].([]any)[0].(map[string]any)["id"].(float64)))
	if st, s := e.api("GET", "/schedules/"+sid, nil); st != 200 || s["cronExpression"] != "0 0 * * *" || s["when"] == "" {
		t.Fatalf("get schedule %d %v", st, s)
	}
	if _, d := e.api("GET", "/schedules/"+sid+"/input_data", nil); fmt.Sprint(d["data"]) != "map[k:1]" {
		t.Fatalf("input data %v", d)
	}
	if _, l := e.api("GET", "/schedules?functionId="+id, nil); len(l["items"].([]any)) != 1 {
		t.Fatalf("list schedules %v", l)
	}
	if st, _ := e.api("POST", "/schedules/delete", map[string]any{"items": []any{map[string]any{"id": 0}}}); st != 404 {
		t.Fatalf("delete unknown schedule: %d", st)
	}
	n, _ := strconv.Atoi(sid)
	if st, _ := e.api("POST", "/schedules/delete", map[string]any{"items": []any{map[string]any{"id": n}}}); st != 200 {
		t.Fatal("delete schedule")
	}
	// Triggers and the number generator.
	if _, err := e.store.CreateBucket(context.Background(), storage.BucketOptions{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	st, out = e.api("POST", "/triggers", map[string]any{"items": []any{map[string]any{"functionId": fn["id"], "bucket": "docs", "events": []string{"s3:ObjectCreated:*"}, "suffix": ".pdf"}}})
	if st != 201 {
		t.Fatalf("trigger %d %v", st, out)
	}
	if st, out := e.api("POST", "/triggers", map[string]any{"items": []any{map[string]any{"functionId": fn["id"], "bucket": "docs", "events": []string{"s3:Bogus:*"}}}}); st != 400 {
		t.Fatalf("bad event name: %d %v", st, out)
	}
	if st, _ := e.api("POST", "/numgen", map[string]any{"name": "inv", "start": 10}); st != 201 {
		t.Fatal("numgen")
	}
	if st, _ := e.api("GET", "/deliveries?state=dead", nil); st != 200 {
		t.Fatal("deliveries")
	}
	// Delete by external id.
	if st, _ := e.api("POST", "/delete", map[string]any{"items": []any{map[string]any{"externalId": "x-echo"}}}); st != 200 {
		t.Fatal("delete")
	}
	if st, _ := e.api("GET", "/"+id, nil); st != 404 {
		t.Fatalf("deleted function: %d", st)
	}
}

// A CIM-style Python function drives the Access Service through the shim:
// a number from a generator, then a derived file uploaded next to the
// triggering file; its own upload does not trigger it again.
func TestFunctionsTriggerUploadsDerivedFile(t *testing.T) {
	e := newFnEnv(t)
	ctx := context.Background()
	if _, err := e.store.CreateBucket(ctx, storage.BucketOptions{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CreateGenerator(ctx, "docno", 500); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("environment.yaml")
	w.Write([]byte("runtime: python3.11\nversion: v1\nfunctions:\n  - name: stamp\n    entrypoint: main.stamp\n"))
	w, _ = zw.Create("main.py")
	w.Write([]byte(`
def stamp(metadata, event, service):
    n = service.generator.get_number("docno")
    name = event.data.key.rsplit("/", 1)[-1] + ".stamp"
    service.file_upload.upload_new_file(event.data.file_object_id, name, ("%d %s" % (n, event.event_id)).encode())
    return None
`))
	zw.Close()
	code, err := e.svc.UploadCode(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.CreateFunction(ctx, functions.FunctionSpec{Name: "stamper", FileID: code})
	if err != nil {
		t.Fatal(err)
	}
	e.ready(f.ID)
	if _, err := e.svc.CreateTrigger(ctx, functions.TriggerSpec{FunctionID: f.ID, Bucket: "docs"}); err != nil {
		t.Fatal(err)
	}
	e.access.Store(0)
	if _, err := e.store.Put(ctx, "docs", "in/a.txt", strings.NewReader("hello"), storage.PutOptions{Size: 5}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		rc, _, err := e.store.Get(ctx, "docs", "in/a.txt.stamp", "", 0, -1)
		if err == nil {
			b := new(bytes.Buffer)
			b.ReadFrom(rc)
			rc.Close()
			got = b.String()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(got, "500 ") {
		calls, _ := e.svc.ListCalls(ctx, f.ID, functions.CallFilter{})
		for _, c := range calls {
			logs, _ := e.svc.CallLogs(ctx, f.ID, c.ID)
			t.Logf("call %+v %+v logs %v", c, c.Error, logs)
		}
		t.Fatalf("derived file %q", got)
	}
	time.Sleep(500 * time.Millisecond)
	calls, _ := e.svc.ListCalls(ctx, f.ID, functions.CallFilter{})
	if len(calls) != 1 || calls[0].Status != functions.CallCompleted {
		t.Fatalf("calls %+v (the derived file must not trigger the function again)", calls)
	}
	// The shim's service sends what csfunctions sends: numgen + create,
	// generate_presigned_url, complete.
	if n := e.access.Load(); n != 4 {
		t.Fatalf("%d Access Service requests, want 4", n)
	}
}

// With allowRecursive, a function that rewrites its own trigger key is
// stopped by the hop limit after 16 calls.
func TestFunctionsLoopStopsAtHopLimit(t *testing.T) {
	e := newFnEnv(t)
	ctx := context.Background()
	if _, err := e.store.CreateBucket(ctx, storage.BucketOptions{Name: "docs"}); err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.CreateFunction(ctx, functions.FunctionSpec{Name: "rewriter", HandlerSource: `
def handle(data, client):
    rec = data["Records"][0]
    key = rec["x-fx"]["key_raw"]
    bucket = rec["s3"]["bucket"]["id"]
    fid = client.file_upload.upload_new_file(bucket, key, b"again")
    return rec["x-fx"]["origin"]["hop"]
`})
	if err != nil {
		t.Fatal(err)
	}
	e.ready(g.ID)
	if _, err := e.svc.CreateTrigger(ctx, functions.TriggerSpec{FunctionID: g.ID, Bucket: "docs", AllowRecursive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Put(ctx, "docs", "loop.txt", strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		d, _ := e.svc.ListDeliveries(ctx, functions.DeliveryFilter{State: functions.DeliveryLoop})
		if len(d) == 1 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var calls []*functions.Call
	for time.Now().Before(deadline) {
		calls, _ = e.svc.ListCalls(ctx, g.ID, functions.CallFilter{})
		if len(calls) > 0 && calls[0].Status != functions.CallRunning {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(calls) != 16 {
		t.Fatalf("%d calls, want 16 before the hop limit", len(calls))
	}
	for _, c := range calls {
		if c.Status != functions.CallCompleted {
			t.Fatalf("call %+v %+v", c, c.Error)
		}
	}
	d, _ := e.svc.ListDeliveries(ctx, functions.DeliveryFilter{State: functions.DeliveryLoop})
	if len(d) != 1 || d[0].Event.Origin.Hops != 16 {
		t.Fatalf("loop deliveries %+v", d)
	}
}
