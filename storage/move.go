package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bucketfs/bucketfs/metadata"
)

// Move renames a key, or every key under a prefix ending in "/", in one
// transaction (a directory too large for one transaction, over a few
// hundred keys, moves in chunks of moveChunkKeys, each atomic): each moved
// key gets a new head at its new name sharing the file, and a delete
// marker at its old name. An existing key at dst is
// overwritten (a new version); a directory move refuses a destination
// directory that has keys (ErrNotEmpty).
func (s *Store) Move(ctx context.Context, bucket, src, dst string) error {
	wrapErr := func(err error) error { return fmt.Errorf("move %s/%s to %s: %w", bucket, src, dst, err) }
	for _, k := range []string{src, dst} {
		if err := ValidateKey(k); err != nil {
			return wrapErr(err)
		}
	}
	dir := IsDirMarker(src)
	if dir != IsDirMarker(dst) {
		return wrapErr(fmt.Errorf("%w: source and destination must both end in / or neither", ErrInvalid))
	}
	if dir && strings.HasPrefix(dst, src) {
		return wrapErr(fmt.Errorf("%w: cannot move a directory into itself", ErrInvalid))
	}
	if src == dst {
		return nil
	}
	o := origin(ctx)
	// One transaction when it fits (the normal case); a directory too big
	// for one is moved in chunks, each atomic (see moveChunk).
	_, err := s.moveChunk(ctx, bucket, src, dst, dir, true, 0, o)
	if dir && errors.Is(err, metadata.ErrTxnTooBig) {
		first := true
		for {
			var n int
			n, err = s.moveChunk(ctx, bucket, src, dst, dir, first, moveChunkKeys, o)
			if err != nil || n == 0 {
				break
			}
			first = false
		}
		if !first && errors.Is(err, ErrNotFound) {
			err = nil // every key moved
		}
	}
	if err != nil {
		return wrapErr(err)
	}
	return nil
}

// moveChunkKeys is how many keys one transaction of a chunked directory
// move takes. A crash between chunks leaves the keys split between the old
// and the new directory, each key whole at exactly one name.
const moveChunkKeys = 100

// moveChunk moves src to dst in one transaction; for a directory, at most
// limit keys (0 = all). The destination check runs on the first chunk.
func (s *Store) moveChunk(ctx context.Context, bucket, src, dst string, dir, first bool, limit int, o Origin) (int, error) {
	moved := 0
	err := s.writeOp(ctx, false, func(tx metadata.Tx, c *txCtx) error {
		moved = 0
		b, err := writableBucket(tx, bucket)
		if err != nil {
			return err
		}
		var moves []*metadata.VersionRecord
		if dir {
			if err := metadata.LiveHeads(tx, b.ID, src, func(v *metadata.VersionRecord) (bool, error) {
				moves = append(moves, v)
				return limit <= 0 || len(moves) < limit, nil
			}); err != nil {
				return err
			}
			if len(moves) == 0 {
				return ErrNotFound
			}
			// The destination directory may hold only its own marker
			// (later chunks find the keys moved by the first ones).
			if first {
				busy := false
				if err := metadata.LiveHeads(tx, b.ID, dst, func(v *metadata.VersionRecord) (bool, error) {
					busy = v.Key != dst
					return !busy, nil
				}); err != nil {
					return err
				}
				if busy {
					return ErrNotEmpty
				}
			}
		} else {
			h, err := metadata.GetHead(tx, b.ID, src)
			if metadata.IsNotFound(err) || err == nil && h.File == nil {
				return ErrNotFound
			}
			if err != nil {
				return err
			}
			moves = append(moves, h)
		}
		moved = len(moves)
		for _, v := range moves {
			nk := dst + strings.TrimPrefix(v.Key, src)
			head, err := metadata.GetHead(tx, b.ID, nk)
			if err != nil && !metadata.IsNotFound(err) {
				return err
			}
			nv := copyVersion(v, b.ID, nk, c.versionSeq(headSeq(head)))
			if err := metadata.AddVersion(tx, nv, head); err != nil {
				return err
			}
			b.Size += nv.Size()
			if err := c.emit(tx, versionEvent(EventCopy, b, nv, o)); err != nil {
				return err
			}
			m := newVersion(b.ID, v.Key, nil, PutOptions{Mimetype: v.Mimetype}, c.versionSeq(v.Seq))
			if err := metadata.AddVersion(tx, m, v); err != nil {
				return err
			}
			if err := c.emit(tx, versionEvent(EventDeleteMarker, b, m, o)); err != nil {
				return err
			}
		}
		return metadata.PutBucket(tx, b)
	})
	return moved, err
}
