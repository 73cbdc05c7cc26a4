package remote

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// The client's view of the JSON documents of spec §4 and of our extensions.
// Parsing is lenient (spec §11.1): unknown fields are ignored, optional
// fields may be missing, timestamps may lack the fraction or the offset.

// wireTime parses Invenio timestamps: RFC 3339 with optional fraction and
// optional offset (a missing offset is UTC).
type wireTime struct{ time.Time }

func (t *wireTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	t.Time = parseWireTime(s)
	return nil
}

func parseWireTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return v
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC()
		}
	}
	return time.Time{}
}

type wireLinks struct {
	Self          string `json:"self"`
	Version       string `json:"version"`
	Uploads       string `json:"uploads"`
	Object        string `json:"object"`
	Bucket        string `json:"bucket"`
	ObjectVersion string `json:"object_version"`
	Next          string `json:"next"`
}

type wireBucket struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Size         int64             `json:"size"`
	QuotaSize    *int64            `json:"quota_size"`
	MaxFileSize  *int64            `json:"max_file_size"`
	Locked       bool              `json:"locked"`
	Deleted      bool              `json:"deleted"`
	Location     string            `json:"location"`
	StorageClass string            `json:"storage_class"`
	Tags         map[string]string `json:"tags"`
	Created      wireTime          `json:"created"`
	Updated      wireTime          `json:"updated"`
	Links        wireLinks         `json:"links"`
}

func (w *wireBucket) bucket() *storage.Bucket {
	b := &storage.Bucket{
		ID: w.ID, Name: w.Name, Size: w.Size, Locked: w.Locked, Deleted: w.Deleted,
		Location: w.Location, StorageClass: w.StorageClass, Tags: w.Tags,
		Created: w.Created.Time, Updated: w.Updated.Time,
	}
	if w.QuotaSize != nil {
		b.QuotaSize = *w.QuotaSize
	}
	if w.MaxFileSize != nil {
		b.MaxFileSize = *w.MaxFileSize
	}
	if b.StorageClass == "" {
		b.StorageClass = "S"
	}
	return b
}

type wireObject struct {
	Key          string            `json:"key"`
	VersionID    string            `json:"version_id"`
	BucketID     string            `json:"bucket_id"`
	FileID       string            `json:"file_id"`
	IsHead       bool              `json:"is_head"`
	Mimetype     string            `json:"mimetype"`
	Size         int64             `json:"size"`
	Checksum     *string           `json:"checksum"`
	BLAKE3       *string           `json:"blake3"`
	DeleteMarker bool              `json:"delete_marker"`
	Tags         map[string]string `json:"tags"`
	Attrs        map[string]string `json:"attrs"`
	Created      wireTime          `json:"created"`
	Updated      wireTime          `json:"updated"`
	Links        wireLinks         `json:"links"`
}

func (w *wireObject) version() *storage.ObjectVersion {
	v := &storage.ObjectVersion{
		VersionID: w.VersionID, BucketID: w.BucketID, Key: w.Key, Mimetype: w.Mimetype,
		IsHead: w.IsHead, Tags: w.Tags, Attrs: w.Attrs,
		Created: w.Created.Time, Updated: w.Updated.Time,
	}
	if len(v.Tags) == 0 {
		v.Tags = nil
	}
	if v.BucketID == "" {
		v.BucketID = bucketFromLink(w.Links.Version, w.Links.Self)
	}
	if !w.DeleteMarker {
		f := &storage.FileInstance{ID: w.FileID, Size: w.Size, Readable: true, StorageClass: "S"}
		if w.Checksum != nil {
			f.MD5 = *w.Checksum
		}
		if w.BLAKE3 != nil {
			f.BLAKE3 = *w.BLAKE3
		}
		v.File = f
	}
	return v
}

// bucketFromLink takes the bucket id from a ".../files/<bucket>/<key>" link.
func bucketFromLink(links ...string) string {
	for _, l := range links {
		u, err := url.Parse(l)
		if err != nil {
			continue
		}
		p := u.EscapedPath()
		i := strings.LastIndex(p, "/files/")
		if i < 0 {
			continue
		}
		rest := p[i+len("/files/"):]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			rest = rest[:j]
		}
		if s, err := url.PathUnescape(rest); err == nil && s != "" {
			return s
		}
	}
	return ""
}

type wireListing struct {
	wireBucket
	Contents []wireObject `json:"contents"`
	Prefixes []string     `json:"prefixes"`
	Next     string       `json:"next"`
}

type wireMultipart struct {
	ID        string     `json:"id"`
	UploadID  string     `json:"upload_id"`
	Bucket    string     `json:"bucket"`
	BucketID  string     `json:"bucket_id"`
	Key       string     `json:"key"`
	Completed bool       `json:"completed"`
	Size      int64      `json:"size"`
	PartSize  int64      `json:"part_size"`
	FileID    string     `json:"file_id"`
	VersionID *string    `json:"version_id"`
	Created   wireTime   `json:"created"`
	Updated   wireTime   `json:"updated"`
	Links     wireLinks  `json:"links"`
	Parts     []wirePart `json:"parts"`

	// Status and Message are set by a failed complete (spec E13: errors
	// arrive inside a 200 body).
	Status  int     `json:"status"`
	Message *string `json:"message"`
}

func (w *wireMultipart) multipart() *storage.Multipart {
	m := &storage.Multipart{
		UploadID: w.ID, BucketID: w.Bucket, Key: w.Key, Size: w.Size, PartSize: w.PartSize,
		Completed: w.Completed, FileID: w.FileID, Created: w.Created.Time, Updated: w.Updated.Time,
	}
	if m.UploadID == "" {
		m.UploadID = w.UploadID
	}
	if m.BucketID == "" {
		m.BucketID = w.BucketID
	}
	if m.BucketID == "" {
		m.BucketID = bucketFromLink(w.Links.Bucket, w.Links.Object, w.Links.Self)
	}
	if w.VersionID != nil {
		m.VersionID = *w.VersionID
	}
	if m.VersionID == "" && w.Links.ObjectVersion != "" {
		if u, err := url.Parse(w.Links.ObjectVersion); err == nil {
			m.VersionID = u.Query().Get("versionId")
		}
	}
	return m
}

type wirePart struct {
	Number   int      `json:"part_number"`
	Start    int64    `json:"start_byte"`
	End      int64    `json:"end_byte"`
	Checksum *string  `json:"checksum"`
	Created  wireTime `json:"created"`
	Updated  wireTime `json:"updated"`
}

func (w *wirePart) part() *storage.Part {
	p := &storage.Part{Number: w.Number, Start: w.Start, End: w.End, Created: w.Created.Time, Updated: w.Updated.Time}
	if w.Checksum != nil {
		p.Checksum = *w.Checksum
	}
	return p
}

// encodeTags writes a tags map in the X-Invenio-File-Tags syntax.
func encodeTags(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	q := url.Values{}
	for k, v := range m {
		q.Set(k, v)
	}
	return q.Encode()
}
