package functions

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

func (e *env) bucket(name string) *storage.Bucket {
	e.t.Helper()
	b, err := e.store.CreateBucket(context.Background(), storage.BucketOptions{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) put(ctx context.Context, bucket, key, content string) *storage.ObjectVersion {
	e.t.Helper()
	v, err := e.store.Put(ctx, bucket, key, strings.NewReader(content), storage.PutOptions{Size: int64(len(content))})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) trigger(spec TriggerSpec) *Trigger {
	e.t.Helper()
	tr, err := e.svc.CreateTrigger(context.Background(), spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return tr
}

func (e *env) deliveries(state string) []*Delivery {
	e.t.Helper()
	d, err := e.svc.ListDeliveries(context.Background(), DeliveryFilter{State: state})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func readLines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

// recorder appends "<key>" of every event it gets to a file.
func recorder(name, out string) FunctionSpec {
	return shFunction(name, `
req=$(cat)
key=$(printf '%s' "$req" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event"]["data"]["key"])')
echo "$key" >> `+out+`
printf '{"status":"ok","response":null}' >&3
`)
}

func TestTriggerDeliveryFilters(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	e.bucket("docs")
	out := filepath.Join(t.TempDir(), "keys")
	f := e.mustReady(recorder("rec", out))
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tr := e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: "docs", Events: []string{"ObjectCreated:*"}, Prefix: "in/", Suffix: ".txt"})
	if tr.Events[0] != "s3:ObjectCreated:*" {
		t.Fatalf("events %v", tr.Events)
	}
	// A second, overlapping trigger of the same function: still one call per event.
	e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: "docs", Events: []string{"s3:ObjectCreated:Put"}, Prefix: "in/"})
	e.put(ctx, "docs", "in/a.txt", "a")
	e.put(ctx, "docs", "in/b.bin", "b")
	e.put(ctx, "docs", "out/c.txt", "c")
	e.put(ctx, "docs", "in/d.txt", "d")
	waitFor(t, "two deliveries", 20*time.Second, func() bool { return len(e.deliveries(DeliverySucceeded)) == 3 })
	time.Sleep(300 * time.Millisecond)
	got := readLines(out)
	want := map[string]int{"in/a.txt": 1, "in/b.bin": 1, "in/d.txt": 1}
	for _, k := range got {
		want[k]--
	}
	for k, n := range want {
		if n != 0 {
			t.Fatalf("key %s delivered %d times too few; got %v", k, n, got)
		}
	}
	calls, _ := e.svc.ListCalls(ctx, f.ID, CallFilter{})
	if len(calls) != 3 || calls[0].Trigger != TriggerFileEvent || calls[0].EventID == "" {
		t.Fatalf("calls %+v", calls[0])
	}
	// Deletes do not match ObjectCreated.
	if _, err := e.store.Delete(ctx, "docs", "in/a.txt", storage.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.put(ctx, "docs", "in/e.txt", "e")
	waitFor(t, "e delivered", 20*time.Second, func() bool { return len(e.deliveries(DeliverySucceeded)) == 4 })
}

func TestTriggerRedeliveryAfterRestart(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	starts, proceed := filepath.Join(dir, "starts"), filepath.Join(dir, "proceed")
	e := newEnv(t, nil)
	ctx := context.Background()
	e.bucket("docs")
	f := e.mustReady(shFunction("slow", `
req=$(cat)
id=$(printf '%s' "$req" | python3 -c 'import json,sys; print(json.load(sys.stdin)["call"]["event_id"])')
echo "$id" >> `+starts+`
while [ ! -f `+proceed+` ]; do sleep 0.05; done
printf '{"status":"ok","response":"done"}' >&3
`))
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: "docs"})
	e.put(ctx, "docs", "report.txt", "x")
	waitFor(t, "first attempt started", 20*time.Second, func() bool { return len(readLines(starts)) == 1 })
	// The server goes away mid-call.
	e.close()
	os.WriteFile(proceed, nil, 0o644)
	e.open(nil)
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redelivery", 20*time.Second, func() bool { return len(e.deliveries(DeliverySucceeded)) == 1 })
	ids := readLines(starts)
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("attempts %v: want the same event id twice", ids)
	}
	calls, _ := e.svc.ListCalls(ctx, f.ID, CallFilter{})
	if len(calls) != 2 || calls[0].Status != CallCompleted || calls[1].Status != CallFailed || calls[1].Error.Type != "Interrupted" {
		t.Fatalf("calls %+v %+v", calls[0], calls[1])
	}
	if calls[0].EventID != ids[0] {
		t.Fatalf("event id %s vs %s", calls[0].EventID, ids[0])
	}
}

func TestTriggerRetriesDeadAndRedrive(t *testing.T) {
	needPython(t)
	clock := NewFakeClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e := newEnv(t, func(o *Options) { o.Clock = clock })
	ctx := context.Background()
	e.bucket("docs")
	f := e.mustReady(shFunction("failing", "cat >/dev/null\necho failing >&2\nexit 1\n"))
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: "docs"})
	e.put(ctx, "docs", "k", "x")
	calls := func() int { c, _ := e.svc.ListCalls(ctx, f.ID, CallFilter{}); return len(c) }
	waitPending := func(attempt int) {
		waitFor(t, "attempt "+strconv.Itoa(attempt)+" failed", 20*time.Second, func() bool {
			d := e.deliveries(DeliveryPending)
			return len(d) == 1 && d[0].Attempt == attempt
		})
	}
	waitPending(1)
	if calls() != 1 {
		t.Fatalf("%d calls", calls())
	}
	d := e.deliveries(DeliveryPending)[0]
	if want := ms(clock.Now().Add(time.Minute)); d.NotBefore != want {
		t.Fatalf("first retry at %d, want %d (1 min)", d.NotBefore, want)
	}
	clock.Advance(59 * time.Second)
	time.Sleep(200 * time.Millisecond)
	if calls() != 1 {
		t.Fatal("retried before the backoff")
	}
	clock.Advance(time.Second)
	waitPending(2)
	d = e.deliveries(DeliveryPending)[0]
	if want := ms(clock.Now().Add(2 * time.Minute)); d.NotBefore != want {
		t.Fatalf("second retry at %d, want %d (2 min)", d.NotBefore, want)
	}
	clock.Advance(2 * time.Minute)
	waitFor(t, "dead", 20*time.Second, func() bool { return len(e.deliveries(DeliveryDead)) == 1 })
	if calls() != 3 {
		t.Fatalf("%d calls, want 3 attempts", calls())
	}
	dead := e.deliveries(DeliveryDead)[0]
	if !strings.Contains(dead.LastError, "exit code 1") && !strings.Contains(dead.LastError, "no result") {
		t.Fatalf("last error %q", dead.LastError)
	}
	if _, err := e.svc.Redrive(ctx, dead.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redriven attempt", 20*time.Second, func() bool { return calls() == 4 })
	if _, err := e.svc.Redrive(ctx, "nope"); err == nil {
		t.Fatal("redrive of an unknown delivery")
	}
}

func TestTriggerLoopProtection(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.bucket("docs")
	f := e.mustReady(shFunction("noop", "cat >/dev/null\nprintf '{\"status\":\"ok\"}' >&3\n"))
	g := e.mustReady(shFunction("recursive", "cat >/dev/null\nprintf '{\"status\":\"ok\"}' >&3\n"))
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: "docs"})
	e.trigger(TriggerSpec{FunctionID: g.ID, Bucket: "docs", AllowRecursive: true})
	fid, gid := strconv.FormatInt(f.ID, 10), strconv.FormatInt(g.ID, 10)
	// f's own write does not fire f, but fires g.
	e.put(storage.WithOrigin(ctx, storage.Origin{Kind: "function", Hops: 1, FunctionID: fid, CallID: "1"}), "docs", "self-f", "x")
	// g's own write fires g (allowed) and f.
	e.put(storage.WithOrigin(ctx, storage.Origin{Kind: "function", Hops: 1, FunctionID: gid, CallID: "2"}), "docs", "self-g", "x")
	// A chain at the hop limit fires nobody.
	e.put(storage.WithOrigin(ctx, storage.Origin{Kind: "function", Hops: 16, FunctionID: gid, CallID: "3"}), "docs", "deep", "x")
	// Replicated changes do not fire by default.
	e.put(storage.WithOrigin(ctx, storage.Origin{Kind: "sync"}), "docs", "synced", "x")
	waitFor(t, "deliveries", 20*time.Second, func() bool {
		return len(e.deliveries(DeliverySucceeded)) == 3 && len(e.deliveries(DeliveryLoop)) == 2
	})
	got := map[string]bool{}
	for _, d := range e.deliveries("") {
		got[d.Key+"/"+strconv.FormatInt(d.FunctionID, 10)+"/"+d.State] = true
	}
	for _, want := range []string{"self-f/" + gid + "/succeeded", "self-g/" + gid + "/succeeded", "self-g/" + fid + "/succeeded",
		"deep/" + fid + "/loop_terminated", "deep/" + gid + "/loop_terminated"} {
		if !got[want] {
			t.Fatalf("missing %s in %v", want, got)
		}
	}
	if len(got) != 5 {
		t.Fatalf("deliveries %v", got)
	}
}

func TestTriggerPerKeyOrder(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	e.bucket("docs")
	out := filepath.Join(t.TempDir(), "order")
	f := e.mustReady(shFunction("ordered", `
req=$(cat)
v=$(printf '%s' "$req" | python3 -c 'import json,sys; print(json.load(sys.stdin)["event"]["data"]["version_id"])')
echo "start:$v" >> `+out+`
sleep 0.2
echo "end:$v" >> `+out+`
printf '{"status":"ok"}' >&3
`))
	e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: "docs"})
	var versions []string
	for i := 0; i < 3; i++ {
		versions = append(versions, e.put(ctx, "docs", "same-key", strconv.Itoa(i)).VersionID)
	}
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "3 deliveries", 30*time.Second, func() bool { return len(e.deliveries(DeliverySucceeded)) == 3 })
	var want []string
	for _, v := range versions {
		want = append(want, "start:"+v, "end:"+v)
	}
	if got := readLines(out); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
}

func TestFileEventRequestShape(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	b := e.bucket("docs")
	out := filepath.Join(t.TempDir(), "req.json")
	f := e.mustReady(shFunction("shape", "cat > "+out+"\nprintf '{\"status\":\"ok\"}' >&3\n"))
	e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: b.ID})
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	v := e.put(ctx, "docs", "dir/a b.txt", "hello")
	waitFor(t, "delivery", 20*time.Second, func() bool { return len(e.deliveries(DeliverySucceeded)) == 1 })
	raw, _ := os.ReadFile(out)
	var req struct {
		Data struct {
			Records []map[string]any `json:"Records"`
		} `json:"data"`
		Event struct {
			Name    string         `json:"name"`
			EventID string         `json:"event_id"`
			Data    map[string]any `json:"data"`
		} `json:"event"`
		Call map[string]any `json:"call"`
	}
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	rec := req.Data.Records[0]
	s3 := rec["s3"].(map[string]any)
	obj := s3["object"].(map[string]any)
	if rec["eventName"] != "s3:ObjectCreated:Put" || obj["key"] != "dir/a+b.txt" || obj["size"] != float64(5) ||
		obj["versionId"] != v.VersionID || len(obj["sequencer"].(string)) != 16 || s3["bucket"].(map[string]any)["name"] != "docs" {
		t.Fatalf("record %s", raw)
	}
	if req.Event.Name != "object_created" || req.Event.Data["key"] != "dir/a b.txt" || req.Event.EventID == "" ||
		req.Call["trigger"] != TriggerFileEvent || req.Call["event_id"] != req.Event.EventID ||
		req.Event.Data["parent_object_id"] != b.ID+"/dir" {
		t.Fatalf("event %s", raw)
	}
}

func TestTriggerCircuitBreaker(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.BreakerMax = 3 })
	ctx := context.Background()
	e.bucket("docs")
	f := e.mustReady(shFunction("noop", "cat >/dev/null\nprintf '{\"status\":\"ok\"}' >&3\n"))
	e.trigger(TriggerSpec{FunctionID: f.ID, Bucket: "docs"})
	// Writes through the mount carry no hop count: only the breaker sees the loop.
	mctx := storage.WithOrigin(ctx, storage.Origin{Kind: "mount"})
	for i := 0; i < 5; i++ {
		e.put(mctx, "docs", "hot", strconv.Itoa(i))
	}
	e.put(mctx, "docs", "cold", "x")
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deliveries", 20*time.Second, func() bool {
		return len(e.deliveries(DeliverySucceeded)) == 4 && len(e.deliveries(DeliveryLoop)) == 2
	})
	for _, d := range e.deliveries(DeliveryLoop) {
		if d.Key != "hot" || !strings.Contains(d.LastError, "circuit breaker") {
			t.Fatalf("%+v", d)
		}
	}
}

func TestOriginForPID(t *testing.T) {
	e := newEnv(t, nil)
	dir := t.TempDir()
	pidf, release := filepath.Join(dir, "pid"), filepath.Join(dir, "release")
	f := e.mustReady(shFunction("pid", `
cat >/dev/null
sleep 60 &
echo $! > `+pidf+`.tmp && mv `+pidf+`.tmp `+pidf+`
while [ ! -f `+release+` ]; do sleep 0.02; done
printf '{"status":"ok"}' >&3
`))
	c, err := e.svc.Call(context.Background(), f.ID, CallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pid", 20*time.Second, func() bool { return len(readLines(pidf)) == 1 })
	pid, _ := strconv.Atoi(readLines(pidf)[0])
	o, ok := e.svc.OriginForPID(pid) // a grandchild of the call
	if !ok || o.Kind != "function" || o.CallID != strconv.FormatInt(c.ID, 10) || o.FunctionID != strconv.FormatInt(f.ID, 10) || o.Hops != 1 {
		t.Fatalf("origin %+v %v", o, ok)
	}
	if _, ok := e.svc.OriginForPID(os.Getpid()); ok {
		t.Fatal("the test process attributed to a call")
	}
	os.WriteFile(release, nil, 0o644)
	e.svc.WaitCall(context.Background(), c.ID)
	if _, ok := e.svc.OriginForPID(pid); ok {
		t.Fatal("attributed after the call ended")
	}
}
