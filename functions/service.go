package functions

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// EventCursor is the optional ability of a store to persist an outbox
// consumer's position (storage.Store has it).
type EventCursor interface {
	Cursor(consumer string) (uint64, error)
	Ack(consumer string, seq uint64) error
}

// Service is the functions subsystem of one data directory. Whichever
// process owns the directory creates one and calls Start, which runs the
// trigger dispatcher and the scheduler; other users (CLI commands on the
// embedded default) use it without Start.
type Service struct {
	db    metadata.DB
	store storage.ObjectStore
	opts  Options
	clock Clock
	log   *slog.Logger

	shimPath   string
	cgroupRoot string
	urlKey     []byte

	mu         sync.Mutex
	serviceURL string
	fnSlots    map[int64]int
	slots      int
	slotFree   chan struct{} // signalled when a slot frees
	closed     bool
	started    bool
	callDone   map[int64]chan struct{}
	schedBusy  map[int64]bool
	limiter    *rateLimiter
	pgids      sync.Map // process group id -> storage.Origin of running calls

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	disp  *dispatcher
	sched *scheduler
}

// New opens the functions subsystem on db (records under "fn/") and store
// (buckets, uploads, code from objects). opts.Dir must be set.
func New(db metadata.DB, store storage.ObjectStore, opts Options) (*Service, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("%w: Options.Dir is required", ErrInvalid)
	}
	def := DefaultOptions()
	if opts.Python == "" {
		opts.Python = def.Python
	}
	if opts.Limits.TimeoutMinutes == 0 {
		opts.Limits = def.Limits
	}
	if opts.DefaultTimeout == 0 {
		opts.DefaultTimeout = def.DefaultTimeout
	}
	if opts.KillGrace == 0 {
		opts.KillGrace = def.KillGrace
	}
	if opts.DeployTimeout == 0 {
		opts.DeployTimeout = def.DeployTimeout
	}
	if opts.LineLimit == 0 {
		opts.LineLimit = def.LineLimit
	}
	if opts.MisfireGrace == 0 {
		opts.MisfireGrace = def.MisfireGrace
	}
	if opts.HopLimit == 0 {
		opts.HopLimit = def.HopLimit
	}
	if opts.RetryBase == 0 {
		opts.RetryBase = def.RetryBase
	}
	if opts.RetryMax == 0 {
		opts.RetryMax = def.RetryMax
	}
	if opts.MaxEventAge == 0 {
		opts.MaxEventAge = def.MaxEventAge
	}
	if opts.BreakerMax == 0 {
		opts.BreakerMax = def.BreakerMax
	}
	if opts.BreakerWindow == 0 {
		opts.BreakerWindow = def.BreakerWindow
	}
	if opts.PollWait == 0 {
		opts.PollWait = def.PollWait
	}
	if opts.ConsumerName == "" {
		opts.ConsumerName = def.ConsumerName
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{"code", "fn", "uploads", "calls"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("functions: %w", err)
		}
	}
	shim, err := installShim(opts.Dir)
	if err != nil {
		return nil, err
	}
	s := &Service{
		db: db, store: store, opts: opts, clock: opts.Clock, log: log,
		shimPath:   shim,
		serviceURL: opts.ServiceURL,
		fnSlots:    map[int64]int{},
		slotFree:   make(chan struct{}, 1),
		callDone:   map[int64]chan struct{}{},
		schedBusy:  map[int64]bool{},
		limiter:    newRateLimiter(opts.Limits.AccessRequestsPerMin),
	}
	if opts.UseCgroups {
		s.cgroupRoot = detectCgroupRoot()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.urlKey, err = s.loadURLKey(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

// Options returns the effective options.
func (s *Service) Options() Options { return s.opts }

// Limits returns the instance limits (GET /api/functions/limits).
func (s *Service) Limits() Limits { return s.opts.Limits }

// SetServiceURL sets the Access Service base URL handed to later calls.
func (s *Service) SetServiceURL(u string) {
	s.mu.Lock()
	s.serviceURL = u
	s.mu.Unlock()
}

// ServiceURL returns the Access Service base URL ("" when none is served).
func (s *Service) ServiceURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serviceURL
}

// Start runs the trigger dispatcher and the scheduler until Close. Only the
// process that owns the data directory calls it.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.started {
		s.mu.Unlock()
		return nil
	}
	s.started = true
	s.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
			s.cancel()
		case <-s.ctx.Done():
		}
	}()
	// Functions interrupted while deploying are deployed again.
	var redeploy []int64
	err := s.db.View(func(tx metadata.Tx) error {
		return iterJSON(tx, kFunctionPrefix(), false, func(f *Function) (bool, error) {
			if f.Status == StatusQueued || f.Status == StatusDeploying {
				redeploy = append(redeploy, f.ID)
			}
			return true, nil
		})
	})
	if err != nil {
		return err
	}
	for _, id := range redeploy {
		s.deployAsync(id)
	}
	d, sc := newDispatcher(s), newScheduler(s)
	s.mu.Lock()
	s.disp, s.sched = d, sc
	s.mu.Unlock()
	if err := d.start(); err != nil {
		return err
	}
	return sc.start()
}

func (s *Service) dispatcher() *dispatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disp
}

func (s *Service) scheduler() *scheduler {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sched
}

// Close stops the dispatcher and scheduler, interrupts running calls (their
// deliveries run again after a restart) and waits for them.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// goBackground runs fn as a goroutine Close waits for.
func (s *Service) goBackground(fn func(ctx context.Context)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.ctx)
	}()
	return true
}

// recover marks calls left Running by a crashed owner as Failed; their
// deliveries are retried by the dispatcher.
func (s *Service) recover() error {
	now := ms(s.clock.Now())
	return update(s.db, func(tx metadata.Tx) error {
		var stale []*Call
		err := iterJSON(tx, []byte(prefix+"c/"), false, func(c *Call) (bool, error) {
			if c.Status == CallRunning {
				stale = append(stale, c)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, c := range stale {
			c.Status = CallFailed
			c.EndTime = now
			c.Error = &ErrorInfo{Type: "Interrupted", Message: "the server stopped while the call was running"}
			if err := putJSON(tx, kCall(c.FunctionID, c.ID), c); err != nil {
				return err
			}
		}
		// Tokens of interrupted calls are useless now.
		var toks [][]byte
		tx.Iterate(kTokenPrefix(), nil, false, func(k, _ []byte) (bool, error) {
			toks = append(toks, append([]byte(nil), k...))
			return true, nil
		})
		for _, k := range toks {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) loadURLKey() ([]byte, error) {
	var key []byte
	err := update(s.db, func(tx metadata.Tx) error {
		b, err := tx.Get(kURLKey())
		if err == nil {
			key = append([]byte(nil), b...)
			return nil
		}
		if !errors.Is(err, metadata.ErrNotFound) {
			return err
		}
		key = make([]byte, 32)
		rand.Read(key)
		return tx.Set(kURLKey(), key)
	})
	return key, err
}
