package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func jsonBody(v any) *strings.Reader {
	b, _ := json.Marshal(v)
	return strings.NewReader(string(b))
}

const ctJSON = "application/json"

func TestServerExtensionsObjects(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	P := "/files/" + b
	v1 := e.put(b, "src.txt", []byte("v1"))
	v2 := e.put(b, "src.txt", []byte("v2"), "X-Bucketfs-Attrs", "mode=420&uid=7", "X-Bucketfs-Mimetype", "text/x-special")
	if a := v2["attrs"].(map[string]any); a["mode"] != "420" || a["uid"] != "7" || v2["mimetype"] != "text/x-special" {
		t.Fatalf("attrs/mimetype on put: %v", v2)
	}
	if v2["file_id"] == nil || v2["bucket_id"] != b {
		t.Fatalf("file_id/bucket_id: %v", v2)
	}
	// Stat.
	st := e.admReq("GET", P+"/src.txt?stat", nil).json(t)
	if st["version_id"] != v2["version_id"] {
		t.Fatalf("stat %v", st)
	}
	// Copy into another bucket: same file, no bytes.
	b2 := e.bucket()
	r := e.admReq("POST", "/files/"+b2+"/copy.txt?copy", jsonBody(map[string]string{"bucket": b, "key": "src.txt", "version_id": v1["version_id"].(string)}), "Content-Type", ctJSON)
	expect(t, r, 200)
	cp := r.json(t)
	if cp["file_id"] != v1["file_id"] || cp["key"] != "copy.txt" || cp["is_head"] != true {
		t.Fatalf("copy %v", cp)
	}
	if body := e.admReq("GET", "/files/"+b2+"/copy.txt", nil).body; string(body) != "v1" {
		t.Fatalf("copied body %q", body)
	}
	expect(t, e.admReq("POST", "/files/"+b2+"/c2?copy", jsonBody(map[string]string{"bucket": b, "key": "missing"})), 404)
	expect(t, e.admReq("POST", "/files/"+b2+"/c2?copy", jsonBody(map[string]string{})), 422)
	// Restore v1.
	r = e.admReq("POST", P+"/src.txt?restore&versionId="+v1["version_id"].(string), nil)
	expect(t, r, 200)
	rs := r.json(t)
	if rs["file_id"] != v1["file_id"] || rs["version_id"] == v1["version_id"] {
		t.Fatalf("restore %v", rs)
	}
	expect(t, e.admReq("POST", P+"/src.txt?restore&versionId="+rs["version_id"].(string), nil), 400)
	expect(t, e.admReq("POST", P+"/src.txt?restore", nil), 422)
	// Attrs in place.
	r = e.admReq("POST", P+"/src.txt?attrs", jsonBody(map[string]any{"attrs": map[string]string{"mode": "384"}}))
	expect(t, r, 200)
	if a := r.json(t); a["version_id"] != rs["version_id"] || a["attrs"].(map[string]any)["mode"] != "384" {
		t.Fatalf("attrs %v", a)
	}
	// If-Match on PUT and DELETE.
	head := rs["version_id"].(string)
	expect(t, e.admReq("PUT", P+"/src.txt", strings.NewReader("x"), "If-Match", v1["version_id"].(string)), 412)
	expect(t, e.admReq("PUT", P+"/new.txt", strings.NewReader("x"), "If-Match", head), 412)
	expect(t, e.admReq("PUT", P+"/src.txt", strings.NewReader("x"), "If-None-Match", "*"), 412)
	expect(t, e.admReq("PUT", P+"/new.txt", strings.NewReader("x"), "If-None-Match", "*"), 200)
	expect(t, e.admReq("PUT", P+"/src.txt", strings.NewReader("x"), "If-Match", "md5:00000000000000000000000000000000"), 412)
	expect(t, e.admReq("PUT", P+"/src.txt", strings.NewReader("x"), "If-Match", "not-a-version"), 400)
	r = e.admReq("PUT", P+"/src.txt", strings.NewReader("v3"), "If-Match", `"`+head+`"`)
	expect(t, r, 200)
	head = r.json(t)["version_id"].(string)
	expect(t, e.admReq("DELETE", P+"/src.txt", nil, "If-Match", v1["version_id"].(string)), 412)
	expect(t, e.admReq("DELETE", P+"/src.txt", nil, "If-Match", head), 204)
	// Move a key and a prefix.
	e.put(b, "d/a.txt", []byte("a"))
	e.put(b, "d/sub/b.txt", []byte("b"))
	expect(t, e.admReq("POST", P+"/new.txt?move", jsonBody(map[string]string{"to": "moved.txt"})), 204)
	expect(t, e.admReq("GET", P+"/new.txt", nil), 404)
	expect(t, e.admReq("GET", P+"/moved.txt", nil), 200)
	expect(t, e.admReq("POST", P+"/d/?move", jsonBody(map[string]string{"to": "e/"})), 204)
	if r := e.admReq("GET", P+"/e/sub/b.txt", nil); string(r.body) != "b" {
		t.Fatalf("moved prefix: %d %q", r.StatusCode, r.body)
	}
	expect(t, e.admReq("POST", P+"/nothing?move", jsonBody(map[string]string{"to": "x"})), 404)
	expect(t, e.admReq("POST", P+"/e/?move", jsonBody(map[string]string{"to": "file"})), 422)
	// Empty object with the flag only.
	expect(t, e.admReq("PUT", P+"/empty?allowEmpty", strings.NewReader(""), "Content-Length", "0"), 200)
	if r := e.admReq("GET", P+"/empty", nil); r.StatusCode != 200 || len(r.body) != 0 {
		t.Fatalf("empty object %d %q", r.StatusCode, r.body)
	}
}

func TestServerExtensionsBuckets(t *testing.T) {
	e := newSrvEnv(t, func(o *ServerOptions) { o.ListLimit = 3 })
	b := e.bucket()
	P := "/files/" + b
	for i := 0; i < 7; i++ {
		e.put(b, fmt.Sprintf("k%d", i), []byte{byte(i)})
	}
	e.put(b, "dir/x", []byte("x"))
	e.put(b, "dir/y", []byte("y"))
	// Pagination beyond the page limit, every key exactly once.
	seen := map[string]int{}
	next := P
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		r := e.req("GET", strings.TrimPrefix(next, e.base), e.admin, nil)
		expect(t, r, 200)
		m := r.json(t)
		c := m["contents"].([]any)
		if len(c) > 3 {
			t.Fatalf("page of %d rows, limit 3", len(c))
		}
		for _, o := range c {
			seen[o.(map[string]any)["key"].(string)]++
		}
		next, _ = m["links"].(map[string]any)["next"].(string)
		if (next != "") != (m["next"] != nil) {
			t.Fatalf("next %v vs links.next %q", m["next"], next)
		}
	}
	if len(seen) != 9 {
		t.Fatalf("pagination saw %v", seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s listed %d times", k, n)
		}
	}
	expect(t, e.admReq("GET", P+"?limit=4", nil), 422)
	expect(t, e.admReq("GET", P+"?limit=x", nil), 422)
	// Delimiter and prefix.
	m := e.admReq("GET", P+"?delimiter=/&prefix=d", nil).json(t)
	if p := m["prefixes"].([]any); len(p) != 1 || p[0] != "dir/" || len(m["contents"].([]any)) != 0 {
		t.Fatalf("delimiter listing %v", m)
	}
	expect(t, e.admReq("GET", P+"?delimiter=x", nil), 422)
	expect(t, e.admReq("GET", P+"?at=yesterday", nil), 422)
	// Update: lock/unlock, quota, max size; needs location-update.
	r := e.admReq("PUT", P, jsonBody(map[string]any{"locked": true, "quota_size": 100000, "max_file_size": 500}), "Content-Type", ctJSON)
	expect(t, r, 200)
	if m := r.json(t); m["locked"] != true || m["quota_size"].(float64) != 100000 || m["max_file_size"].(float64) != 500 {
		t.Fatalf("update %v", m)
	}
	expect(t, e.admReq("PUT", P, jsonBody(map[string]any{"colour": "red"})), 422)
	rw := e.token([]string{ActionBucketRead, ActionBucketUpdate})
	expect(t, e.req("PUT", P, rw, jsonBody(map[string]any{"locked": false})), 403)
	expect(t, e.admReq("DELETE", P, nil), 403, "Bucket is locked for modifications.")
	expect(t, e.admReq("PUT", P, jsonBody(map[string]any{"locked": false, "quota_size": nil})), 200)
	// Delete: onlyIfEmpty refuses, plain delete hides the bucket.
	expect(t, e.admReq("DELETE", P+"?onlyIfEmpty", nil), 409, "Bucket is not empty.")
	// List buckets: admin sees both, a limited token its own.
	b2 := e.bucket()
	lim := e.token([]string{ActionBucketRead}, b2)
	if l := e.admReq("GET", "/files", nil).json(t)["buckets"].([]any); len(l) != 2 {
		t.Fatalf("admin bucket list %v", l)
	}
	if l := e.req("GET", "/files", lim, nil).json(t)["buckets"].([]any); len(l) != 1 || l[0].(map[string]any)["id"] != b2 {
		t.Fatalf("limited bucket list %v", l)
	}
	expect(t, e.req("GET", "/files", "", nil), 401)
	expect(t, e.admReq("DELETE", P, nil), 204)
	expect(t, e.admReq("GET", P, nil), 404, "Bucket does not exist.")
	expect(t, e.admReq("GET", P+"/k1", nil), 404, "Bucket does not exist.")
	expect(t, e.req("GET", P+"/k1", lim, nil), 404)
	if l := e.admReq("GET", "/files", nil).json(t)["buckets"].([]any); len(l) != 1 {
		t.Fatalf("deleted bucket still listed %v", l)
	}
}

func TestServerEventsStatusTokens(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	b2 := e.bucket()
	first := e.admReq("GET", "/events?after=0", nil).json(t)
	after := uint64(first["next"].(float64))
	// A long poll returns as soon as an event arrives.
	done := make(chan map[string]any, 1)
	go func() {
		r := e.admReq("GET", fmt.Sprintf("/events?after=%d&wait=30s", after), nil)
		var m map[string]any
		_ = json.Unmarshal(r.body, &m)
		done <- m
	}()
	time.Sleep(50 * time.Millisecond)
	e.put(b, "ev.txt", []byte("x"), "X-Bucketfs-Origin", "kind=sync&hops=2")
	var m map[string]any
	select {
	case m = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("long poll did not return after a write")
	}
	evs := m["events"].([]any)
	if len(evs) == 0 {
		t.Fatalf("no events: %v", m)
	}
	ev := evs[len(evs)-1].(map[string]any)
	if ev["key"] != "ev.txt" || ev["bucket_id"] != b || ev["origin"].(map[string]any)["kind"] != "sync" || ev["origin"].(map[string]any)["hops"].(float64) != 2 {
		t.Fatalf("event %v", ev)
	}
	// Empty long poll returns next == after.
	n := uint64(m["next"].(float64))
	m = e.admReq("GET", fmt.Sprintf("/events?after=%d&wait=0.1", n), nil).json(t)
	if len(m["events"].([]any)) != 0 || uint64(m["next"].(float64)) != n {
		t.Fatalf("empty poll %v", m)
	}
	// Non-admin tokens see only their buckets' events.
	e.put(b2, "other.txt", []byte("x"))
	lim := e.token([]string{ActionBucketRead}, b)
	for _, x := range e.req("GET", "/events?after=0", lim, nil).json(t)["events"].([]any) {
		if x.(map[string]any)["bucket_id"] != b {
			t.Fatalf("limited token sees %v", x)
		}
	}
	for _, x := range e.admReq("GET", "/events?after=0&bucket="+b2, nil).json(t)["events"].([]any) {
		if x.(map[string]any)["bucket_id"] != b2 {
			t.Fatalf("bucket filter leaks %v", x)
		}
	}
	expect(t, e.req("GET", "/events", "", nil), 401)
	expect(t, e.admReq("GET", "/events?after=-1", nil), 422)
	expect(t, e.admReq("GET", "/events?wait=forever", nil), 422)

	// Status with a housekeeper that has run once.
	hk := e.srv.StartHousekeeping(t.Context(), DefaultHousekeepingOptions())
	for _, name := range []string{"expire_multiparts", "collect_garbage", "fixity", "value_log_gc"} {
		hk.RunTask(context.Background(), name)
	}
	st := e.admReq("GET", "/status", nil).json(t)
	tasks := st["tasks"].(map[string]any)
	for _, name := range []string{"expire_multiparts", "collect_garbage", "fixity", "value_log_gc"} {
		task, ok := tasks[name].(map[string]any)
		if !ok || task["runs"].(float64) != 1 || task["disabled"] != nil {
			t.Fatalf("status of %s: %v", name, tasks[name])
		}
	}
	if fx := tasks["fixity"].(map[string]any); fx["last_error"] != nil || fx["last_result"].(map[string]any)["bad"].(float64) != 0 {
		t.Fatalf("fixity %v", fx)
	}
	expect(t, e.req("GET", "/status", "", nil), 401)

	// Token API: admin only.
	r := e.admReq("POST", "/tokens", jsonBody(map[string]any{"scopes": []string{"object-read"}, "buckets": []string{b}, "name": "ro"}))
	expect(t, r, 200)
	tk := r.json(t)
	secret := tk["token"].(string)
	expect(t, e.req("GET", "/files/"+b+"/ev.txt", secret, nil), 200)
	expect(t, e.req("GET", "/tokens", secret, nil), 403)
	l := e.admReq("GET", "/tokens", nil)
	expect(t, l, 200)
	if strings.Contains(string(l.body), secret) || strings.Contains(string(l.body), "hash") {
		t.Fatal("token list shows secrets")
	}
	expect(t, e.admReq("DELETE", "/tokens/"+tk["id"].(string), nil), 204)
	expect(t, e.admReq("DELETE", "/tokens/"+tk["id"].(string), nil), 404)
	expect(t, e.req("GET", "/files/"+b+"/ev.txt", secret, nil), 401)
	expect(t, e.admReq("POST", "/tokens", jsonBody(map[string]any{"scopes": []string{"nope"}})), 400)
	// TokenAdmin (the CLI's --remote path) against the server.
	ta := NewTokenAdmin(strings.TrimSuffix(e.base, "/api"), e.admin, nil)
	rt, err := ta.Create(t.Context(), TokenSpec{Scopes: []string{ActionBucketRead}})
	if err != nil || rt.Token == "" {
		t.Fatalf("TokenAdmin.Create: %v %v", rt, err)
	}
	if ls, err := ta.List(t.Context()); err != nil || len(ls) < 2 {
		t.Fatalf("TokenAdmin.List: %v %v", ls, err)
	}
	if err := ta.Revoke(t.Context(), rt.ID); err != nil {
		t.Fatal(err)
	}
}
