package storage

import (
	"context"
	"io"
	"time"
)

// ObjectStore is the object store as the mount, the sync engine and the
// functions see it. Two implementations: *Store (a local data directory) and
// remote.Client (a bucketfs server over HTTP). Both pass storetest's contract
// suite. Buckets are addressed by id or by name wherever a bucket argument
// appears.
type ObjectStore interface {
	CreateBucket(ctx context.Context, opts BucketOptions) (*Bucket, error)
	GetBucket(ctx context.Context, bucket string) (*Bucket, error)
	ListBuckets(ctx context.Context) ([]*Bucket, error)
	UpdateBucket(ctx context.Context, bucket string, u BucketUpdate) (*Bucket, error)
	// DeleteBucket soft-deletes a bucket (Invenio's Bucket.delete). With
	// onlyIfEmpty it refuses with ErrNotEmpty while the bucket has a live head.
	DeleteBucket(ctx context.Context, bucket string, onlyIfEmpty bool) error

	// Put streams r into a new head version of key. opts.Size < 0 means unknown.
	Put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (*ObjectVersion, error)
	// Stat returns a version; versionID "" means the head, and a head that is
	// a delete marker is ErrNotFound.
	Stat(ctx context.Context, bucket, key, versionID string) (*ObjectVersion, error)
	// Get opens bytes [offset, offset+length) of a version (length < 0: to the end).
	Get(ctx context.Context, bucket, key, versionID string, offset, length int64) (io.ReadCloser, *ObjectVersion, error)
	// List lists heads (or every version with opts.Versions) in key order.
	List(ctx context.Context, bucket string, opts ListOptions) (*ListResult, error)
	// Versions lists every version of key, newest first, delete markers included.
	Versions(ctx context.Context, bucket, key string) ([]*ObjectVersion, error)
	// Delete writes a delete marker as the new head (ErrNotFound if there is no live head).
	Delete(ctx context.Context, bucket, key string, opts DeleteOptions) (*ObjectVersion, error)
	// RemoveVersion removes one version permanently; the head moves to the
	// newest remaining version, and the blob is freed once unreferenced.
	RemoveVersion(ctx context.Context, bucket, key, versionID string) error
	// Restore makes a copy of an old version the new head of its key.
	Restore(ctx context.Context, bucket, key, versionID string) (*ObjectVersion, error)
	// Copy makes a new head at dst pointing at the same file (no bytes copied).
	Copy(ctx context.Context, src CopySource, dstBucket, dstKey string, opts PutOptions) (*ObjectVersion, error)
	// SetAttrs replaces the POSIX attributes of a version in place (no new version).
	SetAttrs(ctx context.Context, bucket, key, versionID string, attrs map[string]string) (*ObjectVersion, error)

	InitMultipart(ctx context.Context, bucket, key string, size, partSize int64, opts PutOptions) (*Multipart, error)
	// UploadPart writes part n (from 0) of exactly its size at its offset.
	UploadPart(ctx context.Context, uploadID string, n int, r io.Reader, size int64) (*Part, error)
	GetMultipart(ctx context.Context, uploadID string) (*Multipart, error)
	ListParts(ctx context.Context, uploadID string) ([]*Part, error)
	ListMultiparts(ctx context.Context, bucket string) ([]*Multipart, error)
	// CompleteMultipart needs every part; the new head appears in O(1).
	CompleteMultipart(ctx context.Context, uploadID string) (*ObjectVersion, error)
	AbortMultipart(ctx context.Context, uploadID string) error

	Close() error
}

// Mover is an optional ability: move a key, or every key under a prefix
// ending in "/", to a new name in one atomic step (a rename on the mount).
// Implementations without it are driven by Copy + Delete per key.
type Mover interface {
	Move(ctx context.Context, bucket, src, dst string) error
}

// EventSource is an optional ability: read the event outbox after a sequence
// number, waiting up to wait for the first event when there is none yet.
type EventSource interface {
	Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]Event, error)
}

// BlobOpener is an optional ability of stores with local blobs: open a
// version's content for random access without a stream per read.
type BlobOpener interface {
	OpenBlob(ctx context.Context, v *ObjectVersion) (BlobReader, error)
}

// BlobReader is random access to one blob.
type BlobReader interface {
	io.ReaderAt
	io.Closer
}

// BucketOptions are the settings of a new bucket.
type BucketOptions struct {
	Name         string // optional unique name
	Location     string // "" = the default location
	StorageClass string // "" = "S"
	QuotaSize    int64  // 0 = unlimited
	MaxFileSize  int64  // 0 = unlimited
	Tags         map[string]string
}

// BucketUpdate changes the fields that are set.
type BucketUpdate struct {
	Locked      *bool
	QuotaSize   *int64
	MaxFileSize *int64
	Tags        map[string]string // nil = unchanged
}

// PutOptions apply to a new version.
type PutOptions struct {
	Size int64 // announced size; < 0 unknown
	// IfMatch, when set, is the version id the head must still have ("null"
	// means there must be no live head): conflict-free writes.
	IfMatch  string
	Mimetype string // "" = guessed from the key
	Tags     map[string]string
	Attrs    map[string]string
	// NoSync: the put returns once committed to the store's log and page
	// cache (it survives a crash of this process); it is made power-loss
	// durable by the next synced commit, by Store.Sync, or within about a
	// second. Stores without the ability treat every put as synced.
	NoSync bool
	// InlineMD5 computes the MD5 in the put's own pass whatever the size
	// (by default objects over 64 MiB get it from a background checksummer
	// right after the put; see MD5Ensurer), e.g. for a response that
	// carries the checksum.
	InlineMD5 bool
}

// DeleteOptions apply to Delete.
type DeleteOptions struct {
	IfMatch string
	// NoSync is PutOptions.NoSync for the delete marker.
	NoSync bool
}

// CopySource names the version to copy ("" version = the head).
type CopySource struct {
	Bucket, Key, VersionID string
}

// ListOptions select a listing page.
type ListOptions struct {
	Prefix    string
	Delimiter string // "/" groups keys below the next "/" into Prefixes
	// After resumes after this key (the Next of the previous page).
	After string
	Limit int // 0 = 1000
	// Versions lists every version with a file, not only heads.
	Versions bool
	// At, when not zero, lists the heads as they were at that time.
	At time.Time
}

// ListResult is one page.
type ListResult struct {
	Objects  []*ObjectVersion
	Prefixes []string // common prefixes, each ending in the delimiter
	// Next is the cursor of the next page, "" at the end.
	Next string
}
