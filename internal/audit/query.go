package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrInvalidCursor is returned for a cursor this package did not issue for
// that kind of call.
var ErrInvalidCursor = errors.New("invalid audit cursor")

// Filter selects records; empty fields match everything. A cursor only
// positions a page, it never widens the filter, so an agent scoped by Agent
// cannot step outside its own records with a crafted cursor.
type Filter struct {
	// Agent matches exactly. The API sets it to the calling agent's name so
	// agents see only their own records.
	Agent     string
	Connector string
	// Action matches exactly, or as a prefix when it ends in '*'
	// ("github.pr.*").
	Action   string
	Decision string
	Since    time.Time // inclusive; zero is unbounded
	Until    time.Time // exclusive; zero is unbounded
	Limit    int       // records per page: 0 means DefaultLimit, at most MaxLimit
	// Cursor continues from a previous Page.NextCursor of the same call
	// (Query or Follow); empty starts afresh.
	Cursor string
	// Settle is for Follow only: an allowed record younger than Settle whose
	// access-log entry has not arrived yet is held back (with every record
	// after it), so a follower usually sees its status and latency.
	Settle time.Duration
}

// Page is one page of records.
type Page struct {
	Records []Record
	// NextCursor continues the listing. Query leaves it empty when there is
	// nothing older; Follow always sets it, to poll for what comes next.
	NextCursor string
}

// selectRecords joins each decision with its access-log entry, if any.
const selectRecords = `SELECT d.seq, d.time_ns, d.decision_id, d.phase, d.agent, d.connector, d.action,
	d.decision, d.reason, d.rule, d.method, d.host, d.path, d.content_type, d.user_agent, d.status,
	d.approver, d.approved_ns, r.status, r.duration_us, r.bytes_received, r.bytes_sent
	FROM decisions d LEFT JOIN responses r ON r.decision_id = d.decision_id`

// Query returns the records matching f, newest first, ordered by (time,
// decision_id). Paging by that key is stable while records are written: a
// page never repeats a record of an earlier page, and no record that existed
// when paging started is skipped.
func (s *Store) Query(ctx context.Context, f Filter) (Page, error) {
	conds, args := f.conditions()
	if f.Cursor != "" {
		t, id, err := decodeTimeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		// The first term lets SQLite range-scan the index.
		conds = append(conds, "d.time_ns <= ? AND (d.time_ns < ? OR d.decision_id < ?)")
		args = append(args, t, t, id)
	}
	limit := f.limit()
	q := selectRecords + where(conds) + " ORDER BY d.time_ns DESC, d.decision_id DESC LIMIT ?"
	rows, err := scanRecords(ctx, s.r, q, append(args, limit+1)...)
	if err != nil {
		return Page{}, fmt.Errorf("querying audit records: %w", err)
	}
	var p Page
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1].rec
		p.NextCursor = encodeCursor("t:" + strconv.FormatInt(last.Time.UnixNano(), 10) + ":" + last.DecisionID)
	}
	p.Records = records(rows)
	return p, nil
}

// Follow returns the records matching f that were stored after f.Cursor, in
// the order they were stored, for `bridle logs --follow`. With no cursor it
// starts with the newest f.Limit matching records, like tail -f. Poll it with
// the returned NextCursor; a record stored late with an early time (the
// writer batches) is still returned once, which paging by time could miss.
func (s *Store) Follow(ctx context.Context, f Filter) (Page, error) {
	var after int64
	if f.Cursor != "" {
		var err error
		if after, err = decodeSeqCursor(f.Cursor); err != nil {
			return Page{}, err
		}
	}
	// One read transaction: the rows and the high-water mark come from the
	// same snapshot, so advancing the cursor to it skips nothing.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Page{}, fmt.Errorf("following audit records: %w", err)
	}
	defer tx.Rollback()
	var top int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM decisions").Scan(&top); err != nil {
		return Page{}, fmt.Errorf("following audit records: %w", err)
	}
	limit := f.limit()
	conds, args := f.conditions()
	conds = append(conds, "d.seq > ? AND d.seq <= ?")
	args = append(args, after, top)
	var rows []row
	if f.Cursor == "" {
		rows, err = scanRecords(ctx, tx, selectRecords+where(conds)+" ORDER BY d.seq DESC LIMIT ?", append(args, limit)...)
		slices.Reverse(rows)
	} else {
		rows, err = scanRecords(ctx, tx, selectRecords+where(conds)+" ORDER BY d.seq LIMIT ?", append(args, limit+1)...)
	}
	if err != nil {
		return Page{}, fmt.Errorf("following audit records: %w", err)
	}
	next := max(top, after)
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].seq
	}
	now := time.Now()
	for i, r := range rows {
		if !r.rec.settled(now, f.Settle) {
			rows, next = rows[:i], r.seq-1
			break
		}
	}
	return Page{Records: records(rows), NextCursor: encodeCursor("s:" + strconv.FormatInt(next, 10))}, nil
}

// settled reports whether a follower should see r now: Bridle answered it
// itself, Envoy's entry has arrived, or it is too old to wait for.
func (r *Record) settled(now time.Time, settle time.Duration) bool {
	return r.Responded || r.Decision != DecisionAllow || now.Sub(r.Time) >= settle
}

func (f Filter) limit() int {
	switch {
	case f.Limit <= 0:
		return DefaultLimit
	case f.Limit > MaxLimit:
		return MaxLimit
	}
	return f.Limit
}

// conditions returns the SQL conditions of f; values are always bound
// parameters, never spliced into the statement.
func (f Filter) conditions() ([]string, []any) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"d.agent", f.Agent}, {"d.connector", f.Connector}, {"d.decision", f.Decision},
	} {
		if c.v != "" {
			conds = append(conds, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if prefix, ok := strings.CutSuffix(f.Action, "*"); ok {
		// substr counts characters, not bytes; LIKE would need escaping
		// and ignores case.
		conds = append(conds, "substr(d.action, 1, ?) = ?")
		args = append(args, utf8.RuneCountInString(prefix), prefix)
	} else if f.Action != "" {
		conds = append(conds, "d.action = ?")
		args = append(args, f.Action)
	}
	if !f.Since.IsZero() {
		conds = append(conds, "d.time_ns >= ?")
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		conds = append(conds, "d.time_ns < ?")
		args = append(args, f.Until.UnixNano())
	}
	return conds, args
}

func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// row is a record with its insertion sequence number.
type row struct {
	seq int64
	rec Record
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanRecords(ctx context.Context, db querier, q string, args ...any) ([]row, error) {
	rs, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var x row
		r := &x.rec
		var t, approved int64
		var status, dur, in, sent sql.NullInt64
		if err := rs.Scan(&x.seq, &t, &r.DecisionID, &r.Phase, &r.Agent, &r.Connector, &r.Action,
			&r.Decision, &r.Reason, &r.Rule, &r.Method, &r.Host, &r.Path, &r.ContentType, &r.UserAgent,
			&r.Status, &r.Approver, &approved, &status, &dur, &in, &sent); err != nil {
			return nil, err
		}
		r.Time = time.Unix(0, t).UTC()
		if approved != 0 {
			r.ApprovedAt = time.Unix(0, approved).UTC()
		}
		if status.Valid {
			r.Responded = true
			r.Status = int(status.Int64)
			r.Duration = time.Duration(dur.Int64) * time.Microsecond
			r.BytesReceived, r.BytesSent = in.Int64, sent.Int64
		}
		out = append(out, x)
	}
	return out, rs.Err()
}

func records(rows []row) []Record {
	out := make([]Record, len(rows))
	for i := range rows {
		out[i] = rows[i].rec
	}
	return out
}

// Cursors are opaque to callers: base64 of "t:<time_ns>:<decision_id>" for
// Query, "s:<seq>" for Follow.
func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeCursor(c, kind string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidCursor, err)
	}
	rest, ok := strings.CutPrefix(string(b), kind+":")
	if !ok {
		return "", fmt.Errorf("%w: issued by the other listing (Query or Follow)", ErrInvalidCursor)
	}
	return rest, nil
}

func decodeTimeCursor(c string) (int64, string, error) {
	rest, err := decodeCursor(c, "t")
	if err != nil {
		return 0, "", err
	}
	ts, id, ok := strings.Cut(rest, ":")
	t, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", fmt.Errorf("%w: malformed", ErrInvalidCursor)
	}
	return t, id, nil
}

func decodeSeqCursor(c string) (int64, error) {
	rest, err := decodeCursor(c, "s")
	if err != nil {
		return 0, err
	}
	seq, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || seq < 0 {
		return 0, fmt.Errorf("%w: malformed", ErrInvalidCursor)
	}
	return seq, nil
}
