package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/adhocore/gronx"

	"github.com/bucketfs/bucketfs/metadata"
)

// ScheduleSpec is a create request for a schedule.
type ScheduleSpec struct {
	Name           string          `json:"name"`
	FunctionID     int64           `json:"functionId"`
	CronExpression string          `json:"cronExpression"`
	TimeZone       string          `json:"timeZone,omitempty"`
	Description    string          `json:"description,omitempty"`
	Data           json.RawMessage `json:"data,omitempty"`
	Principal      string          `json:"principal,omitempty"`
}

// ParseCron checks a 5-field cron expression (minute hour day month
// weekday, Cognite parity) and returns the next fire strictly after ref.
func ParseCron(expr string, tz *time.Location, ref time.Time) (time.Time, error) {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return time.Time{}, fmt.Errorf("%w: cron expression %q has %d fields; exactly 5 (minute hour day-of-month month day-of-week) are allowed", ErrInvalid, expr, len(fields))
	}
	if !gronx.IsValid(expr) {
		return time.Time{}, fmt.Errorf("%w: cron expression %q is not valid", ErrInvalid, expr)
	}
	next, err := gronx.NextTickAfter(expr, ref.In(tz), false)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: cron expression %q never fires: %v", ErrInvalid, expr, err)
	}
	return next.UTC(), nil
}

func loadTZ(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w: time zone %q", ErrInvalid, name)
	}
	return loc, nil
}

// CreateSchedule stores a schedule with its input data.
func (s *Service) CreateSchedule(ctx context.Context, spec ScheduleSpec) (*Schedule, error) {
	if strings.TrimSpace(spec.Name) == "" || len(spec.Name) > 140 {
		return nil, fmt.Errorf("%w: schedule name must be 1..140 characters", ErrInvalid)
	}
	if _, err := s.getFunction(spec.FunctionID); err != nil {
		return nil, err
	}
	tz, err := loadTZ(spec.TimeZone)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	next, err := ParseCron(spec.CronExpression, tz, now)
	if err != nil {
		return nil, err
	}
	if len(spec.Data) > 0 && !json.Valid(spec.Data) {
		return nil, fmt.Errorf("%w: schedule data is not valid JSON", ErrInvalid)
	}
	if int64(len(spec.Data)) > s.opts.Limits.MaxInputBytes {
		return nil, fmt.Errorf("%w: schedule data larger than %d bytes", ErrInvalid, s.opts.Limits.MaxInputBytes)
	}
	sc := &Schedule{Name: spec.Name, FunctionID: spec.FunctionID, CronExpression: strings.Join(strings.Fields(spec.CronExpression), " "),
		TimeZone: tz.String(), Description: spec.Description, Principal: spec.Principal,
		CreatedTime: ms(now), NextFire: ms(next)}
	sc.When = fmt.Sprintf("cron %q in %s", sc.CronExpression, sc.TimeZone)
	err = update(s.db, func(tx metadata.Tx) error {
		total, perFn := 0, 0
		iterJSON(tx, kSchedulePrefix(), false, func(o *Schedule) (bool, error) {
			total++
			if o.FunctionID == spec.FunctionID {
				perFn++
			}
			return true, nil
		})
		if total >= s.opts.Limits.MaxSchedules || perFn >= s.opts.Limits.MaxSchedulesPerFn {
			return fmt.Errorf("%w: at most %d schedules, %d per function", ErrLimit, s.opts.Limits.MaxSchedules, s.opts.Limits.MaxSchedulesPerFn)
		}
		id, err := nextID(tx, "schedule")
		if err != nil {
			return err
		}
		sc.ID = id
		data := spec.Data
		if len(data) == 0 {
			data = json.RawMessage("{}")
		}
		if err := tx.Set(kScheduleData(id), data); err != nil {
			return err
		}
		return putJSON(tx, kSchedule(id), sc)
	})
	if err != nil {
		return nil, err
	}
	if sc := s.scheduler(); sc != nil {
		sc.reload()
	}
	return sc, nil
}

// GetSchedule retrieves a schedule.
func (s *Service) GetSchedule(ctx context.Context, id int64) (*Schedule, error) {
	var sc Schedule
	err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kSchedule(id), &sc) })
	if err != nil {
		return nil, fmt.Errorf("schedule %d: %w", id, err)
	}
	return &sc, nil
}

// ListSchedules lists schedules (of one function when fnID != 0).
func (s *Service) ListSchedules(ctx context.Context, fnID int64, name string) ([]*Schedule, error) {
	out := []*Schedule{}
	err := s.db.View(func(tx metadata.Tx) error {
		return iterJSON(tx, kSchedulePrefix(), false, func(sc *Schedule) (bool, error) {
			if (fnID == 0 || sc.FunctionID == fnID) && (name == "" || sc.Name == name) {
				out = append(out, sc)
			}
			return true, nil
		})
	})
	return out, err
}

// ScheduleInputData returns the data each fire passes to the function.
func (s *Service) ScheduleInputData(ctx context.Context, id int64) (json.RawMessage, error) {
	var out json.RawMessage
	err := s.db.View(func(tx metadata.Tx) error {
		b, err := tx.Get(kScheduleData(id))
		if errors.Is(err, metadata.ErrNotFound) {
			return fmt.Errorf("%w: schedule %d", ErrNotFound, id)
		}
		out = append(json.RawMessage(nil), b...)
		return err
	})
	return out, err
}

// DeleteSchedule removes a schedule.
func (s *Service) DeleteSchedule(ctx context.Context, id int64) error {
	err := update(s.db, func(tx metadata.Tx) error {
		if _, err := tx.Get(kSchedule(id)); err != nil {
			return fmt.Errorf("%w: schedule %d", ErrNotFound, id)
		}
		if err := tx.Delete(kScheduleData(id)); err != nil {
			return err
		}
		return tx.Delete(kSchedule(id))
	})
	if sc := s.scheduler(); err == nil && sc != nil {
		sc.reload()
	}
	return err
}

// scheduler fires due schedules: once per due tick, a missed tick runs once
// if within MisfireGrace, and never while the previous fire still runs.
type scheduler struct {
	s    *Service
	wake chan struct{}
	mu   sync.Mutex
	busy map[int64]bool
}

func newScheduler(s *Service) *scheduler {
	return &scheduler{s: s, wake: make(chan struct{}, 1), busy: map[int64]bool{}}
}

func (sc *scheduler) reload() {
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

func (sc *scheduler) start() error {
	sc.s.goBackground(sc.loop)
	return nil
}

func (sc *scheduler) loop(ctx context.Context) {
	for ctx.Err() == nil {
		next := sc.tick(ctx)
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = sc.s.clock.After(next.Sub(sc.s.clock.Now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-sc.wake:
		case <-timer:
		}
	}
}

// tick fires what is due and returns the next fire time.
func (sc *scheduler) tick(ctx context.Context) time.Time {
	s := sc.s
	now := s.clock.Now()
	list, err := s.ListSchedules(ctx, 0, "")
	if err != nil {
		s.log.Error("list schedules", "err", err)
		return now.Add(time.Minute)
	}
	var next time.Time
	for _, sch := range list {
		if sch.NextFire <= ms(now) {
			sc.fire(ctx, sch, now)
		}
		if t := time.UnixMilli(sch.NextFire); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

func (sc *scheduler) fire(ctx context.Context, sch *Schedule, now time.Time) {
	s := sc.s
	scheduled := sch.NextFire
	tz, err := loadTZ(sch.TimeZone)
	if err != nil {
		tz = time.UTC
	}
	// The next tick counts from now: missed ticks coalesce into this one.
	nxt, err := ParseCron(sch.CronExpression, tz, now)
	if err != nil {
		s.log.Error("schedule cron", "id", sch.ID, "err", err)
		nxt = now.Add(24 * time.Hour)
	}
	run := true
	switch {
	case now.Sub(time.UnixMilli(scheduled)) > s.opts.MisfireGrace:
		run = false // missed by too much: skip to the next tick
		sch.SkippedFires++
	default:
		sc.mu.Lock()
		if sc.busy[sch.ID] {
			run = false // no overlap with the previous fire
			sch.SkippedFires++
		}
		sc.mu.Unlock()
	}
	sch.NextFire = ms(nxt)
	if run {
		sch.LastFire = scheduled
	}
	err = update(s.db, func(tx metadata.Tx) error {
		var cur Schedule
		if err := getJSON(tx, kSchedule(sch.ID), &cur); err != nil {
			return err
		}
		cur.NextFire, cur.LastFire, cur.SkippedFires = sch.NextFire, sch.LastFire, sch.SkippedFires
		return putJSON(tx, kSchedule(sch.ID), &cur)
	})
	if err != nil || !run {
		return
	}
	data, _ := s.ScheduleInputData(ctx, sch.ID)
	req := CallRequest{Data: data, Trigger: TriggerSchedule, ScheduleID: sch.ID, ScheduledTime: scheduled, Principal: sch.Principal}
	call, err := s.Call(ctx, sch.FunctionID, req)
	if err != nil {
		s.log.Warn("schedule fire", "id", sch.ID, "err", err)
		return
	}
	sc.mu.Lock()
	sc.busy[sch.ID] = true
	sc.mu.Unlock()
	s.goBackground(func(ctx context.Context) {
		s.WaitCall(ctx, call.ID)
		sc.mu.Lock()
		delete(sc.busy, sch.ID)
		sc.mu.Unlock()
	})
}
