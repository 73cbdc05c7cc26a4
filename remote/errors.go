package remote

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/bucketfs/bucketfs/storage"
)

// Sentinel errors of the server side. The storage sentinels are mapped to
// statuses by StatusOf; these add what only HTTP knows about.
var (
	// ErrUnauthenticated: the request carries no token but the action is
	// refused visibly (401).
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the token does not allow a visibly refused action (403).
	ErrForbidden = errors.New("You do not have a permission for this action")
	// ErrTokenInvalid: the bearer token is unknown, expired or revoked (401).
	ErrTokenInvalid = errors.New("Token expired or revoked.")
)

// Werkzeug's standard descriptions, used as "message" where the reference
// answers with a plain abort (spec §5.1).
const (
	msg400 = "The browser (or proxy) sent a request that this server could not understand."
	msg401 = "The server could not verify that you are authorized to access the URL requested. You either supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to supply the credentials required."
	msg403 = "You don't have the permission to access the requested resource. It is either read-protected or not readable by the server."
	msg404 = "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again."
	msg405 = "The method is not allowed for the requested URL."
	msg406 = "The resource identified by the request is only capable of generating response entities which have content characteristics not acceptable according to the accept headers sent in the request."
	msg413 = "The data value transmitted exceeds the capacity limit."
	msg416 = "The server cannot provide the requested range."
	msg500 = "The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application."
)

// FieldError is one entry of a validation error's "errors" list.
type FieldError struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// APIError is an error with its HTTP answer already decided. Message nil is
// sent as JSON null, as the reference does for several errors.
type APIError struct {
	Status  int
	Message *string
	Errors  []FieldError
	// Allow is sent as the Allow header of a 405.
	Allow string
	// Cause, if any, is what errors.Is/As see through Unwrap.
	Cause error
}

func (e *APIError) Error() string {
	if e.Message != nil {
		return *e.Message
	}
	return http.StatusText(e.Status)
}

func (e *APIError) Unwrap() error { return e.Cause }

// apiErr builds an APIError with a message.
func apiErr(status int, msg string) *APIError {
	return &APIError{Status: status, Message: &msg}
}

// apiErrNull builds an APIError whose message is JSON null.
func apiErrNull(status int) *APIError { return &APIError{Status: status} }

// validationErr is the 422 of a malformed query parameter (spec §5.2).
func validationErr(field, msg string) *APIError {
	e := apiErr(http.StatusUnprocessableEntity, "Validation error.")
	e.Errors = []FieldError{{Field: field, Message: msg}}
	return e
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Status  int          `json:"status"`
	Message *string      `json:"message"`
	Errors  []FieldError `json:"errors,omitempty"`
	// Kind (our extension) names the error class so the Go client maps it
	// to a storage sentinel without parsing messages.
	Kind string `json:"error,omitempty"`
}

// errorKind names the class of err for the "error" field.
func errorKind(err error, status int) string {
	kinds := []struct {
		target error
		kind   string
	}{
		{ErrTokenInvalid, "token"}, {ErrUnauthenticated, "permission"}, {ErrForbidden, "permission"},
		{storage.ErrPermission, "permission"}, {storage.ErrNotFound, "not_found"}, {storage.ErrExists, "exists"},
		{storage.ErrInvalidKey, "invalid_key"}, {storage.ErrInvalid, "invalid"}, {storage.ErrLocked, "locked"},
		{storage.ErrQuotaExceeded, "quota_exceeded"}, {storage.ErrTooLarge, "too_large"},
		{storage.ErrConflict, "conflict"}, {storage.ErrNotEmpty, "not_empty"}, {storage.ErrShortBody, "short_body"},
		{io.ErrUnexpectedEOF, "short_body"}, {storage.ErrChecksum, "checksum"}, {storage.ErrNoSpace, "no_space"},
		{storage.ErrUnavailable, "unavailable"},
	}
	for _, k := range kinds {
		if errors.Is(err, k.target) {
			return k.kind
		}
	}
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "permission"
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		if status == http.StatusUnprocessableEntity {
			return "validation"
		}
		return "invalid"
	case http.StatusMethodNotAllowed, http.StatusNotAcceptable:
		return "method"
	case http.StatusPreconditionFailed:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusRequestTimeout:
		return "timeout"
	case http.StatusServiceUnavailable:
		return "unavailable"
	case http.StatusInsufficientStorage:
		return "no_space"
	}
	return "internal"
}

// StatusOf maps any error to its HTTP status and JSON body. It is the one
// place where error kinds become statuses (CONVENTIONS: one mapping
// function). Handlers that need a context-specific message (e.g. "Bucket does
// not exist." vs "Object does not exists.") wrap the error in an APIError
// before it gets here.
func StatusOf(err error) (int, errorBody) {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status, errorBody{Status: ae.Status, Message: ae.Message, Errors: ae.Errors, Kind: errorKind(ae, ae.Status)}
	}
	var mbe *http.MaxBytesError
	var ne net.Error
	status, msg := http.StatusInternalServerError, msg500
	switch {
	case errors.Is(err, ErrTokenInvalid):
		status, msg = http.StatusUnauthorized, ErrTokenInvalid.Error()
	case errors.Is(err, ErrUnauthenticated):
		status, msg = http.StatusUnauthorized, msg401
	case errors.Is(err, ErrForbidden), errors.Is(err, storage.ErrPermission):
		status, msg = http.StatusForbidden, ErrForbidden.Error()
	case errors.Is(err, storage.ErrNotFound):
		status, msg = http.StatusNotFound, trimSentinel(err)
	case errors.Is(err, storage.ErrInvalidKey):
		status, msg = http.StatusBadRequest, keyMessage(err)
	case errors.Is(err, storage.ErrInvalid):
		status, msg = http.StatusBadRequest, trimSentinel(err)
	case errors.Is(err, storage.ErrLocked):
		status, msg = http.StatusForbidden, "Bucket is locked for modifications."
	case errors.Is(err, storage.ErrQuotaExceeded):
		status, msg = http.StatusBadRequest, "Bucket quota exceeded."
	case errors.Is(err, storage.ErrTooLarge):
		status, msg = http.StatusBadRequest, "Maximum file size exceeded."
	case errors.Is(err, storage.ErrShortBody), errors.Is(err, io.ErrUnexpectedEOF):
		status, msg = http.StatusBadRequest, "File is smaller than expected."
	case errors.Is(err, storage.ErrConflict):
		status, msg = http.StatusPreconditionFailed, "Precondition failed: "+trimSentinel(err)
	case errors.Is(err, storage.ErrExists):
		status, msg = http.StatusConflict, "Already exists: "+trimSentinel(err)
	case errors.Is(err, storage.ErrNotEmpty):
		status, msg = http.StatusConflict, "Not empty: "+trimSentinel(err)
	case errors.As(err, &mbe):
		status, msg = http.StatusRequestEntityTooLarge, msg413
	case errors.Is(err, storage.ErrNoSpace):
		status, msg = http.StatusInsufficientStorage, "No space left on storage."
	case errors.Is(err, storage.ErrUnavailable):
		status, msg = http.StatusServiceUnavailable, "File storage is offline."
	case errors.Is(err, storage.ErrChecksum):
		status, msg = http.StatusInternalServerError, "Could not send file: checksum mismatch."
	case !errors.Is(err, context.DeadlineExceeded) && errors.As(err, &ne) && ne.Timeout():
		// A client that stopped sending its body (BodyIdleTimeout).
		status, msg = http.StatusRequestTimeout, "Request body timed out."
	case errors.Is(err, context.DeadlineExceeded):
		status, msg = http.StatusServiceUnavailable, "Request timed out."
	case errors.Is(err, context.Canceled):
		// The client is gone; nobody reads this answer.
		status, msg = http.StatusServiceUnavailable, "Request canceled."
	}
	return status, errorBody{Status: status, Message: &msg, Kind: errorKind(err, status)}
}

// trimSentinel keeps the detail a store put after the sentinel ("not found:
// bucket x" -> "bucket x") or the whole text when there is none.
func trimSentinel(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

// keyMessage names what is wrong with a key; the too-long case keeps the
// reference's wording so Invenio clients recognise it.
func keyMessage(err error) string {
	if strings.Contains(err.Error(), "characters, at most") {
		return "Filename is too long."
	}
	return "Invalid key: " + trimSentinel(err)
}
