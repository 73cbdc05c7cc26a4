package remote

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// The housekeeping abilities of *storage.Store (core-api.md), found by type
// assertion so the loop runs whatever subset a store has.
type (
	multipartExpirer interface {
		ExpireMultiparts(ctx context.Context, olderThan time.Duration) (int, error)
	}
	garbageCollector interface {
		CollectGarbage(ctx context.Context) (int, error)
	}
	fixityChecker interface {
		FixityPass(ctx context.Context, max int) (checked, bad int, err error)
	}
	valueLogGCer interface{ ValueLogGC() error }
)

// HousekeepingOptions schedule the background tasks Invenio runs as Celery
// beat tasks. A zero interval disables a task.
type HousekeepingOptions struct {
	// Tick is how often the loop looks for due tasks.
	Tick time.Duration
	// MultipartExpiry: incomplete uploads older than this are aborted (4 days).
	MultipartExpiry  time.Duration
	ExpiryInterval   time.Duration
	GCInterval       time.Duration
	ValueLogInterval time.Duration
	// FixityInterval and FixityBatch rate-limit fixity checks: at most
	// FixityBatch files per interval, oldest check first, so a full pass
	// over a large store is spread out instead of saturating the disk.
	FixityInterval time.Duration
	FixityBatch    int
}

// DefaultHousekeepingOptions returns the defaults.
func DefaultHousekeepingOptions() HousekeepingOptions {
	return HousekeepingOptions{
		Tick:             30 * time.Second,
		MultipartExpiry:  4 * 24 * time.Hour,
		ExpiryInterval:   time.Hour,
		GCInterval:       time.Hour,
		ValueLogInterval: 10 * time.Minute,
		FixityInterval:   time.Minute,
		FixityBatch:      20,
	}
}

// TaskStatus is one task's record in the status endpoint.
type TaskStatus struct {
	Runs       int            `json:"runs"`
	LastRun    string         `json:"last_run,omitempty"`
	LastError  *string        `json:"last_error"`
	LastResult map[string]int `json:"last_result,omitempty"`
	Total      map[string]int `json:"total,omitempty"`
	Disabled   bool           `json:"disabled,omitempty"`
	next       time.Time
}

// Housekeeper runs the store's housekeeping tasks on a schedule.
type Housekeeper struct {
	store any
	opts  HousekeepingOptions
	log   *slog.Logger
	mu    sync.Mutex
	tasks map[string]*TaskStatus
}

// NewHousekeeper returns a Housekeeper for store (any value; the tasks it
// does not support are reported disabled).
func NewHousekeeper(store any, opts HousekeepingOptions, log *slog.Logger) *Housekeeper {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultHousekeepingOptions().Tick
	}
	h := &Housekeeper{store: store, opts: opts, log: log, tasks: map[string]*TaskStatus{}}
	for _, name := range []string{"expire_multiparts", "collect_garbage", "fixity", "value_log_gc"} {
		h.tasks[name] = &TaskStatus{Disabled: !h.supported(name)}
	}
	return h
}

func (h *Housekeeper) supported(name string) bool {
	switch name {
	case "expire_multiparts":
		_, ok := h.store.(multipartExpirer)
		return ok && h.opts.ExpiryInterval > 0
	case "collect_garbage":
		_, ok := h.store.(garbageCollector)
		return ok && h.opts.GCInterval > 0
	case "fixity":
		_, ok := h.store.(fixityChecker)
		return ok && h.opts.FixityInterval > 0 && h.opts.FixityBatch > 0
	case "value_log_gc":
		_, ok := h.store.(valueLogGCer)
		return ok && h.opts.ValueLogInterval > 0
	}
	return false
}

func (h *Housekeeper) interval(name string) time.Duration {
	switch name {
	case "expire_multiparts":
		return h.opts.ExpiryInterval
	case "collect_garbage":
		return h.opts.GCInterval
	case "fixity":
		return h.opts.FixityInterval
	}
	return h.opts.ValueLogInterval
}

// Status returns a copy of every task's record.
func (h *Housekeeper) Status() map[string]TaskStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]TaskStatus, len(h.tasks))
	for k, v := range h.tasks {
		out[k] = *v
	}
	return out
}

// Run runs due tasks every Tick until ctx ends; each task first runs one
// Tick after the start, so a restart loop does not hammer the store.
func (h *Housekeeper) Run(ctx context.Context) {
	t := time.NewTicker(h.opts.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.RunDue(ctx, time.Now())
		}
	}
}

// RunDue runs every enabled task whose time has come at now.
func (h *Housekeeper) RunDue(ctx context.Context, now time.Time) {
	for _, name := range []string{"expire_multiparts", "collect_garbage", "fixity", "value_log_gc"} {
		h.mu.Lock()
		st := h.tasks[name]
		due := !st.Disabled && !now.Before(st.next)
		h.mu.Unlock()
		if due && ctx.Err() == nil {
			h.RunTask(ctx, name)
		}
	}
}

// RunTask runs one task now and records its outcome.
func (h *Housekeeper) RunTask(ctx context.Context, name string) {
	h.mu.Lock()
	st, ok := h.tasks[name]
	h.mu.Unlock()
	if !ok || st.Disabled {
		return
	}
	start := time.Now()
	res := map[string]int{}
	var err error
	switch name {
	case "expire_multiparts":
		if s, ok := h.store.(multipartExpirer); ok {
			res["expired"], err = s.ExpireMultiparts(ctx, h.opts.MultipartExpiry)
		}
	case "collect_garbage":
		if s, ok := h.store.(garbageCollector); ok {
			res["removed_blobs"], err = s.CollectGarbage(ctx)
		}
	case "fixity":
		if s, ok := h.store.(fixityChecker); ok {
			res["checked"], res["bad"], err = s.FixityPass(ctx, h.opts.FixityBatch)
		}
	case "value_log_gc":
		if s, ok := h.store.(valueLogGCer); ok {
			err = s.ValueLogGC()
		}
	}
	attrs := []any{"task", name, "took", time.Since(start).Round(time.Millisecond)}
	for k, v := range res {
		attrs = append(attrs, k, v)
	}
	switch {
	case err != nil:
		h.log.Warn("housekeeping failed", append(attrs, "err", err)...)
	case name == "fixity" && res["bad"] > 0:
		h.log.Error("fixity check found damaged files", attrs...)
	case res["expired"] > 0 || res["removed_blobs"] > 0 || res["checked"] > 0:
		h.log.Info("housekeeping", attrs...)
	default:
		h.log.Debug("housekeeping", attrs...)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st.Runs++
	st.LastRun = isoTime(start)
	st.LastError = nil
	if err != nil {
		msg := err.Error()
		st.LastError = &msg
	}
	st.LastResult = res
	if st.Total == nil {
		st.Total = map[string]int{}
	}
	for k, v := range res {
		st.Total[k] += v
	}
	st.next = start.Add(h.interval(name))
}

// StartHousekeeping runs a Housekeeper for the server's store until ctx
// ends and shows it in the status endpoint. It returns when the loop ends.
func (s *Server) StartHousekeeping(ctx context.Context, opts HousekeepingOptions) *Housekeeper {
	hk := NewHousekeeper(s.store, opts, s.log)
	s.hkMu.Lock()
	s.hk = hk
	s.hkMu.Unlock()
	go hk.Run(ctx)
	return hk
}
