package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite: no cgo in the release binary
)

// DefaultFile is the database's file name inside the state directory.
const DefaultFile = "audit.db"

// DefaultRetentionDays is how long records are kept when Options leaves it 0.
const DefaultRetentionDays = 30

// Options configure a Store.
type Options struct {
	// RetentionDays is audit.retention_days; 0 means DefaultRetentionDays.
	RetentionDays int
	// Log receives retention errors; nil discards them.
	Log *slog.Logger
}

// Store is the SQLite audit database. Its methods are safe for concurrent
// use; writes are serialised by SQLite (one writer at a time, WAL lets
// readers run beside it).
type Store struct {
	path      string
	retention time.Duration
	log       *slog.Logger
	w         *sql.DB // one connection: SQLite has one writer anyway
	r         *sql.DB // readers, never blocked by the writer in WAL mode
	stmts     statements
}

// migrations are applied in order; PRAGMA user_version counts those applied.
// Append only: never edit a migration that has shipped.
var migrations = []string{
	// 1: decisions and Envoy's responses, joined on decision_id at read time
	// so neither has to arrive first. seq is the insertion order (Follow's
	// cursor); AUTOINCREMENT keeps it from being reused after retention
	// empties the table. Times are unix nanoseconds, UTC.
	`CREATE TABLE decisions (
		seq          INTEGER PRIMARY KEY AUTOINCREMENT,
		time_ns      INTEGER NOT NULL,
		decision_id  TEXT    NOT NULL UNIQUE,
		phase        TEXT    NOT NULL,
		agent        TEXT    NOT NULL,
		connector    TEXT    NOT NULL,
		action       TEXT    NOT NULL,
		decision     TEXT    NOT NULL,
		reason       TEXT    NOT NULL,
		rule         TEXT    NOT NULL,
		method       TEXT    NOT NULL,
		host         TEXT    NOT NULL,
		path         TEXT    NOT NULL,
		content_type TEXT    NOT NULL,
		user_agent   TEXT    NOT NULL,
		status       INTEGER NOT NULL,
		approver     TEXT    NOT NULL,
		approved_ns  INTEGER NOT NULL
	);
	-- Query pages by (time_ns, decision_id); agents read only their own rows.
	CREATE INDEX decisions_by_time  ON decisions (time_ns, decision_id);
	CREATE INDEX decisions_by_agent ON decisions (agent, time_ns, decision_id);
	CREATE TABLE responses (
		decision_id    TEXT    PRIMARY KEY,
		time_ns        INTEGER NOT NULL,
		status         INTEGER NOT NULL,
		duration_us    INTEGER NOT NULL,
		bytes_received INTEGER NOT NULL,
		bytes_sent     INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE INDEX responses_by_time ON responses (time_ns);`,
}

// Open opens (creating if needed) the audit database at path, conventionally
// <state_dir>/audit.db, and brings its schema up to date. The file and its
// WAL companions are readable by the owner only (0600): they describe every
// request every agent made.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating audit dir: %w", err)
	}
	// Create the file ourselves so it never exists with the umask's mode;
	// SQLite gives -wal and -shm the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating audit db: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("restricting audit db mode: %w", err)
	}
	s := &Store{path: path, log: opt.Log, retention: retentionOf(opt.RetentionDays)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	// busy_timeout: retention and the writer may briefly contend for the
	// write lock. synchronous=NORMAL is durable across application crashes
	// in WAL mode and skips an fsync per commit; an OS crash may lose the
	// last moments, which an audit log of best-effort metadata accepts.
	// _txlock=immediate takes the write lock at BEGIN, so a transaction
	// never fails half-way trying to upgrade a read lock. temp_store=MEMORY
	// keeps the statement journal of each multi-row INSERT (see insertRows)
	// in memory: in a file it cost five times the WAL's writes.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(5000)"
	if s.w, err = sql.Open("sqlite", dsn+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate"); err != nil {
		return nil, fmt.Errorf("opening audit db: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	if s.r, err = sql.Open("sqlite", dsn+"&_query_only=1"); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("opening audit db: %w", err)
	}
	s.r.SetMaxOpenConns(4)
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func retentionOf(days int) time.Duration {
	if days <= 0 {
		days = DefaultRetentionDays
	}
	return time.Duration(days) * 24 * time.Hour
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes the database. The last connection to close checkpoints the
// WAL into the main file.
func (s *Store) Close() error {
	return errors.Join(s.stmts.close(), s.r.Close(), s.w.Close())
}

// migrate applies the migrations this binary knows and the file lacks, each
// in its own transaction together with its user_version bump.
func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("reading audit schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("audit db %s has schema version %d, newer than this binary's %d", s.path, v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrating audit db to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating audit db to version %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrating audit db to version %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrating audit db to version %d: %w", v+1, err)
		}
	}
	return nil
}

// insertRows is how many rows one prepared multi-row INSERT carries. A batch
// is stored as a few such statements plus single-row ones for the rest:
// one statement execution per row costs more (database/sql and the driver
// bind, step and reset each time) than the rows themselves, and a fixed
// row count lets the statement be prepared once. 32 rows × 17 columns stays
// far below SQLite's 32,766 bound variables.
const insertRows = 32

// Column lists and conflict clauses of the two tables. Records are
// immutable: a second record with a known decision_id is ignored. Later
// access-log entries for the same decision (Envoy may log a long stream
// more than once) replace earlier ones; within one multi-row statement rows
// are applied in order, so the last still wins.
const (
	recordColumns = `INSERT INTO decisions (time_ns, decision_id, phase, agent, connector, action,
	decision, reason, rule, method, host, path, content_type, user_agent, status, approver, approved_ns) VALUES `
	recordConflict   = ` ON CONFLICT (decision_id) DO NOTHING`
	recordArgs       = 17
	responseColumns  = `INSERT INTO responses (decision_id, time_ns, status, duration_us, bytes_received, bytes_sent) VALUES `
	responseConflict = ` ON CONFLICT (decision_id) DO UPDATE SET time_ns = excluded.time_ns, status = excluded.status,
	duration_us = excluded.duration_us, bytes_received = excluded.bytes_received, bytes_sent = excluded.bytes_sent`
	responseArgs = 6
)

// insertSQL is the INSERT of rows rows of args columns each.
func insertSQL(head, tail string, args, rows int) string {
	row := "(" + strings.Repeat("?, ", args-1) + "?)"
	return head + strings.Repeat(row+", ", rows-1) + row + tail
}

// statements are the writer connection's prepared inserts, prepared once at
// Open and reused by every transaction.
type statements struct {
	record, records, response, responses *sql.Stmt
}

func (s *Store) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		if st, err = s.w.PrepareContext(ctx, q); err != nil {
			err = fmt.Errorf("preparing audit insert: %w", err)
		}
		return st
	}
	s.stmts = statements{
		record:    prep(insertSQL(recordColumns, recordConflict, recordArgs, 1)),
		records:   prep(insertSQL(recordColumns, recordConflict, recordArgs, insertRows)),
		response:  prep(insertSQL(responseColumns, responseConflict, responseArgs, 1)),
		responses: prep(insertSQL(responseColumns, responseConflict, responseArgs, insertRows)),
	}
	return err
}

func (st statements) close() error {
	var errs []error
	for _, p := range []*sql.Stmt{st.record, st.records, st.response, st.responses} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	return errors.Join(errs...)
}

// Insert stores records and responses in one transaction, synchronously.
// Records are immutable: a second record with a known decision_id is
// ignored. Paths are redacted and strings bounded on the way in. The
// decision path uses a Writer instead, which calls Insert in batches.
func (s *Store) Insert(ctx context.Context, recs []Record, resps []Response) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning audit insert: %w", err)
	}
	defer tx.Rollback() // no-op after Commit
	args := make([]any, 0, insertRows*recordArgs)
	for len(recs) > 0 {
		n, st := s.chunk(len(recs), s.stmts.records, s.stmts.record)
		args = args[:0]
		for _, r := range recs[:n] {
			args = appendRecordArgs(args, r)
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("inserting records %s…: %w", recs[0].DecisionID, err)
		}
		recs = recs[n:]
	}
	for len(resps) > 0 {
		n, st := s.chunk(len(resps), s.stmts.responses, s.stmts.response)
		args = args[:0]
		for _, x := range resps[:n] {
			args = append(args, clip(x.DecisionID, maxIDLen), x.Time.UnixNano(), x.Status,
				x.Duration.Microseconds(), x.BytesReceived, x.BytesSent)
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("inserting responses %s…: %w", resps[0].DecisionID, err)
		}
		resps = resps[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing audit insert: %w", err)
	}
	return nil
}

// chunk picks the statement for the next rows of left: a full multi-row
// one while insertRows remain, then single rows.
func (s *Store) chunk(left int, many, one *sql.Stmt) (int, *sql.Stmt) {
	if left >= insertRows {
		return insertRows, many
	}
	return 1, one
}

// appendRecordArgs appends r's columns, sanitized, in recordColumns' order.
func appendRecordArgs(args []any, r Record) []any {
	r = r.sanitized()
	var approved int64
	if !r.ApprovedAt.IsZero() {
		approved = r.ApprovedAt.UnixNano()
	}
	return append(args, r.Time.UnixNano(), r.DecisionID, r.Phase, r.Agent, r.Connector,
		r.Action, r.Decision, r.Reason, r.Rule, r.Method, r.Host, r.Path, r.ContentType,
		r.UserAgent, r.Status, r.Approver, approved)
}
