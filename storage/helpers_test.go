package storage_test

import (
	"encoding/hex"

	"github.com/zeebo/blake3"
)

func blake3Hex(b []byte) string {
	s := blake3.Sum256(b)
	return "blake3:" + hex.EncodeToString(s[:])
}
