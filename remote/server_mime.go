package remote

import (
	"path"
	"strings"

	"github.com/bucketfs/bucketfs/storage"
)

// mimeTypes is a fixed extension table (spec §7.8 asks for determinism
// instead of the host's mime.types). Values follow Python's mimetypes.
var mimeTypes = map[string]string{
	".txt": "text/plain", ".text": "text/plain", ".log": "text/plain", ".md": "text/markdown",
	".csv": "text/csv", ".tsv": "text/tab-separated-values", ".html": "text/html", ".htm": "text/html",
	".css": "text/css", ".js": "text/javascript", ".mjs": "text/javascript", ".json": "application/json",
	".xml": "application/xml", ".xhtml": "application/xhtml+xml", ".svg": "image/svg+xml",
	".pdf": "application/pdf", ".zip": "application/zip", ".tar": "application/x-tar",
	".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
	".tif": "image/tiff", ".tiff": "image/tiff", ".bmp": "image/bmp", ".webp": "image/webp",
	".ico": "image/vnd.microsoft.icon", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".oga": "audio/ogg",
	".wav": "audio/x-wav", ".weba": "audio/webm", ".mp4": "video/mp4", ".webm": "video/webm",
	".doc": "application/msword", ".xls": "application/vnd.ms-excel",
	".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".py":   "text/x-python", ".c": "text/plain", ".h": "text/plain", ".sh": "application/x-sh",
	".bin": "application/octet-stream", ".rtf": "application/rtf", ".ps": "application/postscript",
}

// encodedTypes: a guessed encoding turns the type into the encoding's type,
// as upstream does (data.csv.gz -> application/gzip).
var encodedTypes = map[string]string{
	".gz": "application/gzip", ".tgz": "application/gzip", ".z": "application/gzip",
	".bz2": "application/x-bzip2", ".xz": "application/x-xz", ".br": "application/octet-stream",
}

// guessMimetype maps a key's extension to a type; unknown is octet-stream.
func guessMimetype(key string) string {
	ext := strings.ToLower(path.Ext(key))
	if t, ok := encodedTypes[ext]; ok {
		return t
	}
	if t, ok := mimeTypes[ext]; ok {
		return t
	}
	return "application/octet-stream"
}

// mimetypeOf is the unsanitized type of the JSON "mimetype" field.
func mimetypeOf(v *storage.ObjectVersion) string {
	if v.Mimetype != "" {
		return v.Mimetype
	}
	return guessMimetype(v.Key)
}

var servedWhitelist = map[string]bool{
	"audio/mpeg": true, "audio/ogg": true, "audio/wav": true, "audio/webm": true,
	"image/gif": true, "image/jpeg": true, "image/png": true, "image/tiff": true, "text/plain": true,
}

var servedAsText = map[string]bool{
	"application/javascript": true, "text/javascript": true, "application/json": true,
	"application/xhtml+xml": true, "application/xml": true, "text/css": true, "text/csv": true,
	"text/html": true, "image/svg+xml": true,
}

// sanitizeMimetype is the served type of spec E7/§7.8: a whitelist passes,
// script-capable and markup types become text/plain, the rest octet-stream,
// so a download can never run in the server's origin.
func sanitizeMimetype(mt, key string) string {
	mt, _, _ = strings.Cut(mt, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case servedWhitelist[mt]:
		return mt
	case servedAsText[mt], strings.EqualFold(path.Base(key), "readme"):
		return "text/plain"
	}
	return "application/octet-stream"
}

// contentDisposition builds the header of spec E7: token or quoted-string
// filename, with an ASCII fallback and filename* for non-ASCII names.
func contentDisposition(disposition, key string) string {
	name := key
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return disposition + "; filename=" + quoteHeaderValue(name)
	}
	return disposition + "; filename=" + quoteHeaderValue(asciiFallback(name)) + "; filename*=UTF-8''" + rfc5987(name)
}

// isTokenChar is Werkzeug's token set for header values.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func quoteHeaderValue(s string) string {
	token := s != ""
	for i := 0; i < len(s) && token; i++ {
		token = isTokenChar(s[i])
	}
	if token {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

// rfc5987 percent-encodes UTF-8 like Python's quote(s, safe="!#$&+-.^_`|~").
func rfc5987(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}

// latinBase approximates NFKD + drop-non-ASCII for the Latin letters that
// occur in file names (x/text's normalizer is not a dependency of ours).
var latinBase = func() map[rune]string {
	m := map[rune]string{}
	add := func(base string, rs string) {
		for _, r := range rs {
			m[r] = base
		}
	}
	add("A", "ÀÁÂÃÄÅĀĂĄ")
	add("a", "àáâãäåāăą")
	add("C", "ÇĆĈĊČ")
	add("c", "çćĉċč")
	add("D", "Ď")
	add("d", "ď")
	add("E", "ÈÉÊËĒĔĖĘĚ")
	add("e", "èéêëēĕėęě")
	add("G", "ĜĞĠĢ")
	add("g", "ĝğġģ")
	add("I", "ÌÍÎÏĨĪĬĮİ")
	add("i", "ìíîïĩīĭį")
	add("N", "ÑŃŅŇ")
	add("n", "ñńņň")
	add("O", "ÒÓÔÕÖŌŎŐ")
	add("o", "òóôõöōŏő")
	add("R", "ŔŖŘ")
	add("r", "ŕŗř")
	add("S", "ŚŜŞŠ")
	add("s", "śŝşš")
	add("T", "ŢŤ")
	add("t", "ţť")
	add("U", "ÙÚÛÜŨŪŬŮŰŲ")
	add("u", "ùúûüũūŭůűų")
	add("Y", "ÝŸ")
	add("y", "ýÿ")
	add("Z", "ŹŻŽ")
	add("z", "źżž")
	return m
}()

func asciiFallback(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80:
			b.WriteRune(r)
		case latinBase[r] != "":
			b.WriteString(latinBase[r])
		}
	}
	return b.String()
}
