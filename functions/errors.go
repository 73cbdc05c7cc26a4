package functions

import (
	"errors"
	"time"
)

// Sentinel errors of the functions package. The HTTP layer maps them to
// status codes (ErrNotFound 404, ErrInvalid 422/400, ErrConflict 409,
// ErrUnauthorized 401, ErrForbidden 403, ErrRateLimited 429).
var (
	// ErrNotFound: no such function, call, schedule, trigger, generator,
	// file object or delivery.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: malformed input; the message names the field and the rule.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict: a duplicate name or external id, a held file lock, a
	// lock id that does not match.
	ErrConflict = errors.New("conflict")
	// ErrUnauthorized: a missing, unknown, revoked or expired token.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the token does not grant access to the resource.
	ErrForbidden = errors.New("forbidden")
	// ErrRateLimited: the token used up its requests in the rolling window;
	// see RateLimitError for when to retry.
	ErrRateLimited = errors.New("rate limit exceeded")
	// ErrNotReady: the function is not deployed (status is not Ready).
	ErrNotReady = errors.New("function is not ready")
	// ErrLimit: an instance limit (number of functions, schedules, calls) is reached.
	ErrLimit = errors.New("limit reached")
	// ErrClosed: the service was closed.
	ErrClosed = errors.New("functions service closed")
)

// RateLimitError says how long to wait before the next request is allowed.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return "rate limit exceeded: at most 100 requests per minute per token; retry after " + e.RetryAfter.Round(time.Second).String()
}

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }
