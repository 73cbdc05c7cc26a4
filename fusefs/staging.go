package fusefs

import (
	"bytes"
	"errors"
	"io"
	"os"

	"github.com/zeebo/blake3"
)

// staging holds the content of a file being written: in memory while it
// is small (most files written through a mount are), then in a file under
// the staging directory. It is not safe for concurrent use; the owning
// file node's mutex guards it.
type staging struct {
	dir   string
	limit int64
	mem   []byte
	f     *os.File
	size  int64
	// seq hashes a spilled file while it is written in order; nil once a
	// write or truncation lands before its end.
	seq *seqHash
	// known is the BLAKE3 of the current content when computed, "" when
	// unknown or stale.
	known string
}

func newStaging(dir string, limit int64) *staging {
	return &staging{dir: dir, limit: limit}
}

// spill moves the content to a file.
func (s *staging) spill() error {
	if s.f != nil {
		return nil
	}
	f, err := os.CreateTemp(s.dir, "w-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(s.mem[:s.size]); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	// The content so far is hashed from here on while writes arrive in
	// order: big files are mostly written front to back.
	s.seq = newSeqHash()
	s.seq.write(s.mem[:s.size])
	s.f, s.mem = f, nil
	return nil
}

// dropSeq stops the in-order hash.
func (s *staging) dropSeq() {
	if s.seq != nil {
		s.seq.stop()
		s.seq = nil
	}
}

func (s *staging) WriteAt(p []byte, off int64) (int, error) {
	end := off + int64(len(p))
	if len(p) > 0 {
		s.known = ""
	}
	if s.f == nil && end > s.limit {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	if s.f != nil {
		n, err := s.f.WriteAt(p, off)
		if s.seq != nil {
			if off == s.seq.n {
				s.seq.write(p[:n])
			} else {
				s.dropSeq()
			}
		}
		if end := off + int64(n); end > s.size {
			s.size = end
		}
		return n, err
	}
	if end > int64(len(s.mem)) {
		if end > int64(cap(s.mem)) {
			nm := make([]byte, end, max(end, 2*int64(cap(s.mem))))
			copy(nm, s.mem)
			s.mem = nm
		} else {
			s.mem = s.mem[:end]
		}
	}
	if off > s.size {
		clear(s.mem[s.size:off]) // a hole reads as zeros
	}
	copy(s.mem[off:], p)
	if end > s.size {
		s.size = end
	}
	return len(p), nil
}

func (s *staging) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	want := p
	if rem := s.size - off; int64(len(p)) > rem {
		want = p[:rem]
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.ReadAt(want, off)
		if err == io.EOF && n == len(want) {
			err = nil
		}
	} else {
		n = copy(want, s.mem[off:s.size])
	}
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (s *staging) Truncate(size int64) error {
	if size != s.size {
		s.known = ""
	}
	if s.seq != nil && size < s.seq.n {
		s.dropSeq()
	}
	if s.f == nil && size > s.limit {
		if err := s.spill(); err != nil {
			return err
		}
	}
	if s.f != nil {
		if err := s.f.Truncate(size); err != nil {
			return err
		}
		s.size = size
		return nil
	}
	if size > int64(len(s.mem)) {
		nm := make([]byte, size)
		copy(nm, s.mem[:s.size])
		s.mem = nm
	} else if size > s.size {
		clear(s.mem[s.size:size])
	}
	s.mem = s.mem[:size]
	s.size = size
	return nil
}

// Reader returns the whole content as a stream.
func (s *staging) Reader() io.Reader {
	if s.f != nil {
		return io.NewSectionReader(s.f, 0, s.size)
	}
	return bytes.NewReader(s.mem[:s.size])
}

// BLAKE3 hashes the content in the store's "blake3:<hex>" form.
func (s *staging) BLAKE3() (string, error) {
	if sum := s.cheapBLAKE3(); sum != "" {
		return sum, nil
	}
	h := blake3.New()
	if _, err := io.Copy(h, s.Reader()); err != nil {
		return "", err
	}
	s.known = "blake3:" + hexString(h.Sum(nil))
	return s.known, nil
}

// cheapBLAKE3 returns the content's BLAKE3 when it is known without
// reading the content again, else "".
func (s *staging) cheapBLAKE3() string {
	if s.known == "" && s.seq != nil && s.seq.n == s.size {
		s.known = s.seq.sum()
		s.seq = nil
	}
	return s.known
}

// spilled reports whether the content lives in a file.
func (s *staging) spilled() bool { return s.f != nil }

// handOver gives the staging file, closed, to fn with its BLAKE3 when
// known ("" otherwise). When fn succeeds it owns the file and the staging
// is empty; when it fails the file is reopened and the staging is as it
// was.
func (s *staging) handOver(fn func(path, blake3 string) error) error {
	if err := s.spill(); err != nil {
		return err
	}
	sum := s.cheapBLAKE3()
	s.dropSeq()
	name := s.f.Name()
	if err := s.f.Close(); err != nil {
		s.reopen(name)
		return err
	}
	if err := fn(name, sum); err != nil {
		if oerr := s.reopen(name); oerr != nil {
			return errors.Join(err, oerr)
		}
		return err
	}
	s.f, s.size, s.known = nil, 0, ""
	return nil
}

// reopen opens the staging file again after handOver closed it.
func (s *staging) reopen(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		// The content is gone: what is left reads as empty.
		s.f, s.size, s.known = nil, 0, ""
		return err
	}
	s.f = f
	return nil
}

// Detach hands the content over as a closed file (for the write-back
// engine, which takes ownership); the staging is empty afterwards.
func (s *staging) Detach() (string, error) {
	if err := s.spill(); err != nil {
		return "", err
	}
	s.dropSeq()
	if err := s.f.Sync(); err != nil {
		return "", err
	}
	name := s.f.Name()
	if err := s.f.Close(); err != nil {
		return "", err
	}
	s.f, s.size, s.known = nil, 0, ""
	return name, nil
}

// Close drops the content.
func (s *staging) Close() {
	s.dropSeq()
	s.known = ""
	if s.f != nil {
		s.f.Close()
		os.Remove(s.f.Name())
		s.f = nil
	}
	s.mem = nil
	s.size = 0
}

const hexDigits = "0123456789abcdef"

func hexString(b []byte) string {
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i] = hexDigits[c>>4]
		out[2*i+1] = hexDigits[c&15]
	}
	return string(out)
}
