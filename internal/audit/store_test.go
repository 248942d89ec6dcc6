package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// base is the time of the first test record.
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t testing.TB, opt Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), DefaultFile), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testRecord returns the i-th record of a varied set: 3 agents, 2
// connectors, every 4th a deny, one second apart.
func testRecord(i int) Record {
	r := Record{
		Time:       base.Add(time.Duration(i) * time.Second),
		DecisionID: fmt.Sprintf("%032x", i),
		Phase:      PhaseRequest,
		Agent:      []string{"alice", "bob", "carol"}[i%3],
		Connector:  []string{"github", "stripe"}[i%2],
		Action:     []string{"github.pr.merge", "stripe.charge.create"}[i%2],
		Decision:   DecisionAllow,
		Reason:     "allowed",
		Method:     "POST",
		Host:       "api.example.com",
		Path:       fmt.Sprintf("/items/%d", i),
	}
	if i%4 == 0 {
		r.Decision, r.Reason, r.Status = DecisionDeny, "policy_deny", 403
	}
	return r
}

// seed inserts testRecord(0) to testRecord(n-1) and returns them.
func seed(t testing.TB, s *Store, n int) []Record {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = testRecord(i)
	}
	insert(t, s, recs, nil)
	return recs
}

func insert(t testing.TB, s *Store, recs []Record, resps []Response) {
	t.Helper()
	if err := s.Insert(context.Background(), recs, resps); err != nil {
		t.Fatal(err)
	}
}

func queryAll(t testing.TB, s *Store, f Filter) []Record {
	t.Helper()
	p, err := s.Query(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return p.Records
}

func count(t testing.TB, s *Store, table string) int {
	t.Helper()
	var n int
	if err := s.r.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStoreRoundTrip(t *testing.T) {
	s := openStore(t, Options{})
	in := Record{
		Time: base, DecisionID: "0195a1b2c3d4e5f60718293a4b5c6d7e", Phase: PhaseRequest,
		Agent: "alice", Connector: "gh", Action: "github.pr.merge", Decision: DecisionAllow,
		Reason: "allowed", Rule: "github/merge-with-approval", Method: "PUT", Host: "api.github.com",
		Path:        "/repos/a/b/pulls/1/merge?access_token=abc&page=2",
		ContentType: "application/json", UserAgent: "agent/1.0",
		Approver: "ops@example.com", ApprovedAt: base.Add(-time.Minute),
	}
	insert(t, s, []Record{in}, nil)
	got := queryAll(t, s, Filter{})
	want := in
	want.Path = "/repos/a/b/pulls/1/merge?access_token=REDACTED&page=2"
	if len(got) != 1 || got[0] != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestInsertKeepsTheFirstRecordOfADecision(t *testing.T) {
	s := openStore(t, Options{})
	first := testRecord(1)
	second := first
	second.Decision = DecisionDeny
	insert(t, s, []Record{first}, nil)
	insert(t, s, []Record{second}, nil)
	got := queryAll(t, s, Filter{})
	if len(got) != 1 || got[0].Decision != DecisionAllow {
		t.Fatalf("got %+v, want the first record only", got)
	}
}

func TestInsertBoundsLongStrings(t *testing.T) {
	s := openStore(t, Options{})
	r := testRecord(1)
	r.Path = "/" + strings.Repeat("a", 10000)
	r.UserAgent = strings.Repeat("u", 10000)
	r.Agent = "bad\xffutf8"
	insert(t, s, []Record{r}, nil)
	got := queryAll(t, s, Filter{})[0]
	if len(got.Path) != maxPathLen || len(got.UserAgent) != maxValueLen || got.Agent != "bad\uFFFDutf8" {
		t.Fatalf("got path %d bytes, user agent %d bytes, agent %q", len(got.Path), len(got.UserAgent), got.Agent)
	}
}

func TestOpenCreatesOwnerOnlyFilesInWALMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", DefaultFile)
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert(t, s, []Record{testRecord(1)}, nil)
	var mode string
	var version int
	if err := s.r.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := s.r.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || version != len(migrations) {
		t.Fatalf("got journal_mode %q, user_version %d; want wal, %d", mode, version, len(migrations))
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s: got mode %v, want 0600", filepath.Base(f), st.Mode().Perm())
		}
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Errorf("state dir: got mode %v, want 0700", st.Mode().Perm())
	}
}

func TestOpenAcceptsAPathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my state?#%20", DefaultFile)
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	insert(t, s, []Record{testRecord(1)}, nil)
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestOpenTightensAnExistingLooseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("got mode %v, want 0600", st.Mode().Perm())
	}
}

func TestReopenKeepsRecordsAndSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	insert(t, s, []Record{testRecord(1)}, nil)
	s.Close()
	s, err = Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	if got := count(t, s, "decisions"); got != 1 {
		t.Fatalf("got %d records after reopening, want 1", got)
	}
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), DefaultFile)
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(t.Context(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("got %v, want a newer-schema error", err)
	}
}

func TestInsertFailsAfterClose(t *testing.T) {
	s := openStore(t, Options{})
	s.Close()
	err := s.Insert(context.Background(), []Record{testRecord(1)}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "beginning audit insert: ") || errors.Unwrap(err) == nil {
		t.Fatalf("got %v, want a wrapped error naming the step", err)
	}
}

// TestInsertStoresBatchesOfEverySize crosses the multi-row statement's
// boundaries (insertRows): every row is stored once, the first record of a
// decision is kept and the last response of a decision wins, within one
// statement as across statements.
func TestInsertStoresBatchesOfEverySize(t *testing.T) {
	for _, n := range []int{1, 2, insertRows - 1, insertRows, insertRows + 1, 2*insertRows + 3} {
		t.Run(fmt.Sprintf("%d records and responses", n), func(t *testing.T) {
			s := openStore(t, Options{})
			var recs []Record
			var resps []Response
			for i := range n {
				recs = append(recs, testRecord(i))
				resps = append(resps, Response{DecisionID: testRecord(i).DecisionID, Time: base, Status: 500, Duration: time.Millisecond})
			}
			// A second record of decision 0, and a later response of the
			// last decision, at the end of the batch.
			again := testRecord(0)
			again.Reason = "second"
			recs = append(recs, again)
			resps = append(resps, Response{DecisionID: testRecord(n - 1).DecisionID, Time: base, Status: 200, Duration: time.Millisecond})
			insert(t, s, recs, resps)

			if got := count(t, s, "decisions"); got != n {
				t.Errorf("%d decisions stored, want %d", got, n)
			}
			if got := count(t, s, "responses"); got != n {
				t.Errorf("%d responses stored, want %d", got, n)
			}
			var reason string
			if err := s.r.QueryRow("SELECT reason FROM decisions WHERE decision_id = ?", testRecord(0).DecisionID).Scan(&reason); err != nil || reason != testRecord(0).Reason {
				t.Errorf("decision 0: reason %q, %v; want the first record's %q", reason, err, testRecord(0).Reason)
			}
			var status int
			if err := s.r.QueryRow("SELECT status FROM responses WHERE decision_id = ?", testRecord(n-1).DecisionID).Scan(&status); err != nil || status != 200 {
				t.Errorf("last decision's response: status %d, %v; want the later 200", status, err)
			}
		})
	}
}
