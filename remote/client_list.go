package remote

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// maxListLimit is the server's page cap (Invenio's silent 1000-row limit;
// our server pages beyond it with "next").
const maxListLimit = 1000

// List reads one page of a bucket listing (GET /files/{b}[?versions] with
// the extension's limit, after, prefix, delimiter and at).
func (c *Client) List(ctx context.Context, bucket string, opts storage.ListOptions) (*storage.ListResult, error) {
	if bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket", storage.ErrInvalid)
	}
	limit := opts.Limit
	if limit <= 0 || limit > maxListLimit {
		limit = maxListLimit
	}
	q := query("limit", strconv.Itoa(limit))
	if opts.Versions {
		q.Set("versions", "")
	}
	if opts.Prefix != "" {
		q.Set("prefix", opts.Prefix)
	}
	if opts.Delimiter != "" {
		q.Set("delimiter", opts.Delimiter)
	}
	if opts.After != "" {
		q.Set("after", opts.After)
	}
	if !opts.At.IsZero() {
		q.Set("at", opts.At.UTC().Format(time.RFC3339Nano))
	}
	r := newRequest(http.MethodGet, c.filesURL(bucket, "", q))
	r.idempotent = true
	var w wireListing
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	res := &storage.ListResult{Prefixes: w.Prefixes, Next: w.Next}
	res.Objects = make([]*storage.ObjectVersion, 0, len(w.Contents))
	for i := range w.Contents {
		v := w.Contents[i].version()
		if v.BucketID == "" {
			v.BucketID = w.ID
		}
		res.Objects = append(res.Objects, v)
	}
	return res, nil
}
