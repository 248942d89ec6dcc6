package audit

import (
	"context"
	"fmt"
	"time"
)

// cleanupChunk bounds the rows one retention transaction deletes, so the
// Writer's batches interleave with a large cleanup instead of waiting for
// it (SQLite has one write lock).
const cleanupChunk = 5000

// Cleanup deletes the records and access-log responses older than the
// retention period before now (time < now - RetentionDays) and returns how
// many records it deleted. Rows at or after the cutoff stay.
func (s *Store) Cleanup(ctx context.Context, now time.Time) (int64, error) {
	cutoff := now.Add(-s.retention).UnixNano()
	n, err := s.deleteBefore(ctx, "decisions", "seq", cutoff)
	if err != nil {
		return n, err
	}
	// Responses age by Envoy's request start, which is within moments of
	// the decision's time, so both sides of a join expire together.
	if _, err := s.deleteBefore(ctx, "responses", "decision_id", cutoff); err != nil {
		return n, err
	}
	return n, nil
}

// deleteBefore deletes table's rows with time_ns < cutoff in chunks. table
// and key are constants of this file, never input.
func (s *Store) deleteBefore(ctx context.Context, table, key string, cutoff int64) (int64, error) {
	q := fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE time_ns < ? LIMIT %[3]d)",
		table, key, cleanupChunk)
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, q, cutoff)
		if err != nil {
			return total, fmt.Errorf("deleting expired %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("deleting expired %s: %w", table, err)
		}
		total += n
		if n < cleanupChunk {
			return total, nil
		}
	}
}

// RunRetention calls Cleanup now and then every interval until ctx ends.
// Errors are logged and retried at the next tick: a failed cleanup only
// delays deletion.
func (s *Store) RunRetention(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := s.Cleanup(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("audit retention cleanup failed", "err", err)
		case n > 0:
			s.log.Info("audit retention cleanup", "deleted", n, "retention_days", int(s.retention/(24*time.Hour)))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
