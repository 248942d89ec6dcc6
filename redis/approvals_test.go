package redis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var (
	hashMerge = strings.Repeat("a1", 32)
	hashPay   = strings.Repeat("b2", 32)
)

func held(agent, hash string) Approval {
	return Approval{Agent: agent, Connector: "github", Action: "github.pr.merge", SpecHash: hash, Rule: "github/merge-needs-human"}
}

// newApprovals starts approvals on s, closed when the test ends, and waits
// until its subscription is live.
func newApprovals(t *testing.T, s *Store, timeout time.Duration) *Approvals {
	t.Helper()
	a := NewApprovals(s, nil, timeout)
	t.Cleanup(a.Close)
	waitFor(t, 5*time.Second, "approvals subscription live", a.live.Load)
	return a
}

func mustCreate(t *testing.T, a *Approvals, ap Approval) Approval {
	t.Helper()
	got, _, err := a.Create(t.Context(), ap)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return got
}

func TestApprovalsCreateGetAndList(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		a, other := newApprovals(t, s, time.Minute), newApprovals(t, replica(), time.Minute)
		before := time.Now()
		ap, created, err := a.Create(t.Context(), held("ci-bot", hashMerge))
		if err != nil || !created {
			t.Fatalf("Create: %+v, %v, %v", ap, created, err)
		}
		if !validApprovalID(ap.ID) || ap.State != ApprovalPending || ap.Agent != "ci-bot" || ap.SpecHash != hashMerge ||
			ap.Action != "github.pr.merge" || ap.Rule != "github/merge-needs-human" {
			t.Errorf("created %+v", ap)
		}
		if d := ap.CreatedAt.Sub(before); d < -time.Second || d > 5*time.Second || ap.ExpiresAt.Sub(ap.CreatedAt) != time.Minute {
			t.Errorf("created at %s expiring %s: want now and now + timeout", ap.CreatedAt, ap.ExpiresAt)
		}
		got, err := other.Get(t.Context(), ap.ID)
		if err != nil || got != ap {
			t.Errorf("Get on another replica: got %+v, %v; want %+v", got, err, ap)
		}
		second := mustCreate(t, a, held("ops-bot", hashPay))
		for _, c := range []struct {
			name  string
			state string
			want  []string
		}{
			{"lists every approval newest first", "", []string{second.ID, ap.ID}},
			{"lists pending approvals", ApprovalPending, []string{second.ID, ap.ID}},
			{"lists no denied approval", ApprovalDenied, nil},
		} {
			list, err := other.List(t.Context(), c.state)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var ids []string
			for _, l := range list {
				ids = append(ids, l.ID)
			}
			if strings.Join(ids, ",") != strings.Join(c.want, ",") {
				t.Errorf("%s: got %v, want %v", c.name, ids, c.want)
			}
		}
		if _, err := a.List(t.Context(), "maybe"); err == nil {
			t.Error("List of an unknown state succeeded")
		}
		for _, id := range []string{"apr_NOPE", "apr_AAAAAAAAAAAAAAAAAAAAAAAAAA", "", "apr_{x}AAAAAAAAAAAAAAAAAAAAAA"} {
			if _, err := a.Get(t.Context(), id); !errors.Is(err, ErrApprovalNotFound) {
				t.Errorf("Get(%q): got %v, want ErrApprovalNotFound", id, err)
			}
		}
	})
}

func TestApprovalsCreateRefusesBadInput(t *testing.T) {
	a := newApprovals(t, openStore(t, Options{}), time.Minute)
	for _, c := range []struct {
		name string
		ap   Approval
	}{
		{"refuses an agent with a brace", held("a{b}", hashMerge)},
		{"refuses an empty agent", held("", hashMerge)},
		{"refuses an uppercase hash", held("a", strings.ToUpper(hashMerge))},
		{"refuses a short hash", held("a", hashMerge[:60])},
		{"refuses a caller-chosen id", Approval{ID: "apr_X", Agent: "a", SpecHash: hashMerge}},
		{"refuses an oversized rule", Approval{Agent: "a", SpecHash: hashMerge, Rule: strings.Repeat("r", 300)}},
	} {
		if _, _, err := a.Create(t.Context(), c.ap); err == nil {
			t.Errorf("%s: Create succeeded", c.name)
		}
	}
}

func TestApprovalsCreateIsIdempotentWhilePending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		replicas := []*Approvals{newApprovals(t, s, time.Minute), newApprovals(t, replica(), time.Minute)}
		var created atomic.Int64
		ids := make([]string, 16)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				ap, c, err := replicas[i%2].Create(t.Context(), held("ci-bot", hashMerge))
				if err != nil {
					t.Error(err)
					return
				}
				if c {
					created.Add(1)
				}
				ids[i] = ap.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("concurrent retries got different approvals: %v", ids)
			}
		}
		if created.Load() != 1 {
			t.Errorf("%d creates reported created; want exactly 1", created.Load())
		}
		for _, c := range []struct {
			name string
			ap   Approval
		}{
			{"another action of the same agent gets its own approval", held("ci-bot", hashPay)},
			{"the same action of another agent gets its own approval", held("ops-bot", hashMerge)},
		} {
			if got := mustCreate(t, replicas[0], c.ap); got.ID == ids[0] {
				t.Errorf("%s: got the same id", c.name)
			}
		}
		if n, err := replicas[1].CountPending(t.Context()); err != nil || n != 3 {
			t.Errorf("CountPending: got %d, %v; want 3", n, err)
		}
	})
}

func TestApprovalsAreDecidedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		a, other := newApprovals(t, s, time.Minute), newApprovals(t, replica(), time.Minute)
		ap := mustCreate(t, a, held("ci-bot", hashMerge))
		denied := mustCreate(t, a, held("ci-bot", hashPay))
		steps := []struct {
			name    string
			id      string
			approve bool
			decider string
			want    error
			state   string
		}{
			{"approves a pending approval", ap.ID, true, "alice", nil, ApprovalApproved},
			{"refuses to approve it twice, naming the state", ap.ID, true, "bob", ErrApprovalDecided, "already approved"},
			{"refuses to deny it afterwards", ap.ID, false, "bob", ErrApprovalDecided, "already approved"},
			{"denies another pending approval", denied.ID, false, "bob", nil, ApprovalDenied},
			{"refuses to approve a denied approval", denied.ID, true, "alice", ErrApprovalDecided, "already denied"},
			{"refuses an unknown id", "apr_AAAAAAAAAAAAAAAAAAAAAAAAAA", true, "alice", ErrApprovalNotFound, ""},
		}
		for _, st := range steps {
			got, err := other.Decide(t.Context(), st.id, st.approve, st.decider, "looked fine")
			if !errors.Is(err, st.want) {
				t.Fatalf("%s: got %v, want %v", st.name, err, st.want)
			}
			if st.want == nil && (got.State != st.state || got.Decider != st.decider || got.Note != "looked fine" || got.DecidedAt.IsZero()) {
				t.Errorf("%s: got %+v", st.name, got)
			}
			if st.want != nil && !strings.Contains(err.Error(), st.state) {
				t.Errorf("%s: error %q does not say %q", st.name, err, st.state)
			}
		}
		if _, err := a.Decide(t.Context(), ap.ID, true, "", ""); err == nil {
			t.Error("Decide without a decider succeeded")
		}
		if n, err := a.CountPending(t.Context()); err != nil || n != 0 {
			t.Errorf("CountPending after both were decided: got %d, %v; want 0", n, err)
		}
		if got, found, err := a.Lookup(t.Context(), "ci-bot", hashPay); err != nil || !found || got.State != ApprovalDenied {
			t.Errorf("Lookup of the denied action: got %+v, %v, %v; want denied (403 approval_denied)", got, found, err)
		}
	})
}

func TestApprovalsWaitIsWokenByADecisionOnAnotherReplica(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		for _, c := range []struct {
			name  string
			live  bool
			bound time.Duration
		}{
			{"through pub/sub", true, 500 * time.Millisecond},
			{"through the fallback poll when the subscription is down", false, time.Second},
		} {
			t.Run(c.name, func(t *testing.T) {
				waiter, decider := newApprovals(t, s, time.Minute), newApprovals(t, replica(), time.Minute)
				if !c.live {
					waiter.Close()
				}
				ap := mustCreate(t, waiter, held("ci-bot", hashMerge))
				type result struct {
					ap  Approval
					err error
					at  time.Time
				}
				done := make(chan result, 1)
				go func() {
					got, err := waiter.Wait(t.Context(), ap.ID)
					done <- result{got, err, time.Now()}
				}()
				time.Sleep(150 * time.Millisecond) // let the waiter settle into its wait
				start := time.Now()
				if _, err := decider.Decide(t.Context(), ap.ID, true, "alice", ""); err != nil {
					t.Fatal(err)
				}
				r := <-done
				if r.err != nil || r.ap.State != ApprovalApproved {
					t.Fatalf("Wait: got %+v, %v; want approved", r.ap, r.err)
				}
				latency := r.at.Sub(start)
				t.Logf("waiter woke %s after Decide began on the other replica", latency)
				if latency > c.bound {
					t.Errorf("woke after %s; want within %s", latency, c.bound)
				}
				// The next case reuses the action: let this approval go.
				if _, ok, err := decider.Consume(t.Context(), "ci-bot", hashMerge); !ok || err != nil {
					t.Fatalf("Consume: %v, %v", ok, err)
				}
			})
		}
	})
}

func TestApprovalsWaitEndsWithItsContext(t *testing.T) {
	a := newApprovals(t, openStore(t, Options{}), time.Minute)
	ap := mustCreate(t, a, held("ci-bot", hashMerge))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	got, err := a.Wait(ctx, ap.ID)
	if !errors.Is(err, context.DeadlineExceeded) || got.ID != ap.ID || got.State != ApprovalPending {
		t.Errorf("got %+v, %v; want the pending approval and the context's error", got, err)
	}
}

func TestApprovalsExpireUndecided(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		const timeout = 300 * time.Millisecond
		a, other := newApprovals(t, s, timeout), newApprovals(t, replica(), timeout)
		ap := mustCreate(t, a, held("ci-bot", hashMerge))
		start := time.Now()
		got, err := other.Wait(t.Context(), ap.ID)
		if err != nil || got.State != ApprovalExpired {
			t.Fatalf("Wait: got %+v, %v; want expired", got, err)
		}
		if took := time.Since(start); took < timeout-50*time.Millisecond || took > timeout+time.Second {
			t.Errorf("expired after %s; want about %s", took, timeout)
		}
		if _, err := a.Decide(t.Context(), ap.ID, true, "alice", ""); !errors.Is(err, ErrApprovalDecided) || !strings.Contains(err.Error(), "expired") {
			t.Errorf("Decide after expiry: got %v, want an error naming expired", err)
		}
		if got, found, err := a.Lookup(t.Context(), "ci-bot", hashMerge); err != nil || !found || got.State != ApprovalExpired {
			t.Errorf("Lookup: got %+v, %v, %v; want expired (408 approval_timeout)", got, found, err)
		}
		if n, err := a.CountPending(t.Context()); err != nil || n != 0 {
			t.Errorf("CountPending: got %d, %v; want 0", n, err)
		}
		if list, err := a.List(t.Context(), ApprovalExpired); err != nil || len(list) != 1 {
			t.Errorf("List expired: got %d, %v; want 1", len(list), err)
		}
		next, created, err := a.Create(t.Context(), held("ci-bot", hashMerge))
		if err != nil || !created || next.ID == ap.ID {
			t.Errorf("Create after expiry: got %s, created=%v, %v; want a new approval", next.ID, created, err)
		}
	})
}

func TestApprovalsAreConsumedExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		replicas := []*Approvals{newApprovals(t, s, time.Minute), newApprovals(t, replica(), time.Minute)}
		a := replicas[0]
		ap := mustCreate(t, a, held("ci-bot", hashMerge))
		if _, ok, err := a.Consume(t.Context(), "ci-bot", hashMerge); ok || err != nil {
			t.Fatalf("Consume of a pending approval: %v, %v; want false", ok, err)
		}
		if _, err := a.Decide(t.Context(), ap.ID, true, "alice", ""); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ name, agent, hash string }{
			{"another agent cannot consume it", "ops-bot", hashMerge},
			{"another action cannot consume it", "ci-bot", hashPay},
		} {
			if _, ok, err := a.Consume(t.Context(), c.agent, c.hash); ok || err != nil {
				t.Errorf("%s: got %v, %v", c.name, ok, err)
			}
		}
		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := range 32 {
			wg.Go(func() {
				got, ok, err := replicas[i%2].Consume(t.Context(), "ci-bot", hashMerge)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
					if got.ID != ap.ID || got.State != ApprovalUsed || got.UsedAt.IsZero() {
						t.Errorf("consumed %+v", got)
					}
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent Consumes succeeded; want exactly 1", wins.Load())
		}
		if got, err := a.Get(t.Context(), ap.ID); err != nil || got.State != ApprovalUsed {
			t.Errorf("Get after consume: %+v, %v; want used", got, err)
		}
		if _, found, err := a.Lookup(t.Context(), "ci-bot", hashMerge); found || err != nil {
			t.Errorf("Lookup after consume: found=%v, %v; want forgotten", found, err)
		}
		if next, created, err := a.Create(t.Context(), held("ci-bot", hashMerge)); err != nil || !created || next.ID == ap.ID {
			t.Errorf("Create after consume: %s, %v, %v; want a new approval", next.ID, created, err)
		}
	})
}

func TestApprovedApprovalsLapseUnused(t *testing.T) {
	a := newApprovals(t, openStore(t, Options{}), 200*time.Millisecond)
	ap := mustCreate(t, a, held("ci-bot", hashMerge))
	if _, err := a.Decide(t.Context(), ap.ID, true, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if again := mustCreate(t, a, held("ci-bot", hashMerge)); again.ID != ap.ID || again.State != ApprovalApproved {
		t.Errorf("Create while approved: got %s %s; want the approved one", again.ID, again.State)
	}
	time.Sleep(300 * time.Millisecond)
	if _, ok, err := a.Consume(t.Context(), "ci-bot", hashMerge); ok || err != nil {
		t.Errorf("Consume after the approval lapsed: %v, %v; want false", ok, err)
	}
	if got, found, err := a.Lookup(t.Context(), "ci-bot", hashMerge); err != nil || !found || got.State != ApprovalExpired {
		t.Errorf("Lookup: %+v, %v, %v; want expired", got, found, err)
	}
}

// An approval that expires undecided is claimed once, by one of several
// replicas; decided approvals are never claimed as expired.
func TestExpiredApprovalsAreClaimedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		a, b := newApprovals(t, s, 150*time.Millisecond), newApprovals(t, replica(), 150*time.Millisecond)
		undecided := mustCreate(t, a, held("ci-bot", hashMerge))
		decided := mustCreate(t, a, held("ops-bot", hashMerge))
		if _, err := a.Decide(t.Context(), decided.ID, false, "alice", ""); err != nil {
			t.Fatal(err)
		}
		if got, err := a.ClaimExpired(t.Context()); err != nil || len(got) != 0 {
			t.Fatalf("before the expiry: %v, %v", got, err)
		}
		time.Sleep(300 * time.Millisecond)
		var claimed []Approval
		for _, r := range []*Approvals{a, b, a} {
			got, err := r.ClaimExpired(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			claimed = append(claimed, got...)
		}
		if len(claimed) != 1 || claimed[0].ID != undecided.ID || claimed[0].State != ApprovalExpired {
			t.Errorf("claimed %+v, want the undecided approval once, expired", claimed)
		}
	})
}
