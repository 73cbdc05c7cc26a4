package remote

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// maxEventWait is the server's cap on a long poll.
const maxEventWait = 60 * time.Second

// Events reads the server's event outbox after sequence number after
// (GET {prefix}/events, extension), long-polling up to wait for the first one.
func (c *Client) Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]storage.Event, error) {
	if wait > maxEventWait {
		wait = maxEventWait
	}
	if wait < 0 {
		wait = 0
	}
	q := query("after", strconv.FormatUint(after, 10))
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	r := newRequest(http.MethodGet, c.apiURL("/events", q))
	r.idempotent = true
	r.extraWait = wait
	var w struct {
		Events []storage.Event `json:"events"`
	}
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	return w.Events, nil
}
