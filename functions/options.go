package functions

import (
	"log/slog"
	"runtime"
	"time"
)

// Limits are the instance's limits, served by GET /api/functions/limits
// in Cognite's shape.
type Limits struct {
	TimeoutMinutes int      `json:"timeoutMinutes"`
	CPUCores       Range    `json:"cpuCores"`
	MemoryGB       Range    `json:"memoryGb"`
	Runtimes       []string `json:"runtimes"`
	ResponseSizeMB float64  `json:"responseSizeMb"`
	// Our additions.
	MaxFunctions         int   `json:"maxFunctions"`
	MaxSchedules         int   `json:"maxSchedules"`
	MaxSchedulesPerFn    int   `json:"maxSchedulesPerFunction"`
	MaxConcurrentCalls   int   `json:"maxConcurrentCalls"`
	MaxConcurrentPerFn   int   `json:"maxConcurrentCallsPerFunction"`
	MaxInputBytes        int64 `json:"maxInputBytes"`
	MaxLogBytes          int64 `json:"maxLogBytes"`
	MaxCodeBytes         int64 `json:"maxCodeBytes"`
	AccessRequestsPerMin int   `json:"accessRequestsPerMinute"`
}

// Range is a {min, max, default} triple.
type Range struct {
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Default float64 `json:"default"`
}

// Options configure a Service.
type Options struct {
	// Dir holds unpacked code, the shim and upload staging (under the data directory).
	Dir string
	// Python is the interpreter for Python functions ("python3").
	Python string
	// ServiceURL is the Access Service base URL handed to calls; it may be
	// set later with SetServiceURL once a listener exists.
	ServiceURL string
	// InstanceURL is our base URL as handed to CIM-style functions.
	InstanceURL string
	Limits      Limits
	// DefaultTimeout bounds a call when the function sets none.
	DefaultTimeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL at the deadline.
	KillGrace time.Duration
	// DeployTimeout bounds the import check of a deploy.
	DeployTimeout time.Duration
	// LineLimit splits log lines longer than this.
	LineLimit int
	// MisfireGrace: a schedule fire missed by less than this runs once late.
	MisfireGrace time.Duration
	// HopLimit stops event chains caused by functions (loop protection).
	HopLimit int
	// Retry policy of deliveries: function errors get FunctionRetries
	// retries spaced by RetryBase*2^n; system errors back off up to
	// RetryMax until MaxEventAge, then the delivery is dead.
	FunctionRetries int
	RetryBase       time.Duration
	RetryMax        time.Duration
	MaxEventAge     time.Duration
	// BreakerMax deliveries of one (function, key) within BreakerWindow
	// trip the circuit breaker: further events of that key are recorded as
	// loop_terminated until the window has room again. It stops loops the
	// hop count cannot see (a function writing through the mount).
	BreakerMax    int
	BreakerWindow time.Duration
	// PollWait is how long one outbox read waits for new events.
	PollWait time.Duration
	// ConsumerName is the outbox cursor name.
	ConsumerName string
	// UseCgroups tries cgroup v2 limits before the rlimit fallback.
	UseCgroups bool
	Clock      Clock
	Logger     *slog.Logger
}

// DefaultOptions returns the documented defaults: Cognite's limits (10 min
// timeout, 1 CPU, 1.5 GB, 1 MB responses, 100 calls per function, 250 in all
// but at most 8 per core on small machines), hop limit 16, Lambda-like retries.
func DefaultOptions() Options {
	global := 250
	if n := 8 * runtime.NumCPU(); n < global {
		global = n
	}
	per := 100
	if per > global {
		per = global
	}
	return Options{
		Python: "python3",
		Limits: Limits{
			TimeoutMinutes: 10,
			CPUCores:       Range{Min: 0.1, Max: float64(runtime.NumCPU()), Default: 1},
			MemoryGB:       Range{Min: 0.1, Max: 5, Default: 1.5},
			Runtimes:       []string{"py311", "py312", "py313", "py314"},
			ResponseSizeMB: 1,
			MaxFunctions:   100, MaxSchedules: 1000, MaxSchedulesPerFn: 100,
			MaxConcurrentCalls: global, MaxConcurrentPerFn: per,
			MaxInputBytes: 9 << 20, MaxLogBytes: 1 << 20, MaxCodeBytes: 64 << 20,
			AccessRequestsPerMin: 100,
		},
		DefaultTimeout:  10 * time.Minute,
		KillGrace:       3 * time.Second,
		DeployTimeout:   60 * time.Second,
		LineLimit:       16 << 10,
		MisfireGrace:    time.Hour,
		HopLimit:        16,
		FunctionRetries: 2,
		RetryBase:       time.Minute,
		RetryMax:        5 * time.Minute,
		MaxEventAge:     6 * time.Hour,
		BreakerMax:      100,
		BreakerWindow:   time.Minute,
		PollWait:        time.Second,
		ConsumerName:    "functions",
		UseCgroups:      true,
	}
}
