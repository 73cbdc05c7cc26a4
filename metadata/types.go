package metadata

import "time"

// Bucket is a container of object versions (Invenio's Bucket), plus an optional
// unique human name (our extension, used as the directory name by the mount).
type Bucket struct {
	ID           string            `json:"id"`
	Name         string            `json:"name,omitempty"`
	Location     string            `json:"location"`
	StorageClass string            `json:"storage_class"` // "S" standard, "A" archive
	Size         int64             `json:"size"`          // bytes of every version + multipart reservations
	QuotaSize    int64             `json:"quota_size"`    // 0 = unlimited
	MaxFileSize  int64             `json:"max_file_size"` // 0 = unlimited
	Locked       bool              `json:"locked"`
	Deleted      bool              `json:"deleted"`
	Tags         map[string]string `json:"tags,omitempty"`
	Created      time.Time         `json:"created"`
	Updated      time.Time         `json:"updated"`
}

// FileInstance is one immutable blob of bytes; many object versions may share it.
type FileInstance struct {
	ID           string    `json:"id"`
	URI          string    `json:"uri"`
	Size         int64     `json:"size"`
	MD5          string    `json:"md5"`    // "md5:<hex>"
	BLAKE3       string    `json:"blake3"` // "blake3:<hex>"
	Readable     bool      `json:"readable"`
	Writable     bool      `json:"writable"`
	StorageClass string    `json:"storage_class"`
	LastCheck    *bool     `json:"last_check"` // nil = never checked or the check could not read
	LastCheckAt  time.Time `json:"last_check_at"`
}

// ObjectVersion is one version of a key. A version without a file is a delete marker.
type ObjectVersion struct {
	VersionID string `json:"version_id"`
	BucketID  string `json:"bucket_id"`
	Key       string `json:"key"`
	// File is nil for a delete marker.
	File     *FileInstance `json:"file,omitempty"`
	Mimetype string        `json:"mimetype"`
	IsHead   bool          `json:"is_head"`
	// Tags are Invenio's object tags (key and value at most 255 characters).
	Tags map[string]string `json:"tags,omitempty"`
	// Attrs carry POSIX metadata written through the mount ("mode", "uid",
	// "gid", "mtime" as decimal strings, "symlink" target, "xattr.user.*").
	Attrs   map[string]string `json:"attrs,omitempty"`
	Created time.Time         `json:"created"`
	Updated time.Time         `json:"updated"`
}

// DeleteMarker reports whether v marks its key as deleted.
func (v *ObjectVersion) DeleteMarker() bool { return v.File == nil }

// Size is the size of the version's content (0 for a delete marker).
func (v *ObjectVersion) Size() int64 {
	if v.File == nil {
		return 0
	}
	return v.File.Size
}

// Multipart is an upload in parts (Invenio's MultipartObject).
type Multipart struct {
	UploadID  string `json:"upload_id"`
	BucketID  string `json:"bucket_id"`
	Key       string `json:"key"`
	Size      int64  `json:"size"`
	PartSize  int64  `json:"part_size"`
	Completed bool   `json:"completed"`
	FileID    string `json:"file_id"`
	// VersionID is the version the upload produced once completed (our
	// extension: a client that lost the complete response can find it).
	VersionID string    `json:"version_id,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// Parts is the number of parts the upload consists of.
func (m *Multipart) Parts() int {
	return int((m.Size + m.PartSize - 1) / m.PartSize)
}

// Part is one uploaded part; bytes [Start, End) of the final object.
type Part struct {
	Number   int       `json:"part_number"`
	Start    int64     `json:"start_byte"`
	End      int64     `json:"end_byte"` // exclusive
	Checksum string    `json:"checksum"` // "md5:<hex>"
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// Event is one committed change, read from the store's outbox.
type Event struct {
	Seq        uint64    `json:"seq"` // monotonic per store
	ID         string    `json:"id"`  // stable id for idempotency
	Name       string    `json:"name"`
	Time       time.Time `json:"time"`
	BucketID   string    `json:"bucket_id"`
	BucketName string    `json:"bucket_name,omitempty"`
	Key        string    `json:"key,omitempty"`
	VersionID  string    `json:"version_id,omitempty"`
	Size       int64     `json:"size,omitempty"`
	BLAKE3     string    `json:"blake3,omitempty"`
	Origin     Origin    `json:"origin"`
}

// Origin says who caused a change; it travels with the change into its event
// so triggers can stop loops and tell mount, sync and function writes apart.
type Origin struct {
	// Kind is "api", "mount", "sync", "function" or "system".
	Kind string `json:"kind,omitempty"`
	// Hops counts how many function calls led to this change (loop protection).
	Hops int `json:"hops,omitempty"`
	// FunctionID and CallID name the function call that made the change, if any.
	FunctionID string `json:"function_id,omitempty"`
	CallID     string `json:"call_id,omitempty"`
	// Instance tells apart writers of one Kind: a mount stamps a random id
	// on its changes so it can recognise its own events exactly.
	Instance string `json:"instance,omitempty"`
}

// Location is a named storage root for blobs.
type Location struct {
	ID      string `json:"id"`
	Name    string `json:"name"` // ^[a-z][a-z0-9-]+$, at most 20 characters
	URI     string `json:"uri"`
	Default bool   `json:"default"`
}

// Event names (S3/MinIO shaped).
const (
	EventPut               = "s3:ObjectCreated:Put"
	EventCopy              = "s3:ObjectCreated:Copy"
	EventCompleteMultipart = "s3:ObjectCreated:CompleteMultipartUpload"
	EventDelete            = "s3:ObjectRemoved:Delete" // a version removed permanently
	EventDeleteMarker      = "s3:ObjectRemoved:DeleteMarkerCreated"
	EventRestore           = "s3:ObjectRestore:Completed"
	EventAccessed          = "s3:ObjectAccessed:Get"
	EventBucketCreated     = "s3:BucketCreated"
	EventBucketRemoved     = "s3:BucketRemoved"
	// EventAttrs: the POSIX attributes or xattrs of a version changed in
	// place (no new version). Not an S3 name, so "s3:*" triggers skip it;
	// mounts use it to drop cached attributes.
	EventAttrs = "bucketfs:ObjectAttrs:Put"
)
