package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNoSecretReachesTheDatabase writes records and access-log entries
// built from hostile requests through the public API, then searches every
// byte of the SQLite files, the query answers and the logs for the canaries
// they carried (DESIGN §4 invariant 6). Every canary contains "CANARY", and
// no allowed input does, so one search finds them all.
func TestNoSecretReachesTheDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultFile)
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, logs := testLogger()
	w := NewWriter(s, WriterOptions{Log: log})
	a := NewALS(log, w)

	hostilePaths := []string{
		"/repos/a/b?token=CANARY-query-token&x=1",
		"/v1/charges?api_key=CANARY-api-key&limit=3",
		"/x?X-Amz-Security-Token=CANARY-amz&X-Amz-Signature=CANARY-sig",
		"/cb?next=/done?code=CANARY-nested-code&state=s",
		"/x?a=1;access_token=CANARY-after-semicolon",
		"/x?client_secret=CANARY-has;semi#and?marks=&y=2",
		"/app;jsessionid=CANARY-matrix/page",
		"/x?%74oken=CANARY-encoded-name",
	}
	hostileHeaders := map[string]string{
		"Authorization":           "Bearer CANARY-authorization",
		"proxy-authorization":     "Basic CANARY-proxy-authorization",
		"Cookie":                  "session=CANARY-cookie",
		"Set-Cookie":              "id=CANARY-set-cookie",
		"X-Api-Key":               "CANARY-x-api-key",
		"X-Bridle-Decision-Token": "CANARY-decision-token",
		":path":                   "/repos/a/b?token=CANARY-envoy-path",
		"host":                    "api.github.com",
		"content-type":            "application/json",
		"user-agent":              "agent/1.0",
	}
	for i := range 300 {
		r := testRecord(i)
		r.Path = hostilePaths[i%len(hostilePaths)]
		r.SetHeaders(hostileHeaders)
		if i%10 == 0 {
			r.Approver, r.ApprovedAt = "ops@example.com", base
		}
		w.Write(r)
		if i%2 == 0 {
			feed(t, a, entry(r.DecisionID, 200, time.Millisecond, hostileHeaders))
		}
	}
	// Entries whose record never comes, and one with no decision id.
	feed(t, a, entry("ffffffffffffffffffffffffffffffff", 500, time.Second, hostileHeaders), entry("", 404, 0, hostileHeaders))
	closeWriter(t, w)
	if st := w.Stats(); st.Written != 300 {
		t.Fatalf("got %+v, want 300 records written", st)
	}

	// What the API and `bridle logs` would show.
	q, err := s.Query(t.Context(), Filter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Follow(t.Context(), Filter{Limit: MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Records) != 300 || len(f.Records) != 300 {
		t.Fatalf("got %d queried and %d followed records, want 300", len(q.Records), len(f.Records))
	}
	answers, _ := json.Marshal([]Page{q, f})
	noCanary(t, "query answers", answers)
	noCanary(t, "logs", []byte(logs.String()))

	scanFiles(t, dir, true) // while open: the data sits in the WAL
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scanFiles(t, dir, false) // after the checkpoint into the main file
}

// scanFiles searches every file in dir; wantWAL asserts the WAL files were
// there to be searched.
func scanFiles(t *testing.T, dir string, wantWAL bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		noCanary(t, e.Name(), b)
		if e.Name() == DefaultFile && !bytes.Contains(b, []byte("api.github.com")) && !wantWAL {
			t.Errorf("%s holds no records: the scan proves nothing", e.Name())
		}
	}
	if wantWAL && !(seen[DefaultFile+"-wal"] && seen[DefaultFile+"-shm"]) {
		t.Errorf("got files %v, want the db with its -wal and -shm", seen)
	}
}

func noCanary(t *testing.T, where string, b []byte) {
	t.Helper()
	if i := bytes.Index(b, []byte("CANARY")); i >= 0 {
		t.Errorf("%s holds a canary: %q", where, b[max(0, i-40):min(len(b), i+40)])
	}
}
