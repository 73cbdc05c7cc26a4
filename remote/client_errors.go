package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// Error is a failed remote call. It matches its storage sentinel with
// errors.Is (Kind) and says whether trying again may help (Retryable).
type Error struct {
	Method, URL string
	// Status is the HTTP status, 0 for a transport failure.
	Status int
	// Message is the server's "message" (or the transport error text).
	Message string
	// Kind is the storage sentinel (storage.ErrNotFound, ...).
	Kind error
	// Retryable reports that the same request may succeed later.
	Retryable bool
	// RetryAfter is the server's Retry-After, if any.
	RetryAfter time.Duration
	// Err is the underlying transport error, if any.
	Err error
}

func (e *Error) Error() string {
	where := e.Method + " " + redactURL(e.URL)
	switch {
	case e.Status == 0:
		return fmt.Sprintf("%s: %v: %s", where, e.Kind, e.Message)
	case e.Message != "":
		return fmt.Sprintf("%s: %d %v: %s", where, e.Status, e.Kind, e.Message)
	default:
		return fmt.Sprintf("%s: %d %v", where, e.Status, e.Kind)
	}
}

// Unwrap lets errors.Is match both the storage sentinel and the transport error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// IsRetryable reports whether err is a remote failure that may go away when
// the same call is made again (network trouble, 429, 502/503/504). Caller
// cancellation and every answer about the request itself are permanent.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable
	}
	return false
}

// redactURL drops an access_token from a URL before it is logged.
func redactURL(s string) string {
	if i := strings.Index(s, "access_token="); i >= 0 {
		j := strings.IndexByte(s[i:], '&')
		if j < 0 {
			return s[:i] + "access_token=REDACTED"
		}
		return s[:i] + "access_token=REDACTED" + s[i+j:]
	}
	return s
}

// wireError is the JSON error body of Invenio (and of our server).
type wireError struct {
	Status  int     `json:"status"`
	Message *string `json:"message"`
	// Kind is our server's error kind (remote-api.md); Invenio has none.
	Kind   string `json:"error"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// responseError turns a non-2xx response into an *Error. It reads (a bounded
// part of) the body and closes it.
func responseError(req *http.Request, resp *http.Response) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	drain(resp.Body)
	e := &Error{Method: req.Method, URL: req.URL.String(), Status: resp.StatusCode}
	var we wireError
	if json.Unmarshal(body, &we) == nil {
		if we.Message != nil {
			e.Message = *we.Message
		}
		for _, fe := range we.Errors {
			if fe.Field != "" {
				e.Message += fmt.Sprintf(" (%s: %s)", fe.Field, fe.Message)
			} else if fe.Message != "" {
				e.Message += " (" + fe.Message + ")"
			}
		}
	} else if len(body) > 0 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		e.Message = strings.TrimSpace(string(body[:min(len(body), 200)]))
	}
	// A specific kind from our server wins; a generic one ("invalid" on a
	// 400) may hide a catalogue message that says more (quota, key, size).
	e.Kind = kindSentinel(we.Kind)
	if e.Kind == nil || e.Kind == storage.ErrInvalid || e.Kind == storage.ErrPermission || e.Kind == storage.ErrUnavailable {
		e.Kind = statusKind(resp.StatusCode, e.Message)
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.Retryable = true
	}
	return e
}

// kindSentinel maps our server's "error" field to a storage sentinel (nil:
// absent or unknown, fall back to the status).
func kindSentinel(kind string) error {
	switch kind {
	case "not_found":
		return storage.ErrNotFound
	case "exists":
		return storage.ErrExists
	case "invalid_key":
		return storage.ErrInvalidKey
	case "invalid", "validation", "method":
		return storage.ErrInvalid
	case "locked":
		return storage.ErrLocked
	case "quota_exceeded":
		return storage.ErrQuotaExceeded
	case "too_large":
		return storage.ErrTooLarge
	case "conflict":
		return storage.ErrConflict
	case "not_empty":
		return storage.ErrNotEmpty
	case "short_body":
		return storage.ErrShortBody
	case "checksum":
		return storage.ErrChecksum
	case "no_space":
		return storage.ErrNoSpace
	case "permission", "token":
		return storage.ErrPermission
	case "unavailable", "internal":
		return storage.ErrUnavailable
	}
	return nil
}

// statusKind maps a status and the server's message to a storage sentinel.
// Invenio tells several kinds apart only by message under one status (400
// for quota, size and short bodies; 403 for locks and permissions), so the
// catalogue of spec §5.2 is matched here, in one place, and an unknown
// message falls back to the status's general kind.
func statusKind(status int, msg string) error {
	m := strings.ToLower(msg)
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(m, x) {
				return true
			}
		}
		return false
	}
	switch status {
	case http.StatusBadRequest:
		// Match the catalogue's messages exactly (by prefix): a store's
		// free-text detail ("part size too large") must not be mistaken
		// for a quota answer.
		pre := func(s ...string) bool {
			for _, x := range s {
				if strings.HasPrefix(m, x) {
					return true
				}
			}
			return false
		}
		switch {
		case pre("bucket quota exceeded"):
			return storage.ErrQuotaExceeded
		case pre("maximum file size exceeded", "file size limit exceeded"):
			return storage.ErrTooLarge
		case pre("file is smaller than expected"):
			return storage.ErrShortBody
		case pre("filename is too long", "invalid key"):
			return storage.ErrInvalidKey
		case pre("not all parts have been uploaded"):
			return storage.ErrConflict
		}
		return storage.ErrInvalid
	case http.StatusUnauthorized:
		return storage.ErrPermission
	case http.StatusForbidden:
		switch {
		case has("locked"):
			return storage.ErrLocked
		case has("already completed"):
			return storage.ErrConflict
		}
		return storage.ErrPermission
	case http.StatusNotFound, http.StatusGone:
		return storage.ErrNotFound
	case http.StatusConflict:
		switch {
		case has("already exists", "name taken", "exists"):
			if has("target") {
				return storage.ErrConflict
			}
			return storage.ErrExists
		case has("not empty"):
			return storage.ErrNotEmpty
		}
		return storage.ErrConflict
	case http.StatusPreconditionFailed:
		return storage.ErrConflict
	case http.StatusRequestEntityTooLarge:
		return storage.ErrTooLarge
	case http.StatusRequestedRangeNotSatisfiable, http.StatusUnprocessableEntity,
		http.StatusMethodNotAllowed, http.StatusNotAcceptable, http.StatusLengthRequired:
		return storage.ErrInvalid
	case http.StatusInsufficientStorage:
		return storage.ErrNoSpace
	case http.StatusTooManyRequests:
		return storage.ErrUnavailable
	}
	switch {
	case status >= 500:
		if has("checksum") {
			return storage.ErrChecksum
		}
		return storage.ErrUnavailable
	case status >= 400:
		return storage.ErrInvalid
	}
	return storage.ErrUnavailable
}

// transportError wraps a failure to get a response. sent reports whether
// the request may have reached the server (false: the dial failed, so even
// a non-idempotent request can be sent again).
func transportError(req *http.Request, err error) (e *Error, sent bool) {
	e = &Error{Method: req.Method, URL: req.URL.String(), Kind: storage.ErrUnavailable, Err: err,
		Message: err.Error(), Retryable: true}
	var op *net.OpError
	sent = true
	if errors.As(err, &op) && op.Op == "dial" {
		sent = false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) {
		sent = false
	}
	// A certificate the client does not trust will not become trusted by
	// asking again.
	if isCertError(err) {
		e.Retryable = false
	}
	return e, sent
}

func isCertError(err error) bool {
	var ve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
