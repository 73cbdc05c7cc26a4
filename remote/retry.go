package remote

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the retries of one call. A failure is retried only
// when it is retryable (network trouble, 429, 502, 503, 504, a stalled
// transfer) and sending the request again cannot apply it twice: the request
// is idempotent (GET, HEAD, a part upload, a write guarded by If-Match), or
// it never reached the server (a failed dial, 429 and 503 answers). Caller
// cancellation is never retried. Bodies that cannot be rewound are resent
// only when not a byte of them was read.
type RetryPolicy struct {
	// MaxAttempts is the number of tries in total (1 = no retries).
	MaxAttempts int
	// InitialBackoff is the wait before the second try; it doubles per try,
	// with ±20 % jitter, up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxRetryAfter caps how long a server's Retry-After is honoured; a longer
	// one ends the retries (the caller gets the retryable error and decides).
	MaxRetryAfter time.Duration
}

// DefaultRetryPolicy returns 6 tries over about 15 s, honouring Retry-After
// up to 2 minutes.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:    6,
		InitialBackoff: 500 * time.Millisecond,
		MaxBackoff:     30 * time.Second,
		MaxRetryAfter:  2 * time.Minute,
	}
}

// NoRetry is a policy of exactly one try.
func NoRetry() RetryPolicy { return RetryPolicy{MaxAttempts: 1} }

// backoff is the wait before try number attempt+1 (attempt counts from 1).
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.InitialBackoff
	if d <= 0 {
		d = 500 * time.Millisecond
	}
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	if p.MaxBackoff > 0 && d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	// Jitter spreads the retries of many clients hit by the same outage.
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// wait decides whether to try again after e on try number attempt, and how
// long to wait first. The Retry-After of a 429/503 overrides the backoff.
func (p RetryPolicy) wait(attempt int, e *Error) (time.Duration, bool) {
	if !e.Retryable || attempt >= max(p.MaxAttempts, 1) {
		return 0, false
	}
	if e.RetryAfter > 0 {
		if p.MaxRetryAfter > 0 && e.RetryAfter > p.MaxRetryAfter {
			return 0, false
		}
		return e.RetryAfter, true
	}
	return p.backoff(attempt), true
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > 86400 {
			n = 86400
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
