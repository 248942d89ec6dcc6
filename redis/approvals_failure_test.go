package redis

import (
	"context"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/redis/redistest"
)

func TestApprovalsFailClosedWhenRedisFails(t *testing.T) {
	conditions := []struct {
		name string
		open func(t *testing.T) (*Store, func())
	}{
		{"redis-server killed", func(t *testing.T) (*Store, func()) {
			s, srv := realStore(t, Options{OpTimeout: DefaultOpTimeout})
			return s, srv.Kill
		}},
		{"redis-server stalled by SIGSTOP", func(t *testing.T) (*Store, func()) {
			s, srv := realStore(t, Options{OpTimeout: DefaultOpTimeout})
			return s, srv.Pause
		}},
		{"embedded redis stopped", func(t *testing.T) (*Store, func()) {
			s := openStore(t, Options{OpTimeout: DefaultOpTimeout})
			return s, s.embedded.Close
		}},
	}
	for _, c := range conditions {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, breakRedis := c.open(t)
			a := newApprovals(t, s, time.Minute)
			ap := mustCreate(t, a, held("ci-bot", hashMerge))
			approved := mustCreate(t, a, held("ci-bot", hashPay))
			if _, err := a.Decide(t.Context(), approved.ID, true, "alice", ""); err != nil {
				t.Fatal(err)
			}
			waiting := make(chan error, 1)
			go func() { _, err := a.Wait(t.Context(), ap.ID); waiting <- err }()
			time.Sleep(50 * time.Millisecond)

			broken := time.Now()
			breakRedis()
			ops := []struct {
				name string
				call func(ctx context.Context) (permits bool, err error)
			}{
				{"Create fails", func(ctx context.Context) (bool, error) {
					_, created, err := a.Create(ctx, held("ops-bot", hashMerge))
					return created, err
				}},
				{"Get fails", func(ctx context.Context) (bool, error) { _, err := a.Get(ctx, ap.ID); return false, err }},
				{"List fails", func(ctx context.Context) (bool, error) { l, err := a.List(ctx, ""); return l != nil, err }},
				{"Decide fails", func(ctx context.Context) (bool, error) {
					_, err := a.Decide(ctx, ap.ID, true, "alice", "")
					return false, err
				}},
				{"Wait fails", func(ctx context.Context) (bool, error) { _, err := a.Wait(ctx, ap.ID); return false, err }},
				{"Consume fails and lets nothing through", func(ctx context.Context) (bool, error) {
					_, ok, err := a.Consume(ctx, "ci-bot", hashPay)
					return ok, err
				}},
				{"Lookup fails", func(ctx context.Context) (bool, error) {
					_, found, err := a.Lookup(ctx, "ci-bot", hashPay)
					return found, err
				}},
				{"CountPending fails", func(ctx context.Context) (bool, error) { _, err := a.CountPending(ctx); return false, err }},
			}
			for _, op := range ops {
				start := time.Now()
				permits, err := op.call(t.Context())
				if took := time.Since(start); err == nil || permits || took > failBound {
					t.Errorf("%s: got permits=%v, err=%v after %s; want an error within %s", op.name, permits, err, took, failBound)
				}
			}
			select {
			case err := <-waiting:
				if err == nil {
					t.Error("a waiter returned no error when redis failed")
				}
				t.Logf("a waiter already waiting failed %s after redis broke: %v", time.Since(broken), err)
			case <-time.After(failBound):
				t.Errorf("a waiter already waiting did not fail within %s", failBound)
			}
		})
	}
}

// TestApprovalsOnRedisCluster runs approvals for agents whose keys live on
// every node: each script touches one agent's slot, the index its own.
func TestApprovalsOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := redistest.StartCluster(t, 3)
	a := newApprovals(t, openStore(t, Options{Cluster: c.Addrs()}), time.Minute)
	other := newApprovals(t, openStore(t, Options{Cluster: c.Addrs()}), time.Minute)
	for _, agent := range []string{"agent-0", "agent-1", "agent-2", "agent-3", "agent-4", "agent-5"} {
		ap := mustCreate(t, a, held(agent, hashMerge))
		done := make(chan Approval, 1)
		go func() { got, _ := a.Wait(t.Context(), ap.ID); done <- got }()
		start := time.Now()
		if _, err := other.Decide(t.Context(), ap.ID, true, "alice", ""); err != nil {
			t.Fatalf("%s: Decide: %v", agent, err)
		}
		if got := <-done; got.State != ApprovalApproved {
			t.Fatalf("%s: Wait: got %+v", agent, got)
		}
		t.Logf("%s: waiter woke %s after Decide began", agent, time.Since(start))
		if _, ok, err := other.Consume(t.Context(), agent, hashMerge); !ok || err != nil {
			t.Errorf("%s: Consume: %v, %v", agent, ok, err)
		}
	}
	if list, err := other.List(t.Context(), ApprovalUsed); err != nil || len(list) != 6 {
		t.Errorf("List used: got %d, %v; want 6", len(list), err)
	}
}
