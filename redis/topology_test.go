package redis

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/redis/redistest"
)

// TestSentinelFindsThePrimary runs the limiter and the kill switch through a
// Sentinel-located primary.
func TestSentinelFindsThePrimary(t *testing.T) {
	primary := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, primary, "bridle")
	o := Options{Sentinel: &SentinelOptions{MasterName: "bridle", Addrs: []string{sentinel.Addr()}}}
	s, replica := openStore(t, o), openStore(t, o)
	l := NewLimiter(s)
	for i, want := range []bool{true, false} {
		v, err := l.Allow(t.Context(), "a", "github", lim(1, time.Minute), nil)
		if err != nil || v.Allowed != want {
			t.Errorf("request %d: got %+v, %v; want allowed=%v", i+1, v, err, want)
		}
	}
	follower := liveKillSwitch(t, replica)
	setter := NewKillSwitch(s, nil)
	defer setter.Close()
	if err := setter.Set(t.Context(), KillAll, true, "test", "tester"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "change reached the other replica", func() bool {
		_, on, err := follower.Active(t.Context(), "a", "")
		return err == nil && on
	})
}

// TestRedisClusterKeepsEachAgentInOneSlot runs the limiter, the kill switch
// and nonces on a three-node Redis Cluster. The limiter script touches two
// keys; without the {agent} hash tag Redis would refuse it with CROSSSLOT.
func TestRedisClusterKeepsEachAgentInOneSlot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := redistest.StartCluster(t, 3)
	s := openStore(t, Options{Cluster: c.Addrs()})
	replica := openStore(t, Options{Cluster: c.Addrs()})

	t.Run("limits agents whose keys live on every node", func(t *testing.T) {
		l := NewLimiter(s)
		nodes := map[string]bool{}
		for i := range 30 {
			agent := fmt.Sprintf("agent-%d", i)
			for range 2 {
				if v, err := l.Allow(t.Context(), agent, "github", lim(10, time.Minute), lim(2, time.Minute)); err != nil || !v.Allowed {
					t.Fatalf("%s: got %+v, %v", agent, v, err)
				}
			}
			v, err := l.Allow(t.Context(), agent, "github", lim(10, time.Minute), lim(2, time.Minute))
			if err != nil || v.Allowed || v.Scope != ScopeConnector {
				t.Fatalf("%s: third request: got %+v, %v; want a connector deny", agent, v, err)
			}
			slot, err := s.client.ClusterKeySlot(t.Context(), "bridle:{"+agent+"}:rate:agent").Result()
			if err != nil {
				t.Fatal(err)
			}
			nodes[fmt.Sprint(slot*3/16384)] = true
		}
		if len(nodes) != 3 {
			t.Errorf("agents landed on %d nodes; the test wants all 3", len(nodes))
		}
	})

	t.Run("never exceeds a limit shared by two replicas", func(t *testing.T) {
		limiters := []*Limiter{NewLimiter(s), NewLimiter(replica)}
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for range 10 {
					v, err := limiters[w%2].Allow(t.Context(), "shared", "github", lim(25, time.Minute), lim(100, time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					if v.Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if allowed.Load() != 25 {
			t.Errorf("allowed %d, want 25", allowed.Load())
		}
	})

	t.Run("propagates a kill switch between replicas", func(t *testing.T) {
		setter := NewKillSwitch(s, nil)
		defer setter.Close()
		follower := liveKillSwitch(t, replica)
		start := time.Now()
		if err := setter.Set(t.Context(), KillAgent("a"), true, "test", "tester"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "change reached the other replica", func() bool {
			_, on, err := follower.Active(t.Context(), "a", "github")
			return err == nil && on && follower.Live()
		})
		t.Logf("reached the other replica's cache %s after Set began", time.Since(start))
	})

	t.Run("accepts a nonce once", func(t *testing.T) {
		n := issued(t, s, "cluster-nonce")
		for i, want := range []bool{true, false} {
			fresh, err := n.Use(t.Context(), "cluster-nonce")
			if err != nil || fresh != want {
				t.Errorf("use %d: got %v, %v; want %v", i+1, fresh, err, want)
			}
		}
	})
}
