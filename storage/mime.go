package storage

import (
	"mime"
	"path"
	"strings"
)

// extraTypes pins types that Go's table lacks or that differ between
// systems, so a key gets the same mimetype on every machine.
var extraTypes = map[string]string{
	".csv":  "text/csv",
	".md":   "text/markdown",
	".txt":  "text/plain",
	".json": "application/json",
	".js":   "text/javascript",
	".py":   "text/x-python",
	".yaml": "application/yaml",
	".yml":  "application/yaml",
	".gz":   "application/gzip",
	".tgz":  "application/gzip",
	".bz2":  "application/x-bzip2",
	".xz":   "application/x-xz",
	".zip":  "application/zip",
	".tar":  "application/x-tar",
	".wav":  "audio/x-wav",
}

// GuessMimetype guesses a key's media type from its extension (without
// parameters such as charset); unknown extensions are octet-stream.
func GuessMimetype(key string) string {
	ext := strings.ToLower(path.Ext(strings.TrimSuffix(key, "/")))
	if ext == "" {
		return "application/octet-stream"
	}
	if t, ok := extraTypes[ext]; ok {
		return t
	}
	t := mime.TypeByExtension(ext)
	if t == "" {
		return "application/octet-stream"
	}
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	return t
}
