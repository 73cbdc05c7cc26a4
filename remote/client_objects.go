package remote

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/bucketfs/bucketfs/storage"
)

func checkBucketKey(bucket, key string) error {
	if bucket == "" {
		return fmt.Errorf("%w: empty bucket", storage.ErrInvalid)
	}
	if key == "" {
		return fmt.Errorf("%w: empty key", storage.ErrInvalidKey)
	}
	return nil
}

// Stat returns one version as JSON (GET /files/{b}/{k}?stat[&versionId=V],
// extension). The head of a key whose head is a delete marker is not found.
func (c *Client) Stat(ctx context.Context, bucket, key, versionID string) (*storage.ObjectVersion, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	q := query("stat", "")
	if versionID != "" {
		q.Set("versionId", versionID)
	}
	r := newRequest(http.MethodGet, c.filesURL(bucket, key, q))
	r.idempotent = true
	var w wireObject
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	v := w.version()
	if v.Key == "" {
		v.Key = key
	}
	if versionID == "" && v.DeleteMarker() {
		return nil, &Error{Method: r.method, URL: r.url, Status: http.StatusNotFound, Kind: storage.ErrNotFound,
			Message: "head of " + key + " is a delete marker"}
	}
	return v, nil
}

// Versions lists every version of key, newest first, delete markers
// included (GET /files/{b}/{k}?versions, extension).
func (c *Client) Versions(ctx context.Context, bucket, key string) ([]*storage.ObjectVersion, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	r := newRequest(http.MethodGet, c.filesURL(bucket, key, query("versions", "")))
	r.idempotent = true
	var w struct {
		Contents []wireObject `json:"contents"`
	}
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	out := make([]*storage.ObjectVersion, 0, len(w.Contents))
	for i := range w.Contents {
		out = append(out, w.Contents[i].version())
	}
	return out, nil
}

// ifMatch sets the If-Match header of our extension: a version id, or
// "null" for "no live head".
func ifMatch(r *request, v string) {
	if v == "" {
		return
	}
	if v == "null" {
		r.header.Set("If-None-Match", "*")
		return
	}
	r.header.Set("If-Match", v)
	// A write guarded by the head's version cannot be applied twice: the
	// second try finds another head and fails with 412.
	r.idempotent = true
}

// Delete writes a delete marker (DELETE /files/{b}/{k}). Without IfMatch it
// is sent once when it may have reached the server: a resend could write a
// marker over a version written meanwhile by someone else.
func (c *Client) Delete(ctx context.Context, bucket, key string, opts storage.DeleteOptions) (*storage.ObjectVersion, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	r := newRequest(http.MethodDelete, c.filesURL(bucket, key, nil))
	ifMatch(r, opts.IfMatch)
	var marker string
	if err := c.do(ctx, r, func(resp *http.Response) error {
		marker = resp.Header.Get("X-Bucketfs-Version-Id")
		return nil
	}); err != nil {
		return nil, err
	}
	// Invenio answers 204 without a body. Our server may name the marker
	// in a header; otherwise the marker is the newest version.
	if marker != "" {
		if v, err := c.Stat(ctx, bucket, key, marker); err == nil {
			return v, nil
		}
	}
	vs, err := c.Versions(ctx, bucket, key)
	if err == nil && len(vs) > 0 && vs[0].DeleteMarker() {
		return vs[0], nil
	}
	return &storage.ObjectVersion{Key: key, IsHead: true}, nil
}

// RemoveVersion removes one version permanently (DELETE ?versionId=V). A
// resend that finds the version gone means the lost try removed it.
func (c *Client) RemoveVersion(ctx context.Context, bucket, key, versionID string) error {
	if err := checkBucketKey(bucket, key); err != nil {
		return err
	}
	if versionID == "" {
		return fmt.Errorf("%w: empty version id", storage.ErrInvalid)
	}
	r := newRequest(http.MethodDelete, c.filesURL(bucket, key, query("versionId", versionID)))
	r.idempotent = true
	r.goneOK = true
	return c.do(ctx, r, nil)
}

// Restore makes a copy of an old version the new head (POST ?restore&versionId=V).
func (c *Client) Restore(ctx context.Context, bucket, key, versionID string) (*storage.ObjectVersion, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	if versionID == "" {
		return nil, fmt.Errorf("%w: empty version id", storage.ErrInvalid)
	}
	r := newRequest(http.MethodPost, c.filesURL(bucket, key, query("restore", "", "versionId", versionID)))
	return c.objectCall(ctx, r)
}

// Copy makes a new head at dst with the file of src (POST ?copy, extension;
// no bytes are copied).
func (c *Client) Copy(ctx context.Context, src storage.CopySource, dstBucket, dstKey string, opts storage.PutOptions) (*storage.ObjectVersion, error) {
	if err := checkBucketKey(dstBucket, dstKey); err != nil {
		return nil, err
	}
	if err := storage.ValidateKey(dstKey); err != nil {
		return nil, err
	}
	if src.Bucket == "" {
		src.Bucket = dstBucket
	}
	r := newRequest(http.MethodPost, c.filesURL(dstBucket, dstKey, query("copy", "")))
	ifMatch(r, opts.IfMatch)
	body := map[string]any{"bucket": src.Bucket, "key": src.Key}
	if src.VersionID != "" {
		body["version_id"] = src.VersionID
	}
	if len(opts.Tags) > 0 {
		body["tags"] = opts.Tags
	}
	if len(opts.Attrs) > 0 {
		body["attrs"] = opts.Attrs
	}
	if opts.Mimetype != "" {
		body["mimetype"] = opts.Mimetype
	}
	if err := r.jsonBody(body); err != nil {
		return nil, err
	}
	return c.objectCall(ctx, r)
}

// SetAttrs replaces a version's attrs in place (POST ?attrs[&versionId=V]).
// Replacing with the same map twice is harmless, so it is retried.
func (c *Client) SetAttrs(ctx context.Context, bucket, key, versionID string, attrs map[string]string) (*storage.ObjectVersion, error) {
	if err := checkBucketKey(bucket, key); err != nil {
		return nil, err
	}
	q := query("attrs", "")
	if versionID != "" {
		q.Set("versionId", versionID)
	}
	r := newRequest(http.MethodPost, c.filesURL(bucket, key, q))
	r.idempotent = true
	if attrs == nil {
		attrs = map[string]string{}
	}
	if err := r.jsonBody(map[string]any{"attrs": attrs}); err != nil {
		return nil, err
	}
	return c.objectCall(ctx, r)
}

// Move renames a key, or every key under a prefix ending in "/", in one
// step (POST /files/{b}/{src}?move, extension).
func (c *Client) Move(ctx context.Context, bucket, src, dst string) error {
	if err := checkBucketKey(bucket, src); err != nil {
		return err
	}
	if err := storage.ValidateKey(dst); err != nil {
		return err
	}
	if strings.HasSuffix(src, "/") != strings.HasSuffix(dst, "/") {
		return fmt.Errorf("%w: move %q to %q: both or neither must end in /", storage.ErrInvalid, src, dst)
	}
	r := newRequest(http.MethodPost, c.filesURL(bucket, src, query("move", "")))
	if err := r.jsonBody(map[string]string{"to": dst}); err != nil {
		return err
	}
	return c.do(ctx, r, nil)
}

// objectCall sends r and parses an ObjectVersion answer.
func (c *Client) objectCall(ctx context.Context, r *request) (*storage.ObjectVersion, error) {
	var w wireObject
	if err := c.do(ctx, r, decodeJSON(&w)); err != nil {
		return nil, err
	}
	return w.version(), nil
}
