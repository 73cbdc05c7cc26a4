package functions

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTokenExpiryAndRollingWindow(t *testing.T) {
	clock := NewFakeClock(time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC))
	e := newEnv(t, func(o *Options) { o.Clock = clock })
	ctx := context.Background()
	f := &Function{ID: 7}
	tok, err := e.svc.mintToken(&Call{ID: 9}, f, "alice", 2, clock.Now().Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Authenticate(ctx, tok.secret)
	if err != nil || got.CallID != 9 || got.FunctionID != 7 || got.Hops != 2 {
		t.Fatalf("%+v %v", got, err)
	}
	// 100 requests in a rolling minute: 99 more now, then refused.
	for i := 1; i < 100; i++ {
		clock.Advance(100 * time.Millisecond)
		if _, err := e.svc.Authenticate(ctx, tok.secret); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err = e.svc.Authenticate(ctx, tok.secret)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("101st: %v", err)
	}
	// The first request was at 08:00:00.0, now is 08:00:09.9: wait until 08:01:00.0.
	if rl.RetryAfter != 50*time.Second+100*time.Millisecond {
		t.Fatalf("retry after %s", rl.RetryAfter)
	}
	clock.Advance(rl.RetryAfter)
	if _, err := e.svc.Authenticate(ctx, tok.secret); err != nil {
		t.Fatalf("after the window moved: %v", err)
	}
	// The next one is refused again: the window holds 100 requests.
	if _, err := e.svc.Authenticate(ctx, tok.secret); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("window not rolling: %v", err)
	}
	// Expired tokens are refused.
	clock.Advance(10 * time.Minute)
	if _, err := e.svc.Authenticate(ctx, tok.secret); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, "fx_nope"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("unknown: %v", err)
	}
}

func TestConcurrencyLimitPerFunction(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Limits.MaxConcurrentPerFn = 1 })
	ctx := context.Background()
	dir := t.TempDir()
	started, release := filepath.Join(dir, "started"), filepath.Join(dir, "release")
	f := e.mustReady(shFunction("one-at-a-time", `
cat >/dev/null
echo x >> `+started+`
while [ ! -f `+release+` ]; do sleep 0.02; done
printf '{"status":"ok"}' >&3
`))
	c1, err := e.svc.Call(ctx, f.ID, CallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.svc.Call(ctx, f.ID, CallRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Status != CallRunning {
		t.Fatalf("queued call status %s", c2.Status)
	}
	waitFor(t, "first start", 20*time.Second, func() bool { return len(readLines(started)) >= 1 })
	time.Sleep(300 * time.Millisecond)
	if n := len(readLines(started)); n != 1 {
		t.Fatalf("%d processes running with a limit of 1", n)
	}
	os.WriteFile(release, nil, 0o644)
	for _, c := range []*Call{c1, c2} {
		got, err := e.svc.WaitCall(ctx, c.ID)
		if err != nil || got.Status != CallCompleted {
			t.Fatalf("%+v %v", got, err)
		}
	}
	if n := len(readLines(started)); n != 2 {
		t.Fatalf("%d starts", n)
	}
}
