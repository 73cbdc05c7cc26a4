package functions

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// Token is what a per-call Access Service token stands for. Only the
// SHA-256 of the token is stored; the token itself goes to the call's
// request body (not its environment, so children do not inherit it).
type Token struct {
	Hash       string   `json:"-"`
	CallID     int64    `json:"callId"`
	FunctionID int64    `json:"functionId"`
	Principal  string   `json:"principal,omitempty"`
	Buckets    []string `json:"buckets,omitempty"` // empty = every bucket
	Hops       int      `json:"hops"`              // hop count of the event that caused the call
	Expires    int64    `json:"expires"`
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// callToken is the secret of one attempt and its stored hash.
type callToken struct {
	secret, hash string
}

// newCallToken makes a fresh 256-bit token (not yet stored).
func newCallToken() (*callToken, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	tok := "fx_" + base64.RawURLEncoding.EncodeToString(b[:])
	return &callToken{secret: tok, hash: hashToken(tok)}, nil
}

func tokenRecord(call *Call, f *Function, principal string, hops int, expires time.Time) *Token {
	return &Token{CallID: call.ID, FunctionID: f.ID, Principal: principal, Buckets: f.AccessBuckets,
		Hops: hops, Expires: ms(expires)}
}

// mintToken stores a fresh token for one call attempt.
func (s *Service) mintToken(call *Call, f *Function, principal string, hops int, expires time.Time) (*callToken, error) {
	t, err := newCallToken()
	if err != nil {
		return nil, err
	}
	rec := tokenRecord(call, f, principal, hops, expires)
	return t, update(s.db, func(tx metadata.Tx) error { return putJSON(tx, kToken(t.hash), rec) })
}

// revokeToken deletes a token before its call ends.
func (s *Service) revokeToken(t *callToken) {
	update(s.db, func(tx metadata.Tx) error { return tx.Delete(kToken(t.hash)) })
	s.limiter.forget(t.hash)
}

// Authenticate checks a bearer token and counts the request against the
// token's rate limit: ErrUnauthorized for unknown, revoked or expired
// tokens, a *RateLimitError (ErrRateLimited) past 100 requests a minute.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*Token, error) {
	if bearer == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrUnauthorized)
	}
	h := hashToken(bearer)
	var t Token
	err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kToken(h), &t) })
	if err != nil {
		return nil, fmt.Errorf("%w: unknown or revoked token", ErrUnauthorized)
	}
	now := s.clock.Now()
	if ms(now) > t.Expires {
		return nil, fmt.Errorf("%w: token expired", ErrUnauthorized)
	}
	t.Hash = h
	if wait, ok := s.limiter.allow(h, now); !ok {
		return nil, &RateLimitError{RetryAfter: wait}
	}
	return &t, nil
}

// WriteContext returns ctx carrying the origin of writes made for the
// token's call: kind "function", one hop more than the causing event.
func (t *Token) WriteContext(ctx context.Context) context.Context {
	return storage.WithOrigin(ctx, storage.Origin{Kind: "function", Hops: t.Hops + 1,
		FunctionID: strconv.FormatInt(t.FunctionID, 10), CallID: strconv.FormatInt(t.CallID, 10)})
}

// rateLimiter is a rolling-window counter per token: at most n requests in
// any 60 s. It keeps the times of the last n requests (a ring), so the
// window is exact, unlike a token bucket that lets ~2n through a minute.
type rateLimiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	rings  map[string]*ring
}

type ring struct {
	times []time.Time
	next  int
}

func newRateLimiter(n int) *rateLimiter {
	if n <= 0 {
		n = 100
	}
	return &rateLimiter{n: n, window: time.Minute, rings: map[string]*ring{}}
}

// allow records a request at now, or says how long until one is allowed.
func (l *rateLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.rings[key]
	if r == nil {
		r = &ring{times: make([]time.Time, 0, l.n)}
		l.rings[key] = r
	}
	if len(r.times) < l.n {
		r.times = append(r.times, now)
		return 0, true
	}
	oldest := r.times[r.next]
	if now.Sub(oldest) < l.window {
		wait := l.window - now.Sub(oldest)
		if wait < time.Second {
			wait = time.Second
		}
		return wait, false
	}
	r.times[r.next] = now
	r.next = (r.next + 1) % l.n
	return 0, true
}

// sweep drops keys whose newest request left the window.
func (l *rateLimiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, r := range l.rings {
		newest := r.times[len(r.times)-1]
		if len(r.times) == l.n {
			newest = r.times[(r.next+l.n-1)%l.n]
		}
		if now.Sub(newest) >= l.window {
			delete(l.rings, k)
		}
	}
}

func (l *rateLimiter) forget(key string) {
	l.mu.Lock()
	delete(l.rings, key)
	l.mu.Unlock()
}
