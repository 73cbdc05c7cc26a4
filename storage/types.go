package storage

import "github.com/bucketfs/bucketfs/metadata"

// The data model is defined once, in metadata; these aliases let callers of
// the object store speak of storage.Bucket without importing metadata.
type (
	Bucket        = metadata.Bucket
	FileInstance  = metadata.FileInstance
	ObjectVersion = metadata.ObjectVersion
	Multipart     = metadata.Multipart
	Part          = metadata.Part
	Event         = metadata.Event
	Origin        = metadata.Origin
	Location      = metadata.Location
)

// Event names (S3/MinIO shaped).
const (
	EventPut               = metadata.EventPut
	EventCopy              = metadata.EventCopy
	EventCompleteMultipart = metadata.EventCompleteMultipart
	EventDelete            = metadata.EventDelete
	EventDeleteMarker      = metadata.EventDeleteMarker
	EventRestore           = metadata.EventRestore
	EventAccessed          = metadata.EventAccessed
	EventBucketCreated     = metadata.EventBucketCreated
	EventBucketRemoved     = metadata.EventBucketRemoved
	EventAttrs             = metadata.EventAttrs
)
