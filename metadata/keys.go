package metadata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// Key layout of the object store's records. Every key starts with "st/"; the
// other packages sharing the DB use their own prefixes ("fn/", "tok/", ...).
//
//	st/loc/<location id>                  Location
//	st/b/<bucket id>                      Bucket
//	st/bn/<bucket name>                   bucket id
//	st/k/<bucket id>/<key>                st/v key of the head (delete markers too)
//	st/h/<bucket id>/<key>                live head (never a marker): listings
//	st/v/<bucket id>/<key>\x00<^seq>      every version, newest first per key
//	st/vi/<version id>                    the st/v key of that version
//	st/f/<file id>                        FileRecord
//	st/fd/<file id>                       bytes of an inline (small) file
//	st/fv/<file id>/<version id>          reverse index: versions using a file
//	st/fb/<blake3>                        file id with that content (dedup)
//	st/fx/<last check ns>/<file id>       fixity queue, oldest check first
//	st/mp/<upload id>                     MultipartRecord
//	st/mpb/<bucket id>/<upload id>        uploads of a bucket
//	st/p/<upload id>/<part number>        Part
//	st/ev/<seq>                           Event (the outbox)
//	st/cur/<consumer>                     a consumer's acknowledged seq
//
// Keys never contain NUL (ValidateKey), so "\x00" ends the key inside a
// version key and sorts a key's versions before any longer key. Numbers
// are fixed-width big-endian so byte order is numeric order; the version
// sequence is inverted so the newest version of a key comes first.
const (
	pLocation   = "st/loc/"
	pBucket     = "st/b/"
	pBucketName = "st/bn/"
	pHead       = "st/k/"
	pLive       = "st/h/"
	pVersion    = "st/v/"
	pVersionID  = "st/vi/"
	pFile       = "st/f/"
	pFileData   = "st/fd/"
	pFileRef    = "st/fv/"
	pFileSum    = "st/fb/"
	pFixity     = "st/fx/"
	pMultipart  = "st/mp/"
	pBucketMP   = "st/mpb/"
	pPart       = "st/p/"
	pEvent      = "st/ev/"
	pCursor     = "st/cur/"
)

func cat(parts ...string) []byte {
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString(p)
	}
	return b.Bytes()
}

// HeadKey is the key of the head record of (bucket, key).
func HeadKey(bucketID, key string) []byte { return cat(pHead, bucketID, "/", key) }

// LiveKey is the key of the live-head listing record of (bucket, key).
func LiveKey(bucketID, key string) []byte { return cat(pLive, bucketID, "/", key) }

// VersionKey encodes the key of one version of (bucket, key) with sequence seq.
func VersionKey(bucketID, key string, seq uint64) []byte {
	b := make([]byte, 0, len(pVersion)+len(bucketID)+len(key)+10)
	b = append(b, pVersion...)
	b = append(b, bucketID...)
	b = append(b, '/')
	b = append(b, key...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, ^seq)
}

// VersionsPrefix is the prefix of every version of exactly key.
func VersionsPrefix(bucketID, key string) []byte {
	return append(cat(pVersion, bucketID, "/", key), 0)
}

// DecodeVersionKey is the inverse of VersionKey.
func DecodeVersionKey(k []byte) (bucketID, key string, seq uint64, err error) {
	if !bytes.HasPrefix(k, []byte(pVersion)) || len(k) < len(pVersion)+9 {
		return "", "", 0, fmt.Errorf("%w: version key %q", ErrCorrupt, k)
	}
	rest := k[len(pVersion):]
	slash := bytes.IndexByte(rest, '/')
	tail := rest[len(rest)-9:]
	if slash < 0 || slash > len(rest)-10 || tail[0] != 0 {
		return "", "", 0, fmt.Errorf("%w: version key %q", ErrCorrupt, k)
	}
	bucketID = string(rest[:slash])
	key = string(rest[slash+1 : len(rest)-9])
	if strings.IndexByte(key, 0) >= 0 {
		return "", "", 0, fmt.Errorf("%w: version key %q", ErrCorrupt, k)
	}
	return bucketID, key, ^binary.BigEndian.Uint64(tail[1:]), nil
}

func u64(n uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return string(b[:])
}

func partKey(uploadID string, n int) []byte { return cat(pPart, uploadID, "/", u64(uint64(n))[4:]) }

func eventKey(seq uint64) []byte { return cat(pEvent, u64(seq)) }

func fixityKey(ns int64, fileID string) []byte {
	return cat(pFixity, u64(uint64(ns)^(1<<63)), "/", fileID)
}
