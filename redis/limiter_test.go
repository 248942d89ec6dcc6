package redis

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestLimiterAdmitsExactlyTheLimitThenDenies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, _ func() *Store) {
		l := NewLimiter(s)
		for _, n := range []int{1, 2, 7, 120} {
			agent := fmt.Sprintf("agent-%d", n)
			for i := range n {
				v, err := l.Allow(t.Context(), agent, "github", lim(n, time.Minute), nil)
				if err != nil || !v.Allowed {
					t.Fatalf("limit %d: request %d: got %+v, %v; want allowed", n, i+1, v, err)
				}
			}
			v, err := l.Allow(t.Context(), agent, "github", lim(n, time.Minute), nil)
			if err != nil {
				t.Fatal(err)
			}
			want := Verdict{Scope: ScopeAgent, Limit: *lim(n, time.Minute), RetryAfter: time.Minute}
			if v != want {
				t.Errorf("limit %d: request %d: got %+v, want %+v", n, n+1, v, want)
			}
		}
	})
}

// TestLimiterWindowEdges runs on the real clock: a fixed-window limiter
// would admit N just before a boundary and N more just after it; a sliding
// log admits nothing more until the first N are a whole window old.
func TestLimiterWindowEdges(t *testing.T) {
	const n, w = 3, 2 * time.Second
	forEachBackend(t, func(t *testing.T, s *Store, _ func() *Store) {
		l := NewLimiter(s)
		allow := func(what string, want bool) Verdict {
			t.Helper()
			v, err := l.Allow(t.Context(), "edge", "", lim(n, w), nil)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if v.Allowed != want {
				t.Fatalf("%s: got %+v, want allowed=%v", what, v, want)
			}
			return v
		}
		// Start 300ms before a wall-clock multiple of w, where a fixed
		// window aligned to the epoch would roll over.
		boundary := time.Now().Add(w).Truncate(w).Add(w)
		time.Sleep(time.Until(boundary.Add(-300 * time.Millisecond)))
		first := time.Now()
		for i := range n {
			allow(fmt.Sprintf("burst before the boundary, request %d", i+1), true)
		}
		last := time.Now()

		time.Sleep(time.Until(boundary.Add(100 * time.Millisecond)))
		for range n {
			v := allow("burst just after the boundary", false)
			if v.RetryAfter < time.Second || v.RetryAfter > w || v.RetryAfter%time.Second != 0 {
				t.Errorf("Retry-After %s: want whole seconds in [1s, %s]", v.RetryAfter, w)
			}
		}

		// Just before the first admissions are a window old: still full.
		time.Sleep(time.Until(first.Add(w - 150*time.Millisecond)))
		if time.Now().Before(first.Add(w - 20*time.Millisecond)) {
			v := allow("request just before the window edge", false)
			if v.RetryAfter != time.Second {
				z, _ := s.client.ZRangeWithScores(t.Context(), "bridle:{edge}:rate:agent", 0, -1).Result()
				t.Errorf("Retry-After just before the edge: got %s, want 1s (first %d last %d now %d log %v)", v.RetryAfter, first.UnixMilli(), last.UnixMilli(), time.Now().UnixMilli(), z)
			}
		} else {
			t.Logf("machine too slow to probe just before the edge; skipped that check")
		}

		// Just after: the whole budget is back, and not one more.
		time.Sleep(time.Until(last.Add(w + 150*time.Millisecond)))
		for range n {
			allow("request after the window edge", true)
		}
		allow("request past the limit after the edge", false)
	})
}

// TestLimiterRetryAfterOnAFrozenClock uses the embedded Redis's settable
// clock to check edges and Retry-After to the millisecond.
func TestLimiterRetryAfterOnAFrozenClock(t *testing.T) {
	s := openStore(t, Options{})
	l := NewLimiter(s)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) { s.embedded.SetTime(t0.Add(d)) }
	limit := lim(2, 10*time.Second)
	for _, d := range []time.Duration{0, 3 * time.Second} {
		at(d)
		if v, err := l.Allow(t.Context(), "a", "", limit, nil); err != nil || !v.Allowed {
			t.Fatalf("admission at +%s: got %+v, %v", d, v, err)
		}
	}
	tests := []struct {
		name    string
		at      time.Duration
		allowed bool
		retry   time.Duration
	}{
		{"waits until the oldest admission leaves the window", 3 * time.Second, false, 7 * time.Second},
		{"rounds a partial second up", 3500 * time.Millisecond, false, 7 * time.Second},
		{"says one second, never zero, a millisecond before a slot frees", 10*time.Second - time.Millisecond, false, time.Second},
		{"admits exactly one window after the oldest admission", 10 * time.Second, true, 0},
		{"then waits for the next oldest", 10 * time.Second, false, 3 * time.Second},
		{"admits again when that one leaves", 13 * time.Second, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at(tt.at)
			v, err := l.Allow(t.Context(), "a", "", limit, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v.Allowed != tt.allowed || v.RetryAfter != tt.retry {
				t.Errorf("at +%s: got %+v, want allowed=%v retry=%s", tt.at, v, tt.allowed, tt.retry)
			}
		})
	}
	t.Run("a lowered limit waits for enough admissions to leave", func(t *testing.T) {
		at(20 * time.Second)
		for range 3 {
			if v, err := l.Allow(t.Context(), "b", "", lim(3, 10*time.Second), nil); err != nil || !v.Allowed {
				t.Fatalf("got %+v, %v", v, err)
			}
			at(21 * time.Second)
		}
		// Log: +20s, +21s, +21s. At limit 1, all three must leave: +31s.
		v, err := l.Allow(t.Context(), "b", "", lim(1, 10*time.Second), nil)
		if err != nil || v.Allowed || v.RetryAfter != 10*time.Second {
			t.Errorf("got %+v, %v; want denied, retry 10s", v, err)
		}
	})
}

func TestLimiterAgentAndConnectorLimitsBothApply(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, _ func() *Store) {
		l := NewLimiter(s)
		agentLim, connLim := lim(5, time.Minute), lim(2, time.Minute)
		steps := []struct {
			name             string
			agent, connector string
			connectorLimit   *Limit
			wantScope        string // "" for allowed
		}{
			{"admits the first request to github", "a", "github", connLim, ""},
			{"admits the second request to github", "a", "github", connLim, ""},
			{"denies the third to github on the connector limit", "a", "github", connLim, ScopeConnector},
			{"still admits the agent on another connector", "a", "stripe", connLim, ""},
			{"admits a request with no connector limit", "a", "slack", nil, ""},
			{"counts a connector denial against neither budget", "a", "github", connLim, ScopeConnector},
			{"admits the agent's fifth request", "a", "openai", connLim, ""},
			{"denies the sixth on the agent limit", "a", "anthropic", connLim, ScopeAgent},
			{"gives another agent its own connector budget", "b", "github", connLim, ""},
		}
		for _, st := range steps {
			v, err := l.Allow(t.Context(), st.agent, st.connector, agentLim, st.connectorLimit)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if v.Allowed != (st.wantScope == "") || v.Scope != st.wantScope {
				t.Errorf("%s: got %+v, want scope %q", st.name, v, st.wantScope)
			}
			if st.wantScope == ScopeConnector && v.Limit != *connLim || st.wantScope == ScopeAgent && v.Limit != *agentLim {
				t.Errorf("%s: names limit %s", st.name, v.Limit)
			}
		}
	})
}

func TestLimiterReportsTheLongerWaitWhenBothLimitsAreFull(t *testing.T) {
	s := openStore(t, Options{})
	l := NewLimiter(s)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s.embedded.SetTime(t0)
	agentLim, connLim := lim(1, 30*time.Second), lim(1, 5*time.Second)
	if v, err := l.Allow(t.Context(), "a", "github", agentLim, connLim); err != nil || !v.Allowed {
		t.Fatalf("got %+v, %v", v, err)
	}
	v, err := l.Allow(t.Context(), "a", "github", agentLim, connLim)
	want := Verdict{Scope: ScopeAgent, Limit: *agentLim, RetryAfter: 30 * time.Second}
	if err != nil || v != want {
		t.Errorf("got %+v, %v; want %+v", v, err, want)
	}
}

func TestLimiterNeverExceedsTheLimitUnderConcurrency(t *testing.T) {
	const limit, workers, each = 50, 16, 20
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		// Two stores stand for two decision replicas sharing one Redis.
		limiters := []*Limiter{NewLimiter(s), NewLimiter(replica())}
		var allowed, denied atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				l := limiters[w%len(limiters)]
				for range each {
					v, err := l.Allow(t.Context(), "busy", "github", lim(1000, time.Minute), lim(limit, time.Minute))
					if err != nil {
						t.Error(err)
						return
					}
					if v.Allowed {
						allowed.Add(1)
					} else {
						denied.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if allowed.Load() != limit || denied.Load() != workers*each-limit {
			t.Errorf("allowed %d, denied %d; want %d, %d", allowed.Load(), denied.Load(), limit, workers*each-limit)
		}
	})
}

func TestLimiterRefusesInvalidArgumentsWithADeny(t *testing.T) {
	s := openStore(t, Options{})
	l := NewLimiter(s)
	tests := []struct {
		name             string
		agent, connector string
		agentLimit       *Limit
		connectorLimit   *Limit
	}{
		{"refuses a missing agent limit rather than not limiting", "a", "c", nil, lim(1, time.Second)},
		{"refuses an empty agent name", "", "c", lim(1, time.Second), nil},
		{"refuses an agent name that would move the hash tag", "a}b", "c", lim(1, time.Second), nil},
		{"refuses an empty connector with a connector limit", "a", "", lim(1, time.Second), lim(1, time.Second)},
		{"refuses a zero request count", "a", "c", lim(0, time.Second), nil},
		{"refuses a window under a millisecond", "a", "c", lim(1, time.Microsecond), nil},
		{"refuses an invalid connector limit", "a", "c", lim(1, time.Second), lim(-1, time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := l.Allow(t.Context(), tt.agent, tt.connector, tt.agentLimit, tt.connectorLimit)
			if err == nil || v.Allowed {
				t.Errorf("got %+v, %v; want an error and a deny", v, err)
			}
		})
	}
	if (Verdict{}).Allowed {
		t.Error("the zero Verdict allows")
	}
}

func TestLimiterLogsExpireWithTheirWindow(t *testing.T) {
	t.Run("redis-server", func(t *testing.T) {
		s, _ := realStore(t, Options{})
		if _, err := NewLimiter(s).Allow(t.Context(), "idle", "github", lim(5, 3*time.Second), lim(5, time.Minute)); err != nil {
			t.Fatal(err)
		}
		for key, max := range map[string]time.Duration{
			"bridle:{idle}:rate:agent":            3 * time.Second,
			"bridle:{idle}:rate:connector:github": time.Minute,
		} {
			ttl, err := s.client.PTTL(t.Context(), key).Result()
			if err != nil || ttl <= 0 || ttl > max {
				t.Errorf("%s: PTTL %s, %v; want in (0, %s]", key, ttl, err, max)
			}
		}
	})
	t.Run("embedded", func(t *testing.T) {
		s := openStore(t, Options{})
		if _, err := NewLimiter(s).Allow(t.Context(), "idle", "", lim(5, 200*time.Millisecond), nil); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, "idle window expired", func() bool { return !s.embedded.Exists("bridle:{idle}:rate:agent") })
	})
}
