package syncer

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is the delay before attempt n (n >= 1): exponential from min to
// max with ±20 % jitter, or the server's Retry-After when it asked for more.
func (o *Options) backoff(n int, err error) time.Duration {
	min, max := o.RetryMin, o.RetryMax
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if ra := o.retryAfter(err); ra > d {
		d = ra
	}
	return d
}

// retry runs fn until it succeeds, fails permanently, or attempts run out.
func (o *Options) retry(ctx context.Context, attempts int, fn func() error) error {
	var err error
	for n := 1; ; n++ {
		err = fn()
		if err == nil || !o.retryable(err) || n >= attempts || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(o.backoff(n, err))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
