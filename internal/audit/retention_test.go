package audit

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestCleanupRemovesExactlyTheExpiredRows(t *testing.T) {
	for _, tc := range []struct {
		name string
		days int
	}{
		{"uses 30 days by default", 0},
		{"uses the configured retention", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Options{RetentionDays: tc.days})
			now := base.Add(90 * 24 * time.Hour)
			cutoff := now.Add(-retentionOf(tc.days))
			at := map[string]time.Time{
				"long expired":         cutoff.Add(-40 * 24 * time.Hour),
				"one ns before cutoff": cutoff.Add(-time.Nanosecond),
				"at the cutoff":        cutoff,
				"one ns after cutoff":  cutoff.Add(time.Nanosecond),
				"just now":             now,
			}
			var recs []Record
			var resps []Response
			for name, tm := range at {
				recs = append(recs, Record{Time: tm, DecisionID: name, Decision: DecisionAllow})
				resps = append(resps, Response{DecisionID: name, Time: tm, Status: 200})
			}
			insert(t, s, recs, resps)
			n, err := s.Cleanup(t.Context(), now)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(queryAll(t, s, Filter{}))
			slices.Sort(got)
			want := []string{"at the cutoff", "just now", "one ns after cutoff"}
			if n != 2 || !slices.Equal(got, want) {
				t.Fatalf("deleted %d, kept %v; want 2 deleted, kept %v", n, got, want)
			}
			if c := count(t, s, "responses"); c != 3 {
				t.Fatalf("kept %d responses, want 3", c)
			}
		})
	}
}

func TestCleanupDeletesMoreThanOneChunk(t *testing.T) {
	s := openStore(t, Options{RetentionDays: 1})
	var old []Record
	for i := range cleanupChunk*2 + 7 {
		old = append(old, testRecord(i)) // all within hours of base
	}
	fresh := testRecord(1 << 20)
	fresh.Time = base.Add(48 * time.Hour)
	insert(t, s, append(old, fresh), nil)
	n, err := s.Cleanup(t.Context(), base.Add(50*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(old)) || count(t, s, "decisions") != 1 {
		t.Fatalf("deleted %d, %d left; want %d deleted, 1 left", n, count(t, s, "decisions"), len(old))
	}
}

func TestRunRetentionCleansAtStartAndOnEveryTick(t *testing.T) {
	s := openStore(t, Options{RetentionDays: 1})
	expired := func(i int) Record {
		r := testRecord(i)
		r.Time = time.Now().Add(-48 * time.Hour)
		return r
	}
	insert(t, s, []Record{expired(1)}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		s.RunRetention(ctx, 20*time.Millisecond)
		close(done)
	}()
	waitEmpty(t, s, "at start")
	insert(t, s, []Record{expired(2)}, nil)
	waitEmpty(t, s, "on a tick")
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunRetention did not return after its context ended")
	}
}

func waitEmpty(t *testing.T, s *Store, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for count(t, s, "decisions") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("expired record not deleted %s within 5s", when)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
