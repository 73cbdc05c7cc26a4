package remote

import (
	"context"
	"fmt"
	"net/http"

	"github.com/bucketfs/bucketfs/storage"
)

// wireBucketCreate is the extension body of POST /files.
type wireBucketCreate struct {
	Name         string            `json:"name,omitempty"`
	Location     string            `json:"location,omitempty"`
	StorageClass string            `json:"storage_class,omitempty"`
	QuotaSize    int64             `json:"quota_size,omitempty"`
	MaxFileSize  int64             `json:"max_file_size,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
}

// CreateBucket creates a bucket (POST /files; our extension body carries the
// options). It is not resent once it may have reached the server: a lost
// answer would otherwise create two buckets.
func (c *Client) CreateBucket(ctx context.Context, opts storage.BucketOptions) (*storage.Bucket, error) {
	r := newRequest(http.MethodPost, c.filesURL("", "", nil))
	body := wireBucketCreate{Name: opts.Name, Location: opts.Location, StorageClass: opts.StorageClass,
		QuotaSize: opts.QuotaSize, MaxFileSize: opts.MaxFileSize, Tags: opts.Tags}
	if body.Name != "" || body.Location != "" || body.StorageClass != "" || body.QuotaSize != 0 ||
		body.MaxFileSize != 0 || len(body.Tags) > 0 {
		if err := r.jsonBody(body); err != nil {
			return nil, err
		}
	}
	var w wireBucket
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	return w.bucket(), nil
}

// GetBucket reads a bucket by id or name (GET /files/{b}, one listing row).
func (c *Client) GetBucket(ctx context.Context, bucket string) (*storage.Bucket, error) {
	if bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket", storage.ErrInvalid)
	}
	r := newRequest(http.MethodGet, c.filesURL(bucket, "", query("limit", "1")))
	r.idempotent = true
	var w wireListing
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	return w.wireBucket.bucket(), nil
}

// ListBuckets lists the buckets the token may read (GET /files, extension).
func (c *Client) ListBuckets(ctx context.Context) ([]*storage.Bucket, error) {
	r := newRequest(http.MethodGet, c.filesURL("", "", nil))
	r.idempotent = true
	var w struct {
		Buckets []wireBucket `json:"buckets"`
	}
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	out := make([]*storage.Bucket, 0, len(w.Buckets))
	for i := range w.Buckets {
		out = append(out, w.Buckets[i].bucket())
	}
	return out, nil
}

// UpdateBucket changes the set fields (PUT /files/{b}, extension). Setting
// values is idempotent, so it is retried.
func (c *Client) UpdateBucket(ctx context.Context, bucket string, u storage.BucketUpdate) (*storage.Bucket, error) {
	if bucket == "" {
		return nil, fmt.Errorf("%w: empty bucket", storage.ErrInvalid)
	}
	body := map[string]any{}
	if u.Locked != nil {
		body["locked"] = *u.Locked
	}
	if u.QuotaSize != nil {
		body["quota_size"] = *u.QuotaSize
	}
	if u.MaxFileSize != nil {
		body["max_file_size"] = *u.MaxFileSize
	}
	if u.Tags != nil {
		body["tags"] = u.Tags
	}
	r := newRequest(http.MethodPut, c.filesURL(bucket, "", nil))
	r.idempotent = true
	if err := r.jsonBody(body); err != nil {
		return nil, err
	}
	var w wireBucket
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	return w.bucket(), nil
}

// DeleteBucket soft-deletes a bucket (DELETE /files/{b}[?onlyIfEmpty]).
func (c *Client) DeleteBucket(ctx context.Context, bucket string, onlyIfEmpty bool) error {
	if bucket == "" {
		return fmt.Errorf("%w: empty bucket", storage.ErrInvalid)
	}
	q := query()
	if onlyIfEmpty {
		q.Set("onlyIfEmpty", "")
	}
	r := newRequest(http.MethodDelete, c.filesURL(bucket, "", q))
	r.idempotent = true
	r.goneOK = true
	return c.do(ctx, r, nil)
}
