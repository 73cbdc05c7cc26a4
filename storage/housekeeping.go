package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
)

// ExpireMultiparts removes uploads created more than olderThan ago
// (olderThan <= 0: Options.MultipartExpiry). Unlike the reference (spec
// §8.5) incomplete uploads expire too: their reservation is given back and
// their blob freed. Completed ones just lose their records.
func (s *Store) ExpireMultiparts(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		olderThan = s.opts.MultipartExpiry
	}
	cutoff := now().Add(-olderThan)
	var stale []string
	if err := s.view(func(tx metadata.Tx) error {
		return metadata.ListMultiparts(tx, func(m *metadata.MultipartRecord) (bool, error) {
			if m.Created.Before(cutoff) {
				stale = append(stale, m.UploadID)
			}
			return ctx.Err() == nil, nil
		})
	}); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range stale {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := s.dropMultipart(ctx, id, false); err != nil {
			if isNotFound(err) {
				continue
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// CollectGarbage removes blobs that no file instance refers to (left by a
// crash between writing a blob and committing its record, or by a failed
// free) and temporary files of writers that no longer exist.
func (s *Store) CollectGarbage(ctx context.Context) (int, error) {
	locs, err := s.Locations(ctx)
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, loc := range locs {
		be, err := s.backendFor(loc)
		if err != nil {
			return removed, err
		}
		n, err := be.RemoveTemps(ctx)
		removed += n
		if err != nil {
			return removed, mapBlobErr(err)
		}
		var ids []string
		if err := be.List(ctx, func(id string) error {
			ids = append(ids, id)
			return nil
		}); err != nil {
			return removed, mapBlobErr(err)
		}
		for len(ids) > 0 {
			chunk := ids[:min(len(ids), 1000)]
			ids = ids[len(chunk):]
			// Blobs being written have no record yet. Checking this before
			// reading the records closes the race with their commit: a
			// blob not pending now either has its record already or never
			// will.
			var candidates []string
			for _, id := range chunk {
				if !s.isPending(id) {
					candidates = append(candidates, id)
				}
			}
			chunk = candidates
			var orphans []string
			if err := s.view(func(tx metadata.Tx) error {
				for _, id := range chunk {
					if _, err := metadata.GetFile(tx, id); metadata.IsNotFound(err) {
						orphans = append(orphans, id)
					} else if err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				return removed, err
			}
			// A NoSync delete may have dropped a record without syncing:
			// its blob may go only once the drop is durable.
			if len(orphans) > 0 {
				if err := s.Sync(ctx); err != nil {
					return removed, err
				}
			}
			for _, id := range orphans {
				if err := be.Remove(ctx, id); err != nil {
					return removed, mapBlobErr(err)
				}
				removed++
			}
		}
	}
	if removed > 0 {
		s.log.Info("garbage collected", "blobs", removed)
	}
	return removed, nil
}

// fileRecord reads a file instance's record (ErrNotFound once freed).
func (s *Store) fileRecord(fileID string) (*metadata.FileRecord, error) {
	var f *metadata.FileRecord
	err := s.view(func(tx metadata.Tx) error {
		var err error
		f, err = metadata.GetFile(tx, fileID)
		return err
	})
	if metadata.IsNotFound(err) {
		return nil, ErrNotFound
	}
	return f, err
}

// CheckFixity re-hashes a file's blob and records the outcome in
// last_check/last_check_at (spec §7.7): true when both checksums match,
// false when they do not, null when the blob cannot be read (that error is
// returned too).
func (s *Store) CheckFixity(ctx context.Context, fileID string) (bool, error) {
	f, err := s.fileRecord(fileID)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return false, fmt.Errorf("fixity of %s: %w", fileID, err)
		}
		return false, err
	}
	if !f.Readable {
		return false, fmt.Errorf("fixity of %s: %w: file is not readable (an upload in progress)", fileID, ErrInvalid)
	}
	var result *bool
	ok, checkErr := s.rehash(ctx, f)
	if checkErr == nil {
		result = &ok
	} else if errors.Is(checkErr, context.Canceled) || errors.Is(checkErr, context.DeadlineExceeded) {
		return false, checkErr
	}
	err = s.c.do(func(tx metadata.Tx, c *txCtx) error {
		cur, err := metadata.GetFile(tx, fileID)
		if metadata.IsNotFound(err) {
			return nil // freed meanwhile
		}
		if err != nil {
			return err
		}
		nf := *cur
		nf.LastCheck, nf.LastCheckAt = result, now()
		return metadata.PutFile(tx, &nf, cur)
	})
	if checkErr != nil {
		return false, fmt.Errorf("fixity of %s: %w", fileID, checkErr)
	}
	return ok, err
}

func (s *Store) rehash(ctx context.Context, f *metadata.FileRecord) (bool, error) {
	var data []byte
	if f.Inline {
		if err := s.view(func(tx metadata.Tx) error {
			var err error
			data, err = metadata.GetFileData(tx, f.ID)
			return err
		}); err != nil {
			return false, err
		}
	}
	r, err := s.openRecord(ctx, f, data)
	if errors.Is(err, ErrChecksum) {
		return false, nil // wrong size
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	md5sum, b3sum, err := hashReaderAt(ctxReaderAt{ctx, r}, f.Size)
	if err != nil {
		return false, err
	}
	// An MD5 still pending (large put) is not known yet: BLAKE3 decides.
	return (f.MD5 == "" || md5sum == f.MD5) && b3sum == f.BLAKE3, nil
}

type ctxReaderAt struct {
	ctx context.Context
	r   interface {
		ReadAt([]byte, int64) (int, error)
	}
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

// FixityPass checks up to max readable files, least recently checked
// first. It returns how many were checked and how many failed the check
// or could not be read.
func (s *Store) FixityPass(ctx context.Context, max int) (checked, bad int, err error) {
	if max <= 0 {
		return 0, 0, nil
	}
	var ids []string
	if err := s.view(func(tx metadata.Tx) error {
		var err error
		ids, err = metadata.FixityQueue(tx, max)
		return err
	}); err != nil {
		return 0, 0, err
	}
	for _, id := range ids {
		ok, err := s.CheckFixity(ctx, id)
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return checked, bad, err
		}
		if errors.Is(err, ErrNotFound) && !ok {
			// The record vanished (freed) or its blob is missing.
			var gone bool
			s.view(func(tx metadata.Tx) error {
				_, e := metadata.GetFile(tx, id)
				gone = metadata.IsNotFound(e)
				return nil
			})
			if gone {
				continue
			}
		}
		checked++
		if err != nil || !ok {
			bad++
			s.log.Warn("fixity check failed", "file", id, "err", err)
		}
	}
	return checked, bad, nil
}

// ValueLogGC reclaims space in the index's value log (no-op for the
// in-memory index).
func (s *Store) ValueLogGC() error {
	if g, ok := s.db.(metadata.ValueLogGCer); ok {
		return g.ValueLogGC(0.5)
	}
	return nil
}

// DamagedFile is a file whose last fixity check failed or could not read
// it, with the versions that use it.
type DamagedFile struct {
	File     FileInstance
	Versions []*ObjectVersion
}

// DamagedFiles lists the files whose last check was not good (last_check
// false or null after a check), for fsck reports.
func (s *Store) DamagedFiles(ctx context.Context) ([]DamagedFile, error) {
	var out []DamagedFile
	err := s.view(func(tx metadata.Tx) error {
		var bad []*metadata.FileRecord
		if err := metadata.ListFiles(tx, func(f *metadata.FileRecord) (bool, error) {
			if !f.LastCheckAt.IsZero() && (f.LastCheck == nil || !*f.LastCheck) {
				bad = append(bad, f)
			}
			return ctx.Err() == nil, nil
		}); err != nil {
			return err
		}
		for _, f := range bad {
			d := DamagedFile{File: f.FileInstance}
			ids, err := metadata.FileVersions(tx, f.ID)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if v, err := metadata.GetVersion(tx, id); err == nil {
					d.Versions = append(d.Versions, &v.ObjectVersion)
				}
			}
			out = append(out, d)
		}
		return ctx.Err()
	})
	return out, err
}
