package audit

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestQueryFilters(t *testing.T) {
	s := openStore(t, Options{})
	all := seed(t, s, 60)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) }
	for _, tc := range []struct {
		name   string
		filter Filter
		match  func(Record) bool
	}{
		{"returns every record with no filter", Filter{}, func(Record) bool { return true }},
		{"scopes to one agent", Filter{Agent: "bob"}, func(r Record) bool { return r.Agent == "bob" }},
		{"matches a connector", Filter{Connector: "stripe"}, func(r Record) bool { return r.Connector == "stripe" }},
		{"matches an action exactly", Filter{Action: "github.pr.merge"}, func(r Record) bool { return r.Action == "github.pr.merge" }},
		{"matches an action prefix ending in a star", Filter{Action: "stripe.*"}, func(r Record) bool { return strings.HasPrefix(r.Action, "stripe.") }},
		{"does not treat a prefix without a star as one", Filter{Action: "stripe."}, func(Record) bool { return false }},
		{"matches a decision", Filter{Decision: DecisionDeny}, func(r Record) bool { return r.Decision == DecisionDeny }},
		{"includes since and excludes until", Filter{Since: at(10), Until: at(20)}, func(r Record) bool {
			return !r.Time.Before(at(10)) && r.Time.Before(at(20))
		}},
		{"combines agent, decision and time", Filter{Agent: "alice", Decision: DecisionAllow, Since: at(30)}, func(r Record) bool {
			return r.Agent == "alice" && r.Decision == DecisionAllow && !r.Time.Before(at(30))
		}},
		{"finds nothing for an unknown agent", Filter{Agent: "mallory"}, func(Record) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for i := len(all) - 1; i >= 0; i-- { // newest first
				if tc.match(all[i]) {
					want = append(want, all[i].DecisionID)
				}
			}
			if got := ids(queryAll(t, s, tc.filter)); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
}

func ids(recs []Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.DecisionID)
	}
	return out
}

func TestQueryPagesWithoutDuplicatesOrGapsWhileInserting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		filter Filter
	}{
		{"pages every record", Filter{Limit: 17}},
		{"pages one agent's records", Filter{Agent: "alice", Limit: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, Options{})
			var existing []Record
			for i := range 250 {
				existing = append(existing, testRecord(i))
			}
			// Two records share a time: the decision_id breaks the tie.
			existing[100].Time = existing[101].Time
			insert(t, s, existing, nil)

			seen := map[string]int{}
			var pages [][]Record
			f := tc.filter
			for n := 0; ; n++ {
				p, err := s.Query(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				pages = append(pages, p.Records)
				for _, r := range p.Records {
					seen[r.DecisionID]++
				}
				if p.NextCursor == "" {
					break
				}
				// Meanwhile: one record newer than everything, one in
				// the middle of what is left, one at the cursor's time.
				last := p.Records[len(p.Records)-1]
				late := []Record{testRecord(10000 + 3*n), testRecord(10001 + 3*n), testRecord(10002 + 3*n)}
				late[1].Time = base.Add(time.Duration(n) * time.Second)
				late[2].Time = last.Time
				insert(t, s, late, nil)
				f.Cursor = p.NextCursor
			}
			for _, r := range existing {
				if tc.filter.Agent != "" && r.Agent != tc.filter.Agent {
					continue
				}
				if seen[r.DecisionID] != 1 {
					t.Errorf("record %s seen %d times, want once", r.DecisionID, seen[r.DecisionID])
				}
			}
			var flat []Record
			for _, p := range pages {
				flat = append(flat, p...)
			}
			for i := 1; i < len(flat); i++ {
				a, b := flat[i-1], flat[i]
				if a.Time.Before(b.Time) || a.Time.Equal(b.Time) && a.DecisionID <= b.DecisionID {
					t.Fatalf("pages out of order or repeated at %d: %s@%v then %s@%v", i, a.DecisionID, a.Time, b.DecisionID, b.Time)
				}
			}
		})
	}
}

func TestQueryCapsTheLimit(t *testing.T) {
	s := openStore(t, Options{})
	seed(t, s, MaxLimit+5)
	for _, tc := range []struct {
		name  string
		limit int
		want  int
	}{
		{"uses the default limit for zero", 0, DefaultLimit},
		{"caps a huge limit", 1 << 20, MaxLimit},
		{"honours a small limit", 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(queryAll(t, s, Filter{Limit: tc.limit})); got != tc.want {
				t.Fatalf("got %d records, want %d", got, tc.want)
			}
		})
	}
}

func TestCursorsAreRejectedWhereTheyDoNotBelong(t *testing.T) {
	s := openStore(t, Options{})
	seed(t, s, 5)
	qp, err := s.Query(t.Context(), Filter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := s.Follow(t.Context(), Filter{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		follow bool
		cursor string
	}{
		{"query refuses garbage", false, "!!!"},
		{"query refuses a follow cursor", false, fp.NextCursor},
		{"query refuses a cursor without an id", false, encodeCursor("t:5:")},
		{"follow refuses a query cursor", true, qp.NextCursor},
		{"follow refuses a negative sequence", true, encodeCursor("s:-1")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.follow {
				_, err = s.Follow(t.Context(), Filter{Cursor: tc.cursor})
			} else {
				_, err = s.Query(t.Context(), Filter{Cursor: tc.cursor})
			}
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("got %v, want ErrInvalidCursor", err)
			}
		})
	}
}

func follow(t *testing.T, s *Store, f Filter) Page {
	t.Helper()
	p, err := s.Follow(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFollowStartsAtTheTailAndReturnsEachNewRecordOnce(t *testing.T) {
	s := openStore(t, Options{})
	recs := seed(t, s, 10)
	p := follow(t, s, Filter{Limit: 3})
	if got, want := ids(p.Records), ids(recs[7:]); !slices.Equal(got, want) {
		t.Fatalf("tail: got %v, want %v", got, want)
	}
	// A record stored late with an early time still comes next: paging
	// by time would have missed it.
	late := testRecord(20)
	late.Time = base.Add(-time.Hour)
	insert(t, s, []Record{testRecord(10), late}, nil)
	p = follow(t, s, Filter{Limit: 3, Cursor: p.NextCursor})
	if got, want := ids(p.Records), []string{testRecord(10).DecisionID, late.DecisionID}; !slices.Equal(got, want) {
		t.Fatalf("after insert: got %v, want %v", got, want)
	}
	p = follow(t, s, Filter{Limit: 3, Cursor: p.NextCursor})
	if len(p.Records) != 0 || p.NextCursor == "" {
		t.Fatalf("idle: got %v and cursor %q, want nothing and a cursor", ids(p.Records), p.NextCursor)
	}
}

func TestFollowWithAFilterSkipsOtherAgentsRows(t *testing.T) {
	s := openStore(t, Options{})
	p := follow(t, s, Filter{Agent: "alice"})
	var want []string
	for i := range 30 {
		r := testRecord(i)
		insert(t, s, []Record{r}, nil)
		if r.Agent == "alice" {
			want = append(want, r.DecisionID)
		}
	}
	var got []string
	for range 5 {
		p = follow(t, s, Filter{Agent: "alice", Limit: 4, Cursor: p.NextCursor})
		got = append(got, ids(p.Records)...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestFollowHoldsAFreshAllowUntilItsResponseArrives(t *testing.T) {
	s := openStore(t, Options{})
	start := follow(t, s, Filter{})
	fresh := testRecord(1) // an allow
	fresh.Time = time.Now()
	deny := testRecord(4)
	deny.Time = time.Now()
	insert(t, s, []Record{fresh, deny}, nil)

	f := Filter{Settle: time.Hour, Cursor: start.NextCursor}
	if p := follow(t, s, f); len(p.Records) != 0 || p.NextCursor != start.NextCursor {
		t.Fatalf("before the response: got %v, cursor moved %v; want nothing held back",
			ids(p.Records), p.NextCursor != start.NextCursor)
	}
	insert(t, s, nil, []Response{{DecisionID: fresh.DecisionID, Time: fresh.Time, Status: 201, Duration: 5 * time.Millisecond}})
	p := follow(t, s, f)
	if got, want := ids(p.Records), []string{fresh.DecisionID, deny.DecisionID}; !slices.Equal(got, want) {
		t.Fatalf("after the response: got %v, want %v", got, want)
	}
	if p.Records[0].Status != 201 || !p.Records[0].Responded {
		t.Fatalf("got %+v, want the joined status", p.Records[0])
	}
	// Without settle, or once old enough, nothing waits.
	other := testRecord(5)
	other.Time = time.Now().Add(-2 * time.Second)
	insert(t, s, []Record{other}, nil)
	if p := follow(t, s, Filter{Settle: time.Second, Cursor: p.NextCursor}); len(p.Records) != 1 {
		t.Fatalf("old enough: got %v, want %s", ids(p.Records), other.DecisionID)
	}
}
