package remote

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeHK has two of the four housekeeping abilities.
type fakeHK struct {
	expired, gcs int
	olderThan    time.Duration
}

func (f *fakeHK) ExpireMultiparts(_ context.Context, olderThan time.Duration) (int, error) {
	f.expired++
	f.olderThan = olderThan
	return 2, nil
}

func (f *fakeHK) CollectGarbage(context.Context) (int, error) {
	f.gcs++
	return 0, errors.New("disk on fire")
}

func TestHousekeeperSchedule(t *testing.T) {
	f := &fakeHK{}
	opts := DefaultHousekeepingOptions()
	h := NewHousekeeper(f, opts, nil)
	st := h.Status()
	if !st["fixity"].Disabled || !st["value_log_gc"].Disabled || st["expire_multiparts"].Disabled {
		t.Fatalf("abilities not detected: %+v", st)
	}
	now := time.Now()
	ctx := context.Background()
	h.RunDue(ctx, now)
	h.RunDue(ctx, now.Add(time.Minute)) // not due yet
	if f.expired != 1 || f.gcs != 1 || f.olderThan != opts.MultipartExpiry {
		t.Fatalf("runs: expire %d gc %d (older than %v)", f.expired, f.gcs, f.olderThan)
	}
	h.RunDue(ctx, now.Add(opts.ExpiryInterval+time.Second))
	if f.expired != 2 {
		t.Fatalf("expiry did not run again after its interval: %d", f.expired)
	}
	st = h.Status()
	if e := st["expire_multiparts"]; e.Runs != 2 || e.Total["expired"] != 4 || e.LastError != nil {
		t.Fatalf("expire status %+v", e)
	}
	if g := st["collect_garbage"]; g.LastError == nil || *g.LastError != "disk on fire" {
		t.Fatalf("gc status %+v", g)
	}
	h.RunTask(ctx, "fixity") // disabled: no-op
	if h.Status()["fixity"].Runs != 0 {
		t.Fatal("a disabled task ran")
	}
}
