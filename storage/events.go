package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
)

// Events returns up to limit events with Seq > after, oldest first. When
// there is none yet it waits up to wait for the next commit of events.
func (s *Store) Events(ctx context.Context, after uint64, limit int, wait time.Duration) ([]Event, error) {
	if limit <= 0 {
		limit = 1000
	}
	var timer <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	for {
		seen, ch := s.c.waiter()
		if seen > after {
			var out []Event
			err := s.view(func(tx metadata.Tx) error {
				var err error
				out, err = metadata.ReadEvents(tx, after, limit)
				return err
			})
			if err != nil || len(out) > 0 {
				return out, err
			}
		}
		if timer == nil {
			return nil, nil
		}
		select {
		case <-ch:
		case <-s.c.stopped:
			return nil, errClosed
		case <-timer:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Cursor returns the seq a consumer acknowledged last (0 if none).
func (s *Store) Cursor(consumer string) (uint64, error) {
	if consumer == "" {
		return 0, fmt.Errorf("cursor: %w: empty consumer name", ErrInvalid)
	}
	var seq uint64
	err := s.view(func(tx metadata.Tx) error {
		var err error
		seq, err = metadata.GetCursor(tx, consumer)
		return err
	})
	return seq, err
}

// Ack records that consumer has processed every event up to seq. A cursor
// never moves backwards.
func (s *Store) Ack(consumer string, seq uint64) error {
	if consumer == "" {
		return fmt.Errorf("ack: %w: empty consumer name", ErrInvalid)
	}
	return s.c.do(func(tx metadata.Tx, c *txCtx) error {
		cur, err := metadata.GetCursor(tx, consumer)
		if err != nil || seq <= cur {
			return err
		}
		return metadata.SetCursor(tx, consumer, seq)
	})
}

// TrimEvents deletes events with Seq <= upTo (typically the smallest
// cursor of every consumer), in bounded transactions, keeping the newest
// event; it returns how many it deleted.
func (s *Store) TrimEvents(ctx context.Context, upTo uint64) (int, error) {
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n := 0
		if err := s.c.do(func(tx metadata.Tx, c *txCtx) error {
			// The newest event always stays: after a reopen the sequencer
			// continues from it, so sequence numbers never repeat.
			limit := min(upTo, c.c.lastSeq-1)
			if c.c.lastSeq == 0 {
				limit = 0
			}
			var err error
			n, err = metadata.TrimEvents(tx, limit, 1000)
			return err
		}); err != nil {
			return total, err
		}
		total += n
		if n < 1000 {
			return total, nil
		}
	}
}
