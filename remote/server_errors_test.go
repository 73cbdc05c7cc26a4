package remote

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// TestStatusOf: the one error -> status mapping, through wrapping.
func TestStatusOf(t *testing.T) {
	cases := []struct {
		err    error
		status int
		kind   string
	}{
		{fmt.Errorf("get: %w", storage.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("%w: key has a \"..\" segment", storage.ErrInvalidKey), 400, "invalid_key"},
		{storage.ErrLocked, 403, "locked"},
		{storage.ErrQuotaExceeded, 400, "quota_exceeded"},
		{storage.ErrTooLarge, 400, "too_large"},
		{fmt.Errorf("put: %w", storage.ErrShortBody), 400, "short_body"},
		{io.ErrUnexpectedEOF, 400, "short_body"},
		{storage.ErrConflict, 412, "conflict"},
		{storage.ErrExists, 409, "exists"},
		{storage.ErrNotEmpty, 409, "not_empty"},
		{storage.ErrNoSpace, 507, "no_space"},
		{storage.ErrUnavailable, 503, "unavailable"},
		{storage.ErrChecksum, 500, "checksum"},
		{storage.ErrPermission, 403, "permission"},
		{ErrUnauthenticated, 401, "permission"},
		{ErrTokenInvalid, 401, "token"},
		{context.Canceled, 503, "unavailable"},
		{&http.MaxBytesError{Limit: 1}, 413, "too_large"},
		{validationErr("versionId", "Not a valid UUID."), 422, "validation"},
		{apiErrNull(400), 400, "invalid"},
		{fmt.Errorf("boom"), 500, "internal"},
	}
	for _, c := range cases {
		st, body := StatusOf(c.err)
		if st != c.status || body.Status != c.status || body.Kind != c.kind {
			t.Errorf("StatusOf(%v) = %d %+v, want %d kind %q", c.err, st, body, c.status, c.kind)
		}
	}
	if _, body := StatusOf(apiErrNull(400)); body.Message != nil {
		t.Error("null message lost")
	}
	if _, body := StatusOf(fmt.Errorf("%w: key has 300 characters, at most 255 allowed", storage.ErrInvalidKey)); *body.Message != "Filename is too long." {
		t.Errorf("long key message %q", *body.Message)
	}
}
