package remote

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// TestServerPermissionMatrix replays spec §6.3 with the personas of the
// upstream test suite: objects = {object-read}; bucket = {bucket-read,
// object-read, bucket-update, object-delete, multipart-read}; location =
// every action; plus anonymous callers.
func TestServerPermissionMatrix(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	v1 := e.put(b, "k.txt", []byte("one"))["version_id"].(string)
	e.put(b, "k.txt", []byte("two"))
	r := e.admReq("POST", "/files/"+b+"/mp.bin?uploads&size=3000&partSize=2048", nil)
	uid := r.json(t)["id"].(string)

	objects := e.token([]string{ActionObjectRead})
	bucket := e.token([]string{ActionBucketRead, ActionObjectRead, ActionBucketUpdate, ActionObjectDelete, ActionMultipartRead})
	location := e.token(Actions)
	other := e.token(Actions, "9f8e7d6c-0000-4000-8000-000000000000") // limited to another bucket

	type row struct {
		method, path string
		body         []byte
		want         map[string]int // persona -> status
	}
	P := "/files/" + b
	rows := []row{
		{"POST", "/files", nil, map[string]int{"anon": 401, "objects": 403, "bucket": 403, "location": 200, "other": 403}},
		{"HEAD", P, nil, map[string]int{"anon": 404, "objects": 404, "bucket": 200, "location": 200, "other": 404}},
		{"GET", P, nil, map[string]int{"anon": 404, "objects": 404, "bucket": 200, "location": 200, "other": 404}},
		{"GET", P + "?versions", nil, map[string]int{"anon": 404, "objects": 404, "bucket": 403, "location": 200, "other": 404}},
		{"GET", P + "?uploads", nil, map[string]int{"anon": 404, "objects": 404, "bucket": 404, "location": 200, "other": 404}},
		{"PUT", P + "/new.txt", []byte("x"), map[string]int{"anon": 404, "objects": 404, "bucket": 200, "location": 200, "other": 404}},
		{"GET", P + "/k.txt", nil, map[string]int{"anon": 404, "objects": 200, "bucket": 200, "location": 200, "other": 404}},
		{"GET", P + "/k.txt?versionId=" + v1, nil, map[string]int{"anon": 404, "objects": 403, "bucket": 403, "location": 200, "other": 404}},
		{"GET", P + "/mp.bin?uploadId=" + uid, nil, map[string]int{"anon": 404, "objects": 404, "bucket": 200, "location": 200, "other": 404}},
		{"POST", P + "/k.txt", nil, map[string]int{"anon": 404, "objects": 404, "bucket": 403, "location": 403, "other": 404}},
	}
	toks := map[string]string{"anon": "", "objects": objects, "bucket": bucket, "location": location, "other": other}
	for _, rw := range rows {
		for persona, want := range rw.want {
			var body *bytes.Reader
			if rw.body != nil {
				body = bytes.NewReader(rw.body)
			}
			var r *resp
			if body != nil {
				r = e.req(rw.method, rw.path, toks[persona], body)
			} else {
				r = e.req(rw.method, rw.path, toks[persona], nil)
			}
			if r.StatusCode != want {
				t.Errorf("%s %s as %s: %d, want %d (%s)", rw.method, rw.path, persona, r.StatusCode, want, r.body)
			}
			if want == 403 && rw.method != "HEAD" && !strings.Contains(string(r.body), "permission") {
				t.Errorf("%s %s as %s: 403 body %s", rw.method, rw.path, persona, r.body)
			}
		}
	}
	// Destructive rows, each on fresh state.
	fresh := func() (string, string) {
		b := e.bucket()
		v := e.put(b, "d.txt", []byte("1"))["version_id"].(string)
		e.put(b, "d.txt", []byte("2"))
		return b, v
	}
	for persona, want := range map[string]int{"anon": 404, "objects": 403, "bucket": 204, "location": 204} {
		b, _ := fresh()
		if got := e.req("DELETE", "/files/"+b+"/d.txt", toks[persona], nil).StatusCode; got != want {
			t.Errorf("DELETE object as %s: %d, want %d", persona, got, want)
		}
	}
	for persona, want := range map[string]int{"anon": 404, "objects": 403, "bucket": 403, "location": 204} {
		b, v := fresh()
		if got := e.req("DELETE", "/files/"+b+"/d.txt?versionId="+v, toks[persona], nil).StatusCode; got != want {
			t.Errorf("DELETE ?versionId as %s: %d, want %d", persona, got, want)
		}
	}
	for persona, want := range map[string]int{"anon": 404, "objects": 404, "bucket": 404, "location": 204} {
		r := e.admReq("POST", "/files/"+b+"/a.bin?uploads&size=3000&partSize=2048", nil)
		u := r.json(t)["id"].(string)
		if got := e.req("DELETE", "/files/"+b+"/a.bin?uploadId="+u, toks[persona], nil).StatusCode; got != want {
			t.Errorf("DELETE ?uploadId as %s: %d, want %d", persona, got, want)
		}
	}
	// Token transport and validity.
	expect(t, e.req("GET", P+"?access_token="+bucket, "", nil), 200)
	expect(t, e.req("GET", P, "bfs_0000000000000000_nope", nil), 401, "Token expired or revoked.")
	expect(t, e.req("GET", P, "garbage", nil), 401)
	r = e.req("GET", P, "", nil, "Authorization", "Basic Zm9vOmJhcg==")
	expect(t, r, 401)
	expired, _, err := e.srv.Tokens().Create(t.Context(), TokenSpec{Scopes: Actions, Expires: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, e.req("GET", P, expired, nil), 401, "Token expired or revoked.")
	_, rec, _ := e.srv.Tokens().Create(t.Context(), TokenSpec{Scopes: Actions})
	for _, tk := range mustList(t, e.srv.Tokens()) {
		if tk.ID == rec.ID && tk.Hash != "" {
			t.Fatal("List exposes hashes")
		}
	}
	if err := e.srv.Tokens().Revoke(t.Context(), objects[4:20]); err != nil {
		t.Fatal(err)
	}
	expect(t, e.req("GET", P+"/k.txt", objects, nil), 401, "Token expired or revoked.")
	// Bucket-limited tokens match by name too.
	nr := e.admReq("POST", "/files", strings.NewReader(`{"name":"pub"}`), "Content-Type", "application/json")
	expect(t, nr, 200)
	byName := e.token([]string{ActionBucketRead}, "pub")
	expect(t, e.req("GET", "/files/pub", byName, nil), 200)
	expect(t, e.req("GET", "/files/"+nr.json(t)["id"].(string), byName, nil), 200)
	expect(t, e.req("GET", P, byName, nil), 404)
	// Anonymous scopes make a public server; refusals stay 401.
	pub := newSrvEnv(t, func(o *ServerOptions) { o.AnonymousScopes = []string{ActionObjectRead} })
	pb := pub.bucket()
	pub.put(pb, "open.txt", []byte("hi"))
	expect(t, pub.req("GET", "/files/"+pb+"/open.txt", "", nil), 200)
	expect(t, pub.req("DELETE", "/files/"+pb+"/open.txt", "", nil), 401)
}

func mustList(t *testing.T, ts *TokenStore) []*Token {
	t.Helper()
	l, err := ts.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestTokenStore runs on the in-memory DB: secrets are stored hashed only.
func TestTokenStore(t *testing.T) {
	db := metadata.NewMemory()
	defer db.Close()
	ts := NewTokenStore(db)
	ctx := context.Background()
	if _, _, err := ts.Create(ctx, TokenSpec{Scopes: []string{"bucket-destroy"}}); err == nil {
		t.Fatal("unknown scope accepted")
	}
	if _, _, err := ts.Create(ctx, TokenSpec{}); err == nil {
		t.Fatal("token without scopes accepted")
	}
	secret, tok, err := ts.Create(ctx, TokenSpec{Scopes: []string{ActionObjectRead}, Buckets: []string{"b1"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx metadata.Tx) error {
		return tx.Iterate([]byte(tokenPrefix), nil, false, func(k, v []byte) (bool, error) {
			if bytes.Contains(v, []byte(secret)) || bytes.Contains(v, []byte(strings.Split(secret, "_")[2])) {
				t.Errorf("secret stored in clear under %s", k)
			}
			return true, nil
		})
	})
	got, err := ts.Lookup(ctx, secret)
	if err != nil || got.ID != tok.ID {
		t.Fatalf("Lookup: %v %v", got, err)
	}
	if !got.Allows(ActionObjectRead, &storage.Bucket{ID: "b1"}) || got.Allows(ActionObjectRead, &storage.Bucket{ID: "b2"}) ||
		got.Allows(ActionObjectDelete, &storage.Bucket{ID: "b1"}) || got.Allows(ActionObjectRead, nil) {
		t.Fatal("Allows ignores scopes or buckets")
	}
	for _, bad := range []string{"", "bfs_", secret + "x", "bfs_" + tok.ID + "_wrong", strings.Replace(secret, tok.ID, "0000000000000000", 1)} {
		if _, err := ts.Lookup(ctx, bad); err != ErrTokenInvalid {
			t.Fatalf("Lookup(%q) = %v", bad, err)
		}
	}
	if err := ts.Revoke(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Lookup(ctx, secret); err != ErrTokenInvalid {
		t.Fatalf("revoked token: %v", err)
	}
	if err := ts.Revoke(ctx, tok.ID); err == nil {
		t.Fatal("double revoke succeeded")
	}
	// Expiry is checked on cached tokens too.
	now := time.Now()
	ts.now = func() time.Time { return now }
	s2, _, _ := ts.Create(ctx, TokenSpec{Admin: true, Expires: now.Add(time.Hour)})
	if _, err := ts.Lookup(ctx, s2); err != nil {
		t.Fatal(err)
	}
	ts.now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, err := ts.Lookup(ctx, s2); err != ErrTokenInvalid {
		t.Fatalf("expired cached token: %v", err)
	}
	if n := len(mustList(t, ts)); n != 1 {
		t.Fatalf("List: %d tokens", n)
	}
}

// TestServerAuthorizeAndHandle: the functions API mounts on the same server
// and reuses its authorizer.
func TestServerAuthorizeAndHandle(t *testing.T) {
	e := newSrvEnv(t)
	b := e.bucket()
	e.srv.Handle("/api/functions/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := e.srv.Authorize(r, ActionBucketUpdate, b); err != nil {
			e.srv.WriteError(w, r, err)
			return
		}
		w.WriteHeader(299)
	}))
	expect(t, e.admReq("GET", "/functions/x", nil), 299)
	expect(t, e.req("GET", "/functions/x", "", nil), 401)
	expect(t, e.req("GET", "/functions/x", e.token([]string{ActionObjectRead}), nil), 403)
	expect(t, e.admReq("GET", "/nothing-here", nil), 404)
}

// TestRevokeWhileLookingUp: lookups racing a Revoke never bring the token
// back into the cache; once Revoke returns, the token is refused.
func TestRevokeWhileLookingUp(t *testing.T) {
	ts := NewTokenStore(metadata.NewMemory())
	ctx := t.Context()
	for range 50 {
		secret, tok, err := ts.Create(ctx, TokenSpec{Scopes: []string{ActionObjectRead}})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						_, _ = ts.Lookup(ctx, secret)
					}
				}
			}()
		}
		if err := ts.Revoke(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			if _, err := ts.Lookup(ctx, secret); !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("lookup after revoke: %v, want ErrTokenInvalid", err)
			}
		}
		close(stop)
		wg.Wait()
		if _, err := ts.Lookup(ctx, secret); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("lookup after revoke: %v, want ErrTokenInvalid", err)
		}
	}
}
