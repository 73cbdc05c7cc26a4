package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// isoTime formats t as Python's datetime.isoformat() of a UTC-aware value
// does: microseconds, omitted when zero, and a "+00:00" offset (spec §1.5).
func isoTime(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04:05") + "+00:00"
	}
	return t.Format("2006-01-02T15:04:05.000000") + "+00:00"
}

// links builds the absolute URLs of one request's responses.
type links struct {
	s    *Server
	r    *http.Request
	memo string // scheme://host + files prefix, e.g. http://h/api/files
}

// base is built on first use: downloads, the hot path, have no links.
func (l *links) base() string {
	if l.memo == "" {
		l.memo = l.s.baseURL(l.r) + l.s.opts.Prefix + "/files"
	}
	return l.memo
}

func (l *links) bucket(id string) string { return l.base() + "/" + id }

func (l *links) object(bucketID, key string) string {
	return l.base() + "/" + bucketID + "/" + escapeKeyPath(key)
}

// escapeKeyPath percent-encodes a key per path segment like Python's
// urllib.parse.quote with the safe set Werkzeug's url_for leaves literal
// (spec §1.3): "/" and "+&=;,:@!$'()*~" stay, everything else non-alphanumeric
// is encoded.
func escapeKeyPath(key string) string {
	const safe = "-._~/+&=;,:@!$'()*"
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(safe, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// srvBucket is the Bucket of spec §4.1 plus our optional name.
type srvBucket struct {
	ID           string            `json:"id"`
	Name         string            `json:"name,omitempty"`
	Location     string            `json:"location"`
	StorageClass string            `json:"storage_class"`
	Tags         map[string]string `json:"tags"`
	Size         int64             `json:"size"`
	QuotaSize    *int64            `json:"quota_size"`
	MaxFileSize  *int64            `json:"max_file_size"`
	Locked       bool              `json:"locked"`
	Created      string            `json:"created"`
	Updated      string            `json:"updated"`
	Links        map[string]string `json:"links"`
}

func nullIfZero(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

func (l *links) bucketJSON(b *storage.Bucket) srvBucket {
	self := l.bucket(b.ID)
	return srvBucket{
		ID: b.ID, Name: b.Name, Location: b.Location, StorageClass: b.StorageClass, Tags: nonNilMap(b.Tags), Size: b.Size,
		QuotaSize: nullIfZero(b.QuotaSize), MaxFileSize: nullIfZero(b.MaxFileSize),
		Locked: b.Locked, Created: isoTime(b.Created), Updated: isoTime(b.Updated),
		Links: map[string]string{"self": self, "versions": self + "?versions", "uploads": self + "?uploads"},
	}
}

// srvObject is the ObjectVersion of spec §4.2 plus blake3 and attrs.
type srvObject struct {
	Key          string            `json:"key"`
	VersionID    string            `json:"version_id"`
	BucketID     string            `json:"bucket_id"`
	FileID       *string           `json:"file_id"`
	IsHead       bool              `json:"is_head"`
	Mimetype     string            `json:"mimetype"`
	Size         int64             `json:"size"`
	Checksum     *string           `json:"checksum"`
	BLAKE3       *string           `json:"blake3"`
	DeleteMarker bool              `json:"delete_marker"`
	Tags         map[string]string `json:"tags"`
	Attrs        map[string]string `json:"attrs,omitempty"`
	Created      string            `json:"created"`
	Updated      string            `json:"updated"`
	Links        map[string]string `json:"links"`
}

func (l *links) objectJSON(v *storage.ObjectVersion) srvObject {
	self := l.object(v.BucketID, v.Key)
	version := self + "?versionId=" + v.VersionID
	o := srvObject{
		Key: v.Key, VersionID: v.VersionID, BucketID: v.BucketID, IsHead: v.IsHead, Mimetype: mimetypeOf(v),
		Size: v.Size(), DeleteMarker: v.DeleteMarker(), Tags: v.Tags, Attrs: v.Attrs,
		Created: isoTime(v.Created), Updated: isoTime(v.Updated),
		Links: map[string]string{"version": version},
	}
	o.Tags = nonNilMap(o.Tags)
	l.fillMD5(v)
	if f := v.File; f != nil {
		if f.ID != "" {
			o.FileID = &f.ID
		}
		if f.MD5 != "" {
			o.Checksum = &f.MD5
		}
		if f.BLAKE3 != "" {
			o.BLAKE3 = &f.BLAKE3
		}
	}
	if v.IsHead && !v.DeleteMarker() {
		o.Links["self"] = self
		o.Links["uploads"] = self + "?uploads"
	} else {
		o.Links["self"] = version
	}
	return o
}

// srvMultipart is the MultipartObject of spec §4.3 plus version_id.
type srvMultipart struct {
	ID             string            `json:"id"`
	Bucket         string            `json:"bucket"`
	Key            string            `json:"key"`
	Completed      bool              `json:"completed"`
	Size           int64             `json:"size"`
	PartSize       int64             `json:"part_size"`
	LastPartNumber int64             `json:"last_part_number"`
	LastPartSize   int64             `json:"last_part_size"`
	VersionID      *string           `json:"version_id"`
	Created        string            `json:"created"`
	Updated        string            `json:"updated"`
	Links          map[string]string `json:"links"`
}

func (l *links) multipartJSON(m *storage.Multipart) srvMultipart {
	obj := l.object(m.BucketID, m.Key)
	j := srvMultipart{
		ID: m.UploadID, Bucket: m.BucketID, Key: m.Key, Completed: m.Completed,
		Size: m.Size, PartSize: m.PartSize,
		Created: isoTime(m.Created), Updated: isoTime(m.Updated),
		Links: map[string]string{"self": obj + "?uploadId=" + m.UploadID, "object": obj, "bucket": l.bucket(m.BucketID)},
	}
	if m.PartSize > 0 {
		// Reported as upstream computes them (spec §4.3), even for exact
		// multiples where last_part_size is 0; the server still accepts a
		// full-size last part (spec §8.3).
		j.LastPartNumber = int64(m.Parts()) - 1
		j.LastPartSize = m.Size % m.PartSize
	}
	if m.VersionID != "" {
		v := m.VersionID
		j.VersionID = &v
		if m.Completed {
			j.Links["object_version"] = obj + "?versionId=" + v
		}
	}
	return j
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// srvPart is the Part of spec §4.4.
type srvPart struct {
	PartNumber int     `json:"part_number"`
	StartByte  int64   `json:"start_byte"`
	EndByte    int64   `json:"end_byte"`
	Checksum   *string `json:"checksum"`
	Created    string  `json:"created"`
	Updated    string  `json:"updated"`
}

func partToJSON(p *storage.Part) srvPart {
	j := srvPart{PartNumber: p.Number, StartByte: p.Start, EndByte: p.End, Created: isoTime(p.Created), Updated: isoTime(p.Updated)}
	if p.Checksum != "" {
		c := p.Checksum
		j.Checksum = &c
	}
	return j
}

// encodeJSON renders v compact (Flask's default) or, with prettyprint, with a
// two-space indent. HTML escaping is off: Invenio does not escape <, >, &.
func encodeJSON(r *http.Request, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if r != nil && r.URL.Query().Get("prettyprint") != "" {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return []byte(`{"status":500,"message":"could not encode response"}`)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// acceptsJSON is the content negotiation of spec §1.6.
func acceptsJSON(r *http.Request) bool {
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return true
	}
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			mt := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
			switch strings.ToLower(mt) {
			case "", "*/*", "application/*", "application/json":
				return true
			}
		}
	}
	return false
}

// writeJSON answers status with v; a non-JSON Accept gets 406 after the
// fact, as upstream (the action already happened, spec §1.6).
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	if !acceptsJSON(r) {
		writeError(w, r, apiErr(http.StatusNotAcceptable, msg406))
		return
	}
	body := encodeJSON(r, v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", itoa(int64(len(body))))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeError answers err as the JSON error body of spec §5.1.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := StatusOf(err)
	h := w.Header()
	var ae *APIError
	if errors.As(err, &ae) && ae.Allow != "" {
		h.Set("Allow", ae.Allow)
	}
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="bucketfs"`)
	}
	data := encodeJSON(r, body)
	h.Del("Content-Disposition")
	h.Del("ETag")
	h.Del("Content-MD5")
	h.Del("Last-Modified")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", itoa(int64(len(data))))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}
