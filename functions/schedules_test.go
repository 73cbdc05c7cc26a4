package functions

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseCronTable(t *testing.T) {
	ref := time.Date(2026, 1, 15, 10, 7, 30, 0, time.UTC) // a Thursday
	berlin, _ := time.LoadLocation("Europe/Berlin")
	cases := []struct {
		expr string
		tz   *time.Location
		want time.Time
	}{
		{"*/5 * * * *", time.UTC, time.Date(2026, 1, 15, 10, 10, 0, 0, time.UTC)},
		{"0 * * * *", time.UTC, time.Date(2026, 1, 15, 11, 0, 0, 0, time.UTC)},
		{"30 2 * * *", time.UTC, time.Date(2026, 1, 16, 2, 30, 0, 0, time.UTC)},
		{"0 9 * * 1", time.UTC, time.Date(2026, 1, 19, 9, 0, 0, 0, time.UTC)},
		{"0 0 1 * *", time.UTC, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"15 10 * * *", time.UTC, time.Date(2026, 1, 16, 10, 15, 0, 0, time.UTC).Add(-24 * time.Hour)},
		{"0 12 * * *", berlin, time.Date(2026, 1, 15, 11, 0, 0, 0, time.UTC)},
		{"0 0 29 2 *", time.UTC, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		got, err := ParseCron(c.expr, c.tz, ref)
		if err != nil {
			t.Fatalf("%s: %v", c.expr, err)
		}
		if !got.Equal(c.want) {
			t.Errorf("%s (%s): next %s, want %s", c.expr, c.tz, got, c.want)
		}
	}
	for _, bad := range []string{"* * * * * *", "0 0 * * * 2026", "* * * *", "", "every minute", "61 * * * *", "* 25 * * *", "@daily", "a b c d e"} {
		if _, err := ParseCron(bad, time.UTC, ref); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

// echoData records the data and function_call_info of each call.
func echoData(name string) FunctionSpec {
	return FunctionSpec{Name: name, HandlerSource: `
def handle(data, function_call_info):
    return {"data": data, "info": function_call_info}
`}
}

func scheduleCalls(t *testing.T, e *env, fid, sid int64) []*Call {
	t.Helper()
	c, err := e.svc.ListCalls(context.Background(), fid, CallFilter{ScheduleID: sid})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSchedulerFiresWithInputData(t *testing.T) {
	needPython(t)
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC))
	e := newEnv(t, func(o *Options) { o.Clock = clock })
	ctx := context.Background()
	f := e.mustReady(echoData("sched"))
	if _, err := e.svc.CreateSchedule(ctx, ScheduleSpec{Name: "bad", FunctionID: f.ID, CronExpression: "0 */5 * * * *"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("6 fields accepted: %v", err)
	}
	sc, err := e.svc.CreateSchedule(ctx, ScheduleSpec{Name: "every5", FunctionID: f.ID, CronExpression: "*/5 * * * *",
		Data: json.RawMessage(`{"report":"daily"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if sc.NextFire != ms(time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)) || sc.TimeZone != "UTC" {
		t.Fatalf("schedule %+v", sc)
	}
	if d, _ := e.svc.ScheduleInputData(ctx, sc.ID); string(d) != `{"report":"daily"}` {
		t.Fatalf("input data %s", d)
	}
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(scheduleCalls(t, e, f.ID, sc.ID)); n != 0 {
		t.Fatalf("%d calls before the tick", n)
	}
	clock.Advance(4*time.Minute + 30*time.Second)
	waitFor(t, "first fire", 20*time.Second, func() bool {
		c := scheduleCalls(t, e, f.ID, sc.ID)
		return len(c) == 1 && c[0].Status == CallCompleted
	})
	c := scheduleCalls(t, e, f.ID, sc.ID)[0]
	if c.ScheduledTime != sc.NextFire || c.Trigger != TriggerSchedule {
		t.Fatalf("call %+v", c)
	}
	resp, _ := e.svc.CallResponse(ctx, f.ID, c.ID)
	var r struct {
		Data map[string]string `json:"data"`
		Info map[string]any    `json:"info"`
	}
	json.Unmarshal(resp, &r)
	if r.Data["report"] != "daily" || r.Info["schedule_id"] != float64(sc.ID) || r.Info["scheduled_time"] != float64(sc.NextFire) {
		t.Fatalf("response %s", resp)
	}
	got, _ := e.svc.GetSchedule(ctx, sc.ID)
	if got.NextFire != ms(time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)) {
		t.Fatalf("next fire %d", got.NextFire)
	}
	if err := e.svc.DeleteSchedule(ctx, sc.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	time.Sleep(200 * time.Millisecond)
	if n := len(scheduleCalls(t, e, f.ID, sc.ID)); n != 1 {
		t.Fatalf("deleted schedule fired: %d calls", n)
	}
	if _, err := e.svc.ScheduleInputData(ctx, sc.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("input data of a deleted schedule: %v", err)
	}
}

func TestSchedulerMisfires(t *testing.T) {
	needPython(t)
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC))
	mut := func(o *Options) { o.Clock = clock; o.MisfireGrace = time.Hour }
	e := newEnv(t, mut)
	ctx := context.Background()
	f := e.mustReady(echoData("sched"))
	sc, err := e.svc.CreateSchedule(ctx, ScheduleSpec{Name: "m", FunctionID: f.ID, CronExpression: "*/5 * * * *"})
	if err != nil {
		t.Fatal(err)
	}
	// Down for 22 minutes: four ticks missed, one run on start.
	e.close()
	clock.Advance(22 * time.Minute)
	e.open(mut)
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "catch-up fire", 20*time.Second, func() bool { return len(scheduleCalls(t, e, f.ID, sc.ID)) == 1 })
	time.Sleep(300 * time.Millisecond)
	calls := scheduleCalls(t, e, f.ID, sc.ID)
	if len(calls) != 1 || calls[0].ScheduledTime != ms(time.Date(2026, 1, 1, 0, 5, 0, 0, time.UTC)) {
		t.Fatalf("calls %+v", calls)
	}
	got, _ := e.svc.GetSchedule(ctx, sc.ID)
	if got.NextFire != ms(time.Date(2026, 1, 1, 0, 25, 0, 0, time.UTC)) {
		t.Fatalf("next fire %s", time.UnixMilli(got.NextFire).UTC())
	}
	// Down for 3 hours: beyond the grace window, nothing runs late.
	e.close()
	clock.Advance(3 * time.Hour)
	e.open(mut)
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "skip recorded", 20*time.Second, func() bool {
		g, _ := e.svc.GetSchedule(ctx, sc.ID)
		return g.SkippedFires == 1
	})
	if n := len(scheduleCalls(t, e, f.ID, sc.ID)); n != 1 {
		t.Fatalf("%d calls after a long outage", n)
	}
}

func TestSchedulerNoOverlap(t *testing.T) {
	needPython(t)
	clock := NewFakeClock(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC))
	e := newEnv(t, func(o *Options) { o.Clock = clock })
	ctx := context.Background()
	release := filepath.Join(t.TempDir(), "release")
	f := e.mustReady(FunctionSpec{Name: "slow", HandlerSource: `
import os, time
def handle():
    while not os.path.exists(` + "'" + release + "'" + `):
        time.sleep(0.02)
`})
	sc, err := e.svc.CreateSchedule(ctx, ScheduleSpec{Name: "m", FunctionID: f.ID, CronExpression: "* * * * *"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	waitFor(t, "first fire", 20*time.Second, func() bool { return len(scheduleCalls(t, e, f.ID, sc.ID)) == 1 })
	clock.Advance(time.Minute)
	waitFor(t, "overlap skipped", 20*time.Second, func() bool {
		g, _ := e.svc.GetSchedule(ctx, sc.ID)
		return g.SkippedFires == 1
	})
	if n := len(scheduleCalls(t, e, f.ID, sc.ID)); n != 1 {
		t.Fatalf("%d calls while the first runs", n)
	}
	os.WriteFile(release, nil, 0o644)
	waitFor(t, "first done", 20*time.Second, func() bool { return scheduleCalls(t, e, f.ID, sc.ID)[0].Status == CallCompleted })
	time.Sleep(100 * time.Millisecond)
	clock.Advance(time.Minute)
	waitFor(t, "second fire", 20*time.Second, func() bool { return len(scheduleCalls(t, e, f.ID, sc.ID)) == 2 })
}

var fixedRef = time.Date(2026, 1, 15, 10, 7, 30, 0, time.UTC)
