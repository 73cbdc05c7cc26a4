package functions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateSpecLimits(t *testing.T) {
	lim := DefaultOptions().Limits
	long := func(n int) string { return strings.Repeat("k", n) }
	many := func(n int, key func(i int) string) map[string]string {
		m := map[string]string{}
		for i := 0; i < n; i++ {
			m[key(i)] = "v"
		}
		return m
	}
	num := func(p string) func(int) string {
		return func(i int) string { return p + strings.Repeat("a", i/26) + string(rune('a'+i%26)) }
	}
	cases := []struct {
		name string
		spec FunctionSpec
		ok   bool
	}{
		{"plain", FunctionSpec{Name: "f"}, true},
		{"bad name", FunctionSpec{Name: "a b"}, false},
		{"secret ok", FunctionSpec{Name: "f", Secrets: map[string]string{"api-key-1": "x"}}, true},
		{"secret upper", FunctionSpec{Name: "f", Secrets: map[string]string{"ApiKey": "x"}}, false},
		{"secret underscore", FunctionSpec{Name: "f", Secrets: map[string]string{"api_key": "x"}}, false},
		{"secret 16 chars", FunctionSpec{Name: "f", Secrets: map[string]string{long(16): "x"}}, false},
		{"secret 15 chars", FunctionSpec{Name: "f", Secrets: map[string]string{long(15): "x"}}, true},
		{"30 secrets", FunctionSpec{Name: "f", Secrets: many(30, num("s"))}, true},
		{"31 secrets", FunctionSpec{Name: "f", Secrets: many(31, num("s"))}, false},
		{"env ok", FunctionSpec{Name: "f", EnvVars: map[string]string{"MY_VAR_1": "x"}}, true},
		{"env dash", FunctionSpec{Name: "f", EnvVars: map[string]string{"MY-VAR": "x"}}, false},
		{"100 env", FunctionSpec{Name: "f", EnvVars: many(100, num("E"))}, true},
		{"101 env", FunctionSpec{Name: "f", EnvVars: many(101, num("E"))}, false},
		{"16 metadata", FunctionSpec{Name: "f", Metadata: many(16, num("m"))}, true},
		{"17 metadata", FunctionSpec{Name: "f", Metadata: many(17, num("m"))}, false},
		{"metadata key 33", FunctionSpec{Name: "f", Metadata: map[string]string{long(33): "v"}}, false},
		{"metadata value 513", FunctionSpec{Name: "f", Metadata: map[string]string{"k": long(513)}}, false},
		{"metadata total 4096+", FunctionSpec{Name: "f", Metadata: map[string]string{"a": long(500), "b": long(500), "c": long(500),
			"d": long(500), "e": long(500), "f": long(500), "g": long(500), "h": long(500), "i": long(500)}}, false},
		{"abs path", FunctionSpec{Name: "f", FunctionPath: "/etc/passwd"}, false},
		{"dotdot path", FunctionSpec{Name: "f", FunctionPath: "../x.py"}, false},
		{"cpu too big", FunctionSpec{Name: "f", CPU: 1000}, false},
		{"memory too big", FunctionSpec{Name: "f", Memory: 1000}, false},
		{"runtime", FunctionSpec{Name: "f", Runtime: "py27"}, false},
		{"style", FunctionSpec{Name: "f", Style: "java"}, false},
	}
	for _, c := range cases {
		err := validateSpec(&c.spec, lim)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v is not ErrInvalid", c.name, err)
		}
	}
}

func TestRegistryLifecycle(t *testing.T) {
	needPython(t)
	e := newEnv(t, nil)
	ctx := context.Background()
	e.bucket("code")
	// Code from an object in a bucket: a single handler file.
	e.put(ctx, "code", "handlers/h.py", "def handle(data):\n    return {'from': 'object', 'data': data}\n")
	f := e.mustReady(FunctionSpec{Name: "from-object", ExternalID: "xo", Source: &ObjectRef{Bucket: "code", Key: "handlers/h.py"},
		Metadata: map[string]string{"team": "x"}, Secrets: map[string]string{"tok": "secret"}})
	if f.Secrets["tok"] != "***" || f.FunctionPath != "handler.py" || f.RuntimeVer == "" {
		t.Fatalf("function %+v", f)
	}
	c, resp, _ := e.call(f.ID, `3`)
	if c.Status != CallCompleted || string(resp) != `{"from":"object","data":3}` {
		t.Fatalf("%s %s", c.Status, resp)
	}
	// A zip object in a bucket.
	e.put(ctx, "code", "pkg.zip", string(zipOf(t, map[string]string{"src/main.py": "def handle():\n    return 'zip'\n"})))
	g := e.mustReady(FunctionSpec{Name: "from-zip", Source: &ObjectRef{Bucket: "code", Key: "pkg.zip"}, FunctionPath: "src/main.py"})
	if c, resp, _ := e.call(g.ID, ``); c.Status != CallCompleted || string(resp) != `"zip"` {
		t.Fatalf("%s %s", c.Status, resp)
	}
	// Missing code is a clear error at create time.
	if _, err := e.svc.CreateFunction(ctx, FunctionSpec{Name: "nocode", Source: &ObjectRef{Bucket: "code", Key: "nope.py"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing object: %v", err)
	}
	if _, err := e.svc.CreateFunction(ctx, FunctionSpec{Name: "twosrc", HandlerSource: "x", FileID: "code-000000000000000000000000"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("two sources: %v", err)
	}
	if _, err := e.svc.CreateFunction(ctx, FunctionSpec{Name: "from-object", HandlerSource: "x"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := e.svc.CreateFunction(ctx, FunctionSpec{Name: "other", ExternalID: "xo", HandlerSource: "x"}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate external id: %v", err)
	}
	// Retrieve by external id, by name, many, list with filters.
	if got, err := e.svc.GetFunctionByExternalID(ctx, "xo"); err != nil || got.ID != f.ID {
		t.Fatalf("by external id: %v", err)
	}
	if got, err := e.svc.ResolveFunction(ctx, "from-zip"); err != nil || got.ID != g.ID {
		t.Fatalf("by name: %v", err)
	}
	many, err := e.svc.RetrieveFunctions(ctx, []int64{g.ID, 999}, []string{"xo"}, true)
	if err != nil || len(many) != 2 {
		t.Fatalf("retrieve many: %d %v", len(many), err)
	}
	if _, err := e.svc.RetrieveFunctions(ctx, []int64{999}, nil, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retrieve unknown: %v", err)
	}
	l, _ := e.svc.ListFunctions(ctx, FunctionFilter{Metadata: map[string]string{"team": "x"}})
	if len(l) != 1 || l[0].ID != f.ID {
		t.Fatalf("list by metadata: %v", l)
	}
	l, _ = e.svc.ListFunctions(ctx, FunctionFilter{Status: StatusReady})
	if len(l) != 2 {
		t.Fatalf("list ready: %d", len(l))
	}
	// Delete removes the function with its calls, schedules and triggers.
	if _, err := e.svc.CreateSchedule(ctx, ScheduleSpec{Name: "s", FunctionID: f.ID, CronExpression: "0 0 * * *"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateTrigger(ctx, TriggerSpec{FunctionID: f.ID, Bucket: "code"}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteFunction(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.GetFunction(ctx, f.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted: %v", err)
	}
	if _, err := e.svc.GetCallByID(ctx, c.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("call of deleted function: %v", err)
	}
	if s, _ := e.svc.ListSchedules(ctx, f.ID, ""); len(s) != 0 {
		t.Fatal("schedules survived")
	}
	if tr, _ := e.svc.ListTriggers(ctx, f.ID); len(tr) != 0 {
		t.Fatal("triggers survived")
	}
	// The name is free again.
	e.mustReady(FunctionSpec{Name: "from-object", HandlerSource: "def handle():\n    pass\n"})
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/5 1-3 * JAN MON", "0 0 L * *", "@daily", "0 0 * * * *", "a b c d e", "60 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		// Must never panic or loop; errors are fine, a result must be later.
		next, err := ParseCron(expr, time.UTC, fixedRef)
		if err == nil && !next.After(fixedRef) {
			t.Fatalf("%q: next %s not after %s", expr, next, fixedRef)
		}
	})
}
