package syncer

import (
	"log/slog"
	"time"
)

// Mode is the direction a folder syncs in.
type Mode string

// Sync directions.
const (
	ModePush Mode = "push" // local changes go to the bucket (default)
	ModePull Mode = "pull" // bucket changes come to the folder
	ModeBoth Mode = "both" // both; conflicts keep both sides
)

// FolderConfig names one local folder and where it goes.
type FolderConfig struct {
	Path   string `yaml:"path" json:"path"`
	Bucket string `yaml:"bucket" json:"bucket"`
	// Prefix is prepended to every key (e.g. "laptop/"); "" = bucket root.
	Prefix string `yaml:"prefix" json:"prefix,omitempty"`
	Mode   Mode   `yaml:"mode" json:"mode,omitempty"`
}

// Options tune the engine. Durations of 0 are taken from DefaultOptions.
type Options struct {
	// Delay is how long a path must be quiet before it is synced.
	Delay time.Duration
	// MaxDelay forces a path that never settles through after this long.
	MaxDelay time.Duration
	// DeleteDelay holds deletes so they can pair with creates (atomic saves,
	// renames).
	DeleteDelay time.Duration
	// MinAge is the minimum mtime age before a file is hashed (Nextcloud's
	// "still being written" rule). Also capped by MaxDelay.
	MinAge time.Duration
	// RescanInterval is the periodic full rescan (jittered ±25 %).
	RescanInterval time.Duration
	// PollInterval is the full rescan period when watches are not available.
	PollInterval time.Duration
	// RemotePollInterval is how often pull mode lists the bucket.
	RemotePollInterval time.Duration
	// MultipartThreshold: larger files go multipart.
	MultipartThreshold int64
	// PartSize is the minimum part size (grown to fit 9,500 parts).
	PartSize int64
	// PartsInFlight per file.
	PartsInFlight int
	// BytesInFlight is the global budget of payload bytes being sent or
	// buffered (small-file snapshots and parts).
	BytesInFlight int64
	// Concurrency is the number of files uploaded at once.
	Concurrency int
	// MaxDelete refuses a pass deleting more files than this ...
	MaxDelete int
	// MaxDeletePercent ... or more than this share of the tracked files.
	MaxDeletePercent float64
	// ConflictCopy writes our side of a conflict to a *.sync-conflict-* key
	// instead of stacking it on top of the other writer's version.
	ConflictCopy bool
	// SessionMaxAge aborts journaled uploads older than this at startup.
	SessionMaxAge time.Duration
	// RetryMin and RetryMax bound the exponential backoff (±20 % jitter).
	RetryMin, RetryMax time.Duration
	// NoWatch disables fsnotify (polling only).
	NoWatch bool
	// MaxWatches, when > 0, simulates the kernel limit (tests, and users
	// who want to leave watches to other programs).
	MaxWatches int
	// Hostname goes into conflict copy names.
	Hostname string
	// Logger receives warnings and errors (nil = silent).
	Logger *slog.Logger
	// Events receives progress events (nil = none). Called from many
	// goroutines; must not block for long.
	Events func(Event)
	// StatusFile, if set, is rewritten about once a second with the state.
	StatusFile string
	// IsRetryable and RetryAfter let the store's client classify its own
	// errors (cmd wires remote.IsRetryable); the built-in rules apply too.
	IsRetryable func(error) bool
	RetryAfter  func(error) time.Duration
	// Hooks for crash tests: called at named points ("part-acked",
	// "before-complete", "after-complete", "after-journal", "put-done").
	Hook func(point string)
}

// DefaultOptions are the design note's defaults.
func DefaultOptions() Options {
	return Options{
		Delay:              2 * time.Second,
		MaxDelay:           30 * time.Second,
		DeleteDelay:        10 * time.Second,
		MinAge:             2 * time.Second,
		RescanInterval:     time.Hour,
		PollInterval:       60 * time.Second,
		RemotePollInterval: 30 * time.Second,
		MultipartThreshold: 16 << 20,
		PartSize:           16 << 20,
		PartsInFlight:      4,
		BytesInFlight:      256 << 20,
		Concurrency:        16,
		MaxDelete:          1000,
		MaxDeletePercent:   20,
		SessionMaxAge:      72 * time.Hour,
		RetryMin:           time.Second,
		RetryMax:           60 * time.Second,
	}
}

func (o *Options) fill() {
	d := DefaultOptions()
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setD(&o.Delay, d.Delay)
	setD(&o.MaxDelay, d.MaxDelay)
	setD(&o.DeleteDelay, d.DeleteDelay)
	setD(&o.RescanInterval, d.RescanInterval)
	setD(&o.PollInterval, d.PollInterval)
	setD(&o.RemotePollInterval, d.RemotePollInterval)
	setD(&o.SessionMaxAge, d.SessionMaxAge)
	setD(&o.RetryMin, d.RetryMin)
	setD(&o.RetryMax, d.RetryMax)
	if o.MinAge < 0 {
		o.MinAge = 0
	}
	if o.MultipartThreshold <= 0 {
		o.MultipartThreshold = d.MultipartThreshold
	}
	if o.PartSize <= 0 {
		o.PartSize = d.PartSize
	}
	if o.PartsInFlight <= 0 {
		o.PartsInFlight = d.PartsInFlight
	}
	if o.BytesInFlight <= 0 {
		o.BytesInFlight = d.BytesInFlight
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.MaxDelete == 0 {
		o.MaxDelete = d.MaxDelete
	}
	if o.MaxDeletePercent == 0 {
		o.MaxDeletePercent = d.MaxDeletePercent
	}
	if o.Hostname == "" {
		o.Hostname = hostname()
	}
}
