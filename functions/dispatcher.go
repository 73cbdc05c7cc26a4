package functions

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// dispatcher turns outbox events into deliveries and deliveries into calls:
// at least once, retried with backoff, serialised per (function, key).
type dispatcher struct {
	s        *Service
	mu       sync.Mutex
	triggers []*Trigger
	pending  map[string]*Delivery
	inflight map[string]bool
	wake     chan struct{}
	breaker  *rateLimiter // deliveries per (function, key) in a rolling window
}

func newDispatcher(s *Service) *dispatcher {
	br := newRateLimiter(s.opts.BreakerMax)
	br.window = s.opts.BreakerWindow
	return &dispatcher{s: s, pending: map[string]*Delivery{}, inflight: map[string]bool{}, wake: make(chan struct{}, 1), breaker: br}
}

func (d *dispatcher) wakeUp() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) reloadTriggers() {
	ts, err := d.s.ListTriggers(context.Background(), 0)
	if err != nil {
		d.s.log.Error("load triggers", "err", err)
		return
	}
	d.mu.Lock()
	d.triggers = ts
	d.mu.Unlock()
}

func (d *dispatcher) start() error {
	d.reloadTriggers()
	// Deliveries left pending or leased by the previous owner run again.
	err := d.s.db.View(func(tx metadata.Tx) error {
		return iterJSON(tx, kDeliveryPrefix(), false, func(dl *Delivery) (bool, error) {
			if dl.State == DeliveryPending || dl.State == DeliveryLeased {
				dl.State = DeliveryPending
				d.pending[dl.ID] = dl
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	if _, ok := d.s.store.(storage.EventSource); ok {
		d.s.goBackground(d.readLoop)
	}
	d.s.goBackground(d.workLoop)
	return nil
}

// cursor and ack use the store's consumer positions when it has them.
func (d *dispatcher) cursor() (uint64, error) {
	if c, ok := d.s.store.(EventCursor); ok {
		return c.Cursor(d.s.opts.ConsumerName)
	}
	var n uint64
	err := d.s.db.View(func(tx metadata.Tx) error {
		b, err := tx.Get([]byte(prefix + "cursor/" + d.s.opts.ConsumerName))
		if err == nil {
			n, err = strconv.ParseUint(string(b), 10, 64)
		} else if errors.Is(err, metadata.ErrNotFound) {
			err = nil
		}
		return err
	})
	return n, err
}

func (d *dispatcher) ack(seq uint64) error {
	if c, ok := d.s.store.(EventCursor); ok {
		return c.Ack(d.s.opts.ConsumerName, seq)
	}
	return update(d.s.db, func(tx metadata.Tx) error {
		return tx.Set([]byte(prefix+"cursor/"+d.s.opts.ConsumerName), []byte(strconv.FormatUint(seq, 10)))
	})
}

func (d *dispatcher) readLoop(ctx context.Context) {
	src := d.s.store.(storage.EventSource)
	after, err := d.cursor()
	for err != nil {
		d.s.log.Error("read event cursor", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		after, err = d.cursor()
	}
	// The cursor is saved at most once per ackEvery, and when the outbox
	// goes idle: Ack is a synced commit, and one per event batch would put
	// an fsync behind every write of a busy mount. A cursor that lags is
	// safe: events read again after a restart enqueue nothing new.
	const ackEvery = time.Second
	acked, lastAck := after, time.Now()
	saveCursor := func() {
		if after == acked {
			return
		}
		if err := d.ack(after); err != nil {
			d.s.log.Error("ack events", "err", err)
			return
		}
		acked, lastAck = after, time.Now()
	}
	defer saveCursor()
	for ctx.Err() == nil {
		evs, err := src.Events(ctx, after, 256, d.s.opts.PollWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.s.log.Error("read events", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		if len(evs) == 0 {
			saveCursor()
			continue
		}
		if err := d.enqueue(evs); err != nil {
			d.s.log.Error("record deliveries", "err", err)
			continue // the same events are read again
		}
		after = evs[len(evs)-1].Seq
		if time.Since(lastAck) >= ackEvery {
			saveCursor()
		}
	}
}

// enqueue writes one delivery per (event, function) for matching triggers;
// idempotent, so reading an event twice after a crash adds nothing.
func (d *dispatcher) enqueue(evs []storage.Event) error {
	d.mu.Lock()
	triggers := d.triggers
	d.mu.Unlock()
	if !anyMatch(triggers, evs) {
		return nil // no transaction (a synced commit) for events no trigger wants
	}
	now := ms(d.s.clock.Now())
	var fresh []*Delivery
	err := update(d.s.db, func(tx metadata.Tx) error {
		fresh = fresh[:0]
		for i := range evs {
			e := &evs[i]
			seen := map[int64]bool{}
			for _, t := range triggers {
				if seen[t.FunctionID] || !t.matches(e) {
					continue
				}
				seen[t.FunctionID] = true
				dl := &Delivery{ID: e.ID + "." + strconv.FormatInt(t.FunctionID, 10), EventID: e.ID, EventSeq: e.Seq,
					TriggerID: t.ID, FunctionID: t.FunctionID, BucketID: e.BucketID, Key: e.Key,
					State: DeliveryPending, FirstTime: now, Event: *e}
				if _, err := tx.Get(kDelivery(dl.ID)); err == nil {
					continue
				}
				if e.Origin.Hops >= d.s.opts.HopLimit {
					dl.State = DeliveryLoop
					dl.LastError = fmt.Sprintf("event chain reached the hop limit of %d", d.s.opts.HopLimit)
				} else if _, ok := d.breaker.allow(deliveryKey(dl), d.s.clock.Now()); !ok {
					dl.State = DeliveryLoop
					dl.LastError = fmt.Sprintf("circuit breaker: more than %d events of this key for the function within %s",
						d.s.opts.BreakerMax, d.s.opts.BreakerWindow)
				}
				if err := putJSON(tx, kDelivery(dl.ID), dl); err != nil {
					return err
				}
				fresh = append(fresh, dl)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.mu.Lock()
	for _, dl := range fresh {
		if dl.State == DeliveryPending {
			d.pending[dl.ID] = dl
		} else {
			d.s.log.Warn("loop terminated", "event", dl.EventID, "function", dl.FunctionID, "key", dl.Key)
		}
	}
	d.mu.Unlock()
	d.wakeUp()
	return nil
}

// anyMatch reports whether some trigger matches some event.
func anyMatch(triggers []*Trigger, evs []storage.Event) bool {
	for _, t := range triggers {
		for i := range evs {
			if t.matches(&evs[i]) {
				return true
			}
		}
	}
	return false
}

func deliveryKey(dl *Delivery) string {
	return strconv.FormatInt(dl.FunctionID, 10) + "\x00" + dl.BucketID + "\x00" + dl.Key
}

func (d *dispatcher) workLoop(ctx context.Context) {
	for ctx.Err() == nil {
		next := d.dispatchDue(ctx)
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = d.s.clock.After(next.Sub(d.s.clock.Now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer:
		case <-time.After(5 * time.Second):
			d.s.expireLocks(d.s.clock.Now())
			d.breaker.sweep(d.s.clock.Now())
		}
	}
}

// dispatchDue starts every delivery that may run now and returns the
// earliest future retry time (zero if none).
func (d *dispatcher) dispatchDue(ctx context.Context) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.s.clock.Now()
	list := make([]*Delivery, 0, len(d.pending))
	for _, dl := range d.pending {
		if dl.State == DeliveryPending {
			list = append(list, dl)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].EventSeq != list[j].EventSeq {
			return list[i].EventSeq < list[j].EventSeq
		}
		return list[i].FunctionID < list[j].FunctionID
	})
	var next time.Time
	blocked := map[string]bool{}
	for _, dl := range list {
		k := deliveryKey(dl)
		if blocked[k] || d.inflight[k] {
			blocked[k] = true // later events of a key wait for earlier ones
			continue
		}
		if dl.NotBefore > ms(now) {
			blocked[k] = true
			if t := time.UnixMilli(dl.NotBefore); next.IsZero() || t.Before(next) {
				next = t
			}
			continue
		}
		if !d.s.tryAcquire(dl.FunctionID) {
			blocked[k] = true
			continue
		}
		d.inflight[k] = true
		dl.State = DeliveryLeased
		cp := *dl
		if !d.s.goBackground(func(ctx context.Context) { d.run(ctx, &cp) }) {
			d.s.release(dl.FunctionID)
			return next
		}
	}
	return next
}

// run makes one attempt of a delivery.
func (d *dispatcher) run(ctx context.Context, dl *Delivery) {
	s := d.s
	released := false
	release := func() {
		if !released {
			released = true
			s.release(dl.FunctionID)
		}
	}
	defer release()
	// The lease is not committed: after a restart pending and leased
	// deliveries are alike, so a commit here would buy nothing.
	f, err := s.getFunction(dl.FunctionID)
	if errors.Is(err, ErrNotFound) {
		d.settle(dl, DeliveryDead, "the function was deleted")
		return
	}
	if err != nil {
		d.requeue(dl, err.Error(), true)
		return
	}
	if f.Status == StatusFailed {
		d.settle(dl, DeliveryDead, "the function failed to deploy") // it never becomes Ready
		return
	}
	if f.Status != StatusReady {
		d.requeue(dl, "function is "+f.Status, true)
		return
	}
	var principal string
	if t, err := s.GetTrigger(ctx, dl.TriggerID); err == nil {
		principal = t.Principal
	}
	req := CallRequest{Trigger: TriggerFileEvent, TriggerID: dl.TriggerID, Event: &dl.Event,
		Attempt: dl.Attempt + 1, Principal: principal}
	f, call, tok, err := s.newCall(dl.FunctionID, req, true)
	if err != nil {
		d.requeue(dl, err.Error(), true)
		return
	}
	dl.CallIDs = append(dl.CallIDs, call.ID)
	final := s.execute(ctx, f, call, req, tok)
	release()
	switch {
	case ctx.Err() != nil:
		// Shutdown: the delivery stays leased in the DB and runs again after
		// the restart (at least once).
		d.mu.Lock()
		delete(d.inflight, deliveryKey(dl))
		d.mu.Unlock()
	case final.Status == CallCompleted:
		d.settle(dl, DeliverySucceeded, "")
	case final.Error != nil && final.Error.Type == "SystemError":
		d.requeue(dl, final.Error.Message, true)
	default:
		msg := final.Status
		if final.Error != nil {
			msg += ": " + final.Error.Message
		}
		d.requeue(dl, msg, false)
	}
}

func (d *dispatcher) save(dl *Delivery) error {
	return update(d.s.db, func(tx metadata.Tx) error { return putJSON(tx, kDelivery(dl.ID), dl) })
}

// settle ends a delivery (succeeded or dead).
func (d *dispatcher) settle(dl *Delivery, state, msg string) {
	dl.State = state
	if msg != "" {
		dl.LastError = msg
	}
	if err := d.save(dl); err != nil {
		d.s.log.Error("save delivery", "id", dl.ID, "err", err)
	}
	d.mu.Lock()
	delete(d.pending, dl.ID)
	delete(d.inflight, deliveryKey(dl))
	d.mu.Unlock()
	d.wakeUp()
}

// requeue schedules a retry: function errors get FunctionRetries retries
// spaced RetryBase·2ⁿ; system errors back off exponentially with full
// jitter (1 s .. RetryMax) until the event is MaxEventAge old.
func (d *dispatcher) requeue(dl *Delivery, msg string, system bool) {
	s := d.s
	now := s.clock.Now()
	dl.LastError = msg
	var wait time.Duration
	if system {
		dl.SysErrors++
		max := time.Second << min(dl.SysErrors, 20)
		if max > s.opts.RetryMax {
			max = s.opts.RetryMax
		}
		wait = time.Duration(rand.Int64N(int64(max))) + 100*time.Millisecond
	} else {
		dl.Attempt++
		if dl.Attempt > s.opts.FunctionRetries {
			d.settle(dl, DeliveryDead, msg)
			return
		}
		wait = s.opts.RetryBase << (dl.Attempt - 1)
	}
	if now.Sub(time.UnixMilli(dl.FirstTime)) > s.opts.MaxEventAge {
		d.settle(dl, DeliveryDead, msg+" (event older than the maximum event age)")
		return
	}
	dl.State = DeliveryPending
	dl.NotBefore = ms(now.Add(wait))
	if err := d.save(dl); err != nil {
		s.log.Error("save delivery", "id", dl.ID, "err", err)
	}
	d.mu.Lock()
	d.pending[dl.ID] = dl
	delete(d.inflight, deliveryKey(dl))
	d.mu.Unlock()
	d.wakeUp()
}

// DeliveryFilter selects deliveries.
type DeliveryFilter struct {
	State      string
	FunctionID int64
	Limit      int
}

// ListDeliveries lists deliveries (dead ones can be redriven).
func (s *Service) ListDeliveries(ctx context.Context, flt DeliveryFilter) ([]*Delivery, error) {
	out := []*Delivery{}
	err := s.db.View(func(tx metadata.Tx) error {
		return iterJSON(tx, kDeliveryPrefix(), false, func(dl *Delivery) (bool, error) {
			if (flt.State == "" || dl.State == flt.State) && (flt.FunctionID == 0 || dl.FunctionID == flt.FunctionID) {
				out = append(out, dl)
			}
			return flt.Limit <= 0 || len(out) < flt.Limit, nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].EventSeq < out[j].EventSeq })
	return out, err
}

// Redrive puts a dead (or loop-terminated) delivery back to pending with
// fresh attempts.
func (s *Service) Redrive(ctx context.Context, id string) (*Delivery, error) {
	var dl Delivery
	err := update(s.db, func(tx metadata.Tx) error {
		if err := getJSON(tx, kDelivery(id), &dl); err != nil {
			return fmt.Errorf("delivery %q: %w", id, err)
		}
		if dl.State != DeliveryDead && dl.State != DeliveryLoop {
			return fmt.Errorf("%w: delivery %q is %s, only dead ones can be redriven", ErrConflict, id, dl.State)
		}
		dl.State, dl.Attempt, dl.SysErrors, dl.NotBefore = DeliveryPending, 0, 0, 0
		dl.FirstTime = ms(s.clock.Now())
		return putJSON(tx, kDelivery(id), &dl)
	})
	if err != nil {
		return nil, err
	}
	if d := s.dispatcher(); d != nil {
		cp := dl
		d.mu.Lock()
		d.pending[id] = &cp
		d.mu.Unlock()
		d.wakeUp()
	}
	return &dl, nil
}
