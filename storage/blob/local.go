package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Local stores blobs in a directory tree, Invenio's layout:
// <root>/<aa>/<bb>/<rest of id>/data. New blobs are written to
// <root>/tmp, fsynced, renamed into place, and the directories that gained
// an entry are fsynced, so a committed blob survives power loss.
type Local struct {
	root string

	mu     sync.Mutex
	active map[string]bool // temp file names of live writers
	// unsynced holds, by blob id, the blobs published by CommitNoSync and
	// not yet flushed, with the directories whose entries must be synced.
	unsynced map[string][]string
}

var (
	_ Backend         = (*Local)(nil)
	_ Flusher         = (*Local)(nil)
	_ NoSyncCommitter = (*localWriter)(nil)
)

const tmpDir = "tmp"

// NewLocal opens (creating) a local backend rooted at root.
func NewLocal(root string) (*Local, error) {
	if err := os.MkdirAll(filepath.Join(root, tmpDir), 0o755); err != nil {
		return nil, wrap("blob: create root", err)
	}
	return &Local{root: root, active: map[string]bool{}, unsynced: map[string][]string{}}, nil
}

// Root is the directory holding the blobs.
func (l *Local) Root() string { return l.root }

// Path returns the file holding blob id.
func (l *Local) Path(id string) (string, error) {
	if len(id) <= 4 || strings.ContainsAny(id, "/\\.\x00") {
		return "", fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return filepath.Join(l.root, id[0:2], id[2:4], id[4:], "data"), nil
}

// Create starts a blob in <root>/tmp.
func (l *Local) Create(ctx context.Context) (Writer, error) {
	f, err := os.CreateTemp(filepath.Join(l.root, tmpDir), "w-*")
	if err != nil {
		return nil, wrap("blob: create temp", err)
	}
	name := filepath.Base(f.Name())
	l.mu.Lock()
	l.active[name] = true
	l.mu.Unlock()
	return &localWriter{l: l, f: f, name: name}, nil
}

type localWriter struct {
	l    *Local
	f    *os.File
	name string
	done bool
	// written counts bytes; flushed is where early writeback started up to.
	written, flushed int64
	// direct: the file is open with O_DIRECT (CreateSized).
	direct bool
}

// writebackChunk: a large blob asks the kernel to start writing each chunk
// to the disk as soon as it is complete (sync_file_range without waiting),
// so the disk works while the rest is still arriving and Commit's fsync
// waits only for the tail instead of the whole object.
const writebackChunk = 8 << 20

func (w *localWriter) Write(p []byte) (int, error) {
	if w.direct {
		return w.writeDirect(p)
	}
	n, err := w.f.Write(p)
	if err != nil {
		return n, wrap("blob: write", err)
	}
	w.written += int64(n)
	if w.written-w.flushed >= writebackChunk {
		// Best effort: Commit's fsync is what makes the bytes durable.
		unix.SyncFileRange(int(w.f.Fd()), w.flushed, w.written-w.flushed, unix.SYNC_FILE_RANGE_WRITE)
		w.flushed = w.written
	}
	return n, nil
}

// destination is where id's blob goes, with the directories made for it
// (both commits start here); on an error the writer is aborted.
func (w *localWriter) destination(id string) (dst string, dirs []string, err error) {
	if w.done {
		return "", nil, errors.New("blob: writer already finished")
	}
	if dst, err = w.l.Path(id); err == nil {
		dirs, err = w.l.mkdirs(filepath.Dir(dst))
	}
	if err != nil {
		w.Abort()
	}
	return dst, dirs, err
}

// Commit renames the temp file under id and syncs it and its directories.
func (w *localWriter) Commit(ctx context.Context, id string) error {
	dst, dirs, err := w.destination(id)
	if err != nil {
		return err
	}
	if err := os.Rename(w.f.Name(), dst); err != nil {
		w.Abort()
		return wrap("blob: rename", err)
	}
	w.finish()
	// The blob is not referenced until Commit returns, so the order in
	// which its bytes and the directory entries naming it reach the disk
	// does not matter: all are synced at once, and concurrent fsyncs share
	// one journal commit instead of waiting for three in a row.
	dirs = append(dirs, filepath.Dir(dst))
	errs := make(chan error, len(dirs))
	for _, d := range dirs {
		go func() { errs <- syncDirs([]string{d}) }()
	}
	err = w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		err = wrap("blob: fsync", err)
	}
	for range dirs {
		if derr := <-errs; err == nil {
			err = derr
		}
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

// Abort removes the temp file.
func (w *localWriter) Abort() error {
	if w.done {
		return nil
	}
	w.f.Close() // may already be closed by a failed Commit
	err := os.Remove(w.f.Name())
	w.finish()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrap("blob: remove temp", err)
	}
	return nil
}

func (w *localWriter) finish() {
	w.done = true
	w.l.mu.Lock()
	delete(w.l.active, w.name)
	w.l.mu.Unlock()
}

// mkdirs creates dir and its missing parents below root; it returns the
// parents whose entries changed and must be fsynced.
func (l *Local) mkdirs(dir string) ([]string, error) {
	rel, err := filepath.Rel(l.root, dir)
	if err != nil {
		return nil, err
	}
	var changed []string
	cur := l.root
	for _, seg := range strings.Split(rel, string(filepath.Separator)) {
		next := filepath.Join(cur, seg)
		err := os.Mkdir(next, 0o755)
		switch {
		case err == nil:
			changed = append(changed, cur)
		case errors.Is(err, fs.ErrExist):
		default:
			return nil, wrap("blob: mkdir", err)
		}
		cur = next
	}
	return changed, nil
}

func syncDirs(dirs []string) error {
	for _, d := range dirs {
		f, err := os.Open(d)
		if err != nil {
			return wrap("blob: open dir", err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return wrap("blob: fsync dir", err)
		}
	}
	return nil
}

type localReader struct {
	*os.File
	size int64
}

// Size is the blob's length.
func (r localReader) Size() int64 { return r.size }

// Open opens blob id.
func (l *Local) Open(ctx context.Context, id string) (Reader, error) {
	p, err := l.Path(id)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, wrap("blob: open "+id, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, wrap("blob: stat "+id, err)
	}
	return localReader{File: f, size: st.Size()}, nil
}

// Remove deletes blob id and its directory (and empty parents).
func (l *Local) Remove(ctx context.Context, id string) error {
	p, err := l.Path(id)
	if err != nil {
		return err
	}
	l.mu.Lock()
	delete(l.unsynced, id)
	l.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return wrap("blob: remove "+id, err)
	}
	// The per-blob directory goes too; the shared <aa>/<bb> levels stay,
	// since a concurrent Commit may be about to rename into them.
	os.Remove(filepath.Dir(p))
	return nil
}

// List walks the tree and reports every committed blob.
func (l *Local) List(ctx context.Context, fn func(id string) error) error {
	aas, err := os.ReadDir(l.root)
	if err != nil {
		return wrap("blob: list", err)
	}
	for _, a := range aas {
		if !a.IsDir() || a.Name() == tmpDir || len(a.Name()) != 2 {
			continue
		}
		bbs, err := os.ReadDir(filepath.Join(l.root, a.Name()))
		if err != nil {
			return wrap("blob: list", err)
		}
		for _, b := range bbs {
			rests, err := os.ReadDir(filepath.Join(l.root, a.Name(), b.Name()))
			if err != nil {
				return wrap("blob: list", err)
			}
			for _, r := range rests {
				if err := ctx.Err(); err != nil {
					return err
				}
				if _, err := os.Stat(filepath.Join(l.root, a.Name(), b.Name(), r.Name(), "data")); err != nil {
					continue
				}
				if err := fn(a.Name() + b.Name() + r.Name()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Allocate creates blob id with size zero bytes, reserving the space when
// the filesystem supports it so a full disk is reported up front.
func (l *Local) Allocate(ctx context.Context, id string, size int64) error {
	p, err := l.Path(id)
	if err != nil {
		return err
	}
	dirs, err := l.mkdirs(filepath.Dir(p))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return wrap("blob: allocate "+id, err)
	}
	defer f.Close()
	if size > 0 {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
			if errors.Is(err, unix.ENOSPC) {
				os.Remove(p)
				return wrap("blob: allocate "+id, err)
			}
			if err := f.Truncate(size); err != nil {
				os.Remove(p)
				return wrap("blob: allocate "+id, err)
			}
		}
	}
	if err := f.Sync(); err != nil {
		return wrap("blob: fsync "+id, err)
	}
	return syncDirs(append(dirs, filepath.Dir(p)))
}

// WriteAt writes r into blob id at off and fdatasyncs it.
func (l *Local) WriteAt(ctx context.Context, id string, off int64, r io.Reader) (int64, error) {
	p, err := l.Path(id)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return 0, wrap("blob: open "+id, err)
	}
	defer f.Close()
	n, err := io.Copy(io.NewOffsetWriter(f, off), r)
	if err != nil {
		return n, wrap("blob: write "+id, err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return n, wrap("blob: fdatasync "+id, err)
	}
	return n, nil
}

// RemoveTemps deletes temp files that no live writer owns.
func (l *Local) RemoveTemps(ctx context.Context) (int, error) {
	dir := filepath.Join(l.root, tmpDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, wrap("blob: list temps", err)
	}
	n := 0
	for _, e := range ents {
		l.mu.Lock()
		live := l.active[e.Name()]
		l.mu.Unlock()
		if live {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
			n++
		}
	}
	return n, nil
}
