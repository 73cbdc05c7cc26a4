package functions

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var codeIDRe = regexp.MustCompile(`^code-[0-9a-f]{24}$`)

func validCodeID(id string) bool { return codeIDRe.MatchString(id) }

func (s *Service) codePath(id string) string {
	return filepath.Join(s.opts.Dir, "code", id+".zip")
}

// UploadCode stores a zip archive of a function folder and returns its code
// id (the fileId of a later CreateFunction).
func (s *Service) UploadCode(ctx context.Context, r io.Reader) (string, error) {
	max := s.opts.Limits.MaxCodeBytes
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > max {
		return "", fmt.Errorf("%w: code archive larger than %d bytes", ErrInvalid, max)
	}
	return s.saveCode(b)
}

func (s *Service) saveCode(b []byte) (string, error) {
	if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
		return "", fmt.Errorf("%w: code is not a zip archive: %v", ErrInvalid, err)
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	id := "code-" + hex.EncodeToString(rnd[:])
	tmp := s.codePath(id) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, s.codePath(id)); err != nil {
		return "", err
	}
	return id, nil
}

// singleFileZip wraps one handler file into an archive.
func singleFileZip(name string, content []byte, mode os.FileMode) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(mode)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(content); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (s *Service) codeFromHandler(src, functionPath string) (string, error) {
	mode := os.FileMode(0o644)
	if !strings.HasSuffix(functionPath, ".py") {
		mode = 0o755
	}
	b, err := singleFileZip(functionPath, []byte(src), mode)
	if err != nil {
		return "", err
	}
	return s.saveCode(b)
}

// codeFromObject takes code from a bucket: a .zip object is the archive,
// anything else is the single handler file.
func (s *Service) codeFromObject(ctx context.Context, ref ObjectRef, functionPath string) (string, error) {
	if s.store == nil {
		return "", fmt.Errorf("%w: no object store", ErrInvalid)
	}
	rc, _, err := s.store.Get(ctx, ref.Bucket, ref.Key, ref.VersionID, 0, -1)
	if err != nil {
		return "", fmt.Errorf("code object %s/%s: %w", ref.Bucket, ref.Key, mapStoreErr(err))
	}
	defer rc.Close()
	max := s.opts.Limits.MaxCodeBytes
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return "", err
	}
	if int64(len(b)) > max {
		return "", fmt.Errorf("%w: code object larger than %d bytes", ErrInvalid, max)
	}
	if strings.HasSuffix(strings.ToLower(ref.Key), ".zip") {
		return s.saveCode(b)
	}
	return s.codeFromHandler(string(b), functionPath)
}

// unpackCode extracts an archive into dir, refusing paths that leave it
// and links, and bounding the unpacked size.
func unpackCode(zipPath, dir string, maxBytes int64) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("open code archive: %w", err)
	}
	defer zr.Close()
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var total int64
	for _, f := range zr.File {
		name := strings.TrimPrefix(f.Name, "./")
		if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
			return fmt.Errorf("archive entry %q: not a relative path", f.Name)
		}
		clean := path.Clean(name)
		if clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("archive entry %q leaves the folder", f.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(clean))
		mode := f.Mode()
		switch {
		case mode.IsDir() || strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		case mode&os.ModeSymlink != 0 || !mode.IsRegular() && mode.Type() != 0:
			return fmt.Errorf("archive entry %q is not a regular file", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		perm := os.FileMode(0o644)
		if mode&0o111 != 0 {
			perm = 0o755
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
		if err != nil {
			rc.Close()
			return err
		}
		n, err := io.Copy(out, io.LimitReader(rc, maxBytes-total+1))
		rc.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		total += n
		if total > maxBytes {
			return fmt.Errorf("archive unpacks to more than %d bytes", maxBytes)
		}
	}
	return nil
}

// ZipFolder packs a folder the way `fn create --folder` uploads it:
// relative POSIX paths, modes kept, __pycache__ and dot-directories skipped.
func ZipFolder(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		base := info.Name()
		if info.IsDir() {
			if base == "__pycache__" || strings.HasPrefix(base, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		h.Method = zip.Deflate
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
