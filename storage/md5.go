package storage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/bucketfs/bucketfs/metadata"
)

// inlineMD5Max is the default largest object whose MD5 is computed in the
// put's own pass (Options.InlineMD5Max). MD5 of one stream runs at well under the disk's write rate, so
// larger objects get only BLAKE3 in the pass and their MD5 right after the
// put, from the blob (in the page cache), by the background checksummer.
const inlineMD5Max = 64 << 20

// MD5Ensurer is an optional ability of stores that may acknowledge a put
// before its MD5 is known (large objects): EnsureMD5 fills v.File.MD5,
// computing it now if the background checksummer has not yet. The HTTP
// server calls it before it emits a checksum.
type MD5Ensurer interface {
	EnsureMD5(ctx context.Context, v *ObjectVersion) error
}

var _ MD5Ensurer = (*Store)(nil)

// md5Worker is the background checksummer: a queue of file ids whose MD5
// is pending, one goroutine working through it, and the computations in
// flight so that a caller waiting for an MD5 and the worker never hash the
// same blob twice.
type md5Worker struct {
	mu       sync.Mutex
	queue    []string
	inflight map[string]*md5Call
	wake     chan struct{}
	cancel   context.CancelFunc
	done     chan struct{}
}

type md5Call struct {
	done chan struct{}
	sum  string
	err  error
}

// startMD5 resumes the pending MD5s recorded before a restart and starts
// the checksummer.
func (s *Store) startMD5() error {
	var ids []string
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		ids, err = metadata.MD5Pending(tx, 0)
		return err
	}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &s.md5
	w.queue, w.inflight, w.wake, w.cancel, w.done = ids, map[string]*md5Call{}, make(chan struct{}, 1), cancel, make(chan struct{})
	if s.opts.NoBackgroundMD5 {
		w.queue = nil
		close(w.done)
		return nil
	}
	go s.runMD5(ctx)
	return nil
}

func (s *Store) stopMD5() {
	if s.md5.cancel != nil {
		s.md5.cancel()
		<-s.md5.done
	}
}

// queueMD5 asks the checksummer for the MD5 of a file.
func (s *Store) queueMD5(fileID string) {
	w := &s.md5
	w.mu.Lock()
	w.queue = append(w.queue, fileID)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (s *Store) runMD5(ctx context.Context) {
	w := &s.md5
	defer close(w.done)
	for {
		w.mu.Lock()
		var id string
		if len(w.queue) > 0 {
			id, w.queue = w.queue[0], w.queue[1:]
		}
		w.mu.Unlock()
		if id == "" {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		if _, err := s.FileMD5(ctx, id); err != nil {
			if ctx.Err() != nil {
				return
			}
			// The marker stays: the next Open tries again.
			s.log.Warn("background md5", "file", id, "err", err)
		}
	}
}

// FileMD5 returns the "md5:<hex>" checksum of a file, computing and
// recording it now when it is still pending.
func (s *Store) FileMD5(ctx context.Context, fileID string) (string, error) {
	f, err := s.fileRecord(fileID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// Freed: nothing to compute any more.
			s.dropMD5Marker(fileID)
			return "", fmt.Errorf("md5 of %s: %w", fileID, err)
		}
		return "", err
	}
	if f.MD5 != "" {
		return f.MD5, nil
	}
	w := &s.md5
	w.mu.Lock()
	call := w.inflight[fileID]
	owner := call == nil
	if owner {
		call = &md5Call{done: make(chan struct{})}
		w.inflight[fileID] = call
	}
	w.mu.Unlock()
	if owner {
		call.sum, call.err = s.computeMD5(ctx, f)
		w.mu.Lock()
		delete(w.inflight, fileID)
		w.mu.Unlock()
		close(call.done)
	} else {
		select {
		case <-call.done:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	if call.err != nil {
		return "", fmt.Errorf("md5 of %s: %w", fileID, call.err)
	}
	return call.sum, nil
}

// EnsureMD5 fills v.File.MD5 (on a copy of the file instance) when pending.
func (s *Store) EnsureMD5(ctx context.Context, v *ObjectVersion) error {
	if v == nil || v.File == nil || v.File.MD5 != "" {
		return nil
	}
	sum, err := s.FileMD5(ctx, v.File.ID)
	if err != nil {
		return err
	}
	f := *v.File
	f.MD5 = sum
	v.File = &f
	return nil
}

// computeMD5 hashes a file's blob and records the MD5.
func (s *Store) computeMD5(ctx context.Context, f *metadata.FileRecord) (string, error) {
	r, err := s.openRecord(ctx, f, nil)
	if err != nil {
		return "", err
	}
	defer r.Close()
	h := md5.New()
	buf := getChunk()
	defer putChunk(buf)
	n, err := io.CopyBuffer(h, io.NewSectionReader(ctxReaderAt{ctx, r}, 0, f.Size), *buf)
	if err != nil {
		return "", err
	}
	if n != f.Size {
		return "", io.ErrUnexpectedEOF
	}
	sum := "md5:" + hex.EncodeToString(h.Sum(nil))
	// Derived data: recomputed after a crash from the marker, so it needs
	// no sync of its own.
	err = s.c.submit(func(tx metadata.Tx, c *txCtx) error { return recordMD5(tx, f.ID, sum) }, 0, true)
	return sum, err
}

// recordMD5 stores a file's MD5 in its record and in every version using
// it (versions carry a copy of their file instance) and drops the marker.
func recordMD5(tx metadata.Tx, fileID, sum string) error {
	cur, err := metadata.GetFile(tx, fileID)
	if metadata.IsNotFound(err) {
		return metadata.DeleteMD5Pending(tx, fileID)
	}
	if err != nil {
		return err
	}
	if cur.MD5 == "" {
		nf := *cur
		nf.MD5 = sum
		if err := metadata.PutFile(tx, &nf, cur); err != nil {
			return err
		}
	}
	ids, err := metadata.FileVersions(tx, fileID)
	if err != nil {
		return err
	}
	for _, id := range ids {
		v, err := metadata.GetVersion(tx, id)
		if metadata.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if v.File == nil || v.File.MD5 != "" {
			continue
		}
		f := *v.File
		f.MD5 = sum
		v.File = &f
		if err := metadata.UpdateVersion(tx, v); err != nil {
			return err
		}
	}
	return metadata.DeleteMD5Pending(tx, fileID)
}

func (s *Store) dropMD5Marker(fileID string) {
	err := s.c.submit(func(tx metadata.Tx, c *txCtx) error { return metadata.DeleteMD5Pending(tx, fileID) }, 0, true)
	if err != nil && !errors.Is(err, errClosed) {
		s.log.Warn("drop md5 marker", "file", fileID, "err", err)
	}
}
