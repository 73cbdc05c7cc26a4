package storage

import (
	"crypto/md5"
	"encoding/hex"
	"hash"
	"io"

	"github.com/zeebo/blake3"
)

// hasher computes BLAKE3 and MD5 of one stream in a single pass.
type hasher struct {
	b3  *blake3.Hasher
	md5 hash.Hash
	n   int64
}

func newHasher() *hasher { return &hasher{b3: blake3.New(), md5: md5.New()} }

func (h *hasher) Write(p []byte) (int, error) {
	h.b3.Write(p)
	h.md5.Write(p)
	h.n += int64(len(p))
	return len(p), nil
}

func (h *hasher) sums() (md5sum, b3sum string) {
	return "md5:" + hex.EncodeToString(h.md5.Sum(nil)), "blake3:" + hex.EncodeToString(h.b3.Sum(nil))
}

// hashReaderAt hashes bytes [0, size) of r.
func hashReaderAt(r io.ReaderAt, size int64) (md5sum, b3sum string, err error) {
	h := newHasher()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, io.NewSectionReader(r, 0, size), buf); err != nil {
		return "", "", err
	}
	if h.n != size {
		return "", "", io.ErrUnexpectedEOF
	}
	md5sum, b3sum = h.sums()
	return md5sum, b3sum, nil
}
