package syncer

import (
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"syscall"

	"github.com/zeebo/blake3"
)

// tupleOf extracts the identity and change markers of a file.
func tupleOf(fi fs.FileInfo) statTuple {
	t := statTuple{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), Mode: uint32(fi.Mode())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		t.Dev = uint64(st.Dev)
		t.Ino = st.Ino
		t.CtimeNs = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t.Size = 0
	}
	return t
}

// sameContentStat reports whether nothing that could mean new content moved.
// The ctime catches a rewrite that restored size and mtime.
func sameContentStat(a, b statTuple) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size && a.MtimeNs == b.MtimeNs &&
		a.CtimeNs == b.CtimeNs && a.Mode == b.Mode
}

// stableStat is the check during hashing and upload: size and mtime (ctime
// also moves on chmod, which does not tear content).
func stableStat(a, b statTuple) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size && a.MtimeNs == b.MtimeNs
}

func lstatTuple(p string) (statTuple, fs.FileInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return statTuple{}, nil, err
	}
	return tupleOf(fi), fi, nil
}

func hashString(sum []byte) string { return "blake3:" + hex.EncodeToString(sum) }

// hashBytes hashes an in-memory snapshot.
func hashBytes(b []byte) string {
	s := blake3.Sum256(b)
	return hashString(s[:])
}

// hashFile streams the file once through BLAKE3 and checks that it did not
// move while being read.
func hashFile(p string, before statTuple) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := blake3.New()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(h, io.LimitReader(f, before.Size+1), buf); err != nil {
		return "", err
	}
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !stableStat(before, tupleOf(fi)) {
		return "", ErrChanged
	}
	return hashString(h.Sum(nil)), nil
}

// readSnapshot reads a small file whole, checking it did not move.
func readSnapshot(p string, before statTuple) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, before.Size+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, err
	}
	if int64(n) != before.Size {
		return nil, ErrChanged
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !stableStat(before, tupleOf(fi)) {
		return nil, ErrChanged
	}
	return buf[:n], nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "host"
	}
	return h
}
