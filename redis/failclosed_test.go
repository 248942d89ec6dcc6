package redis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/redis/redistest"
)

// failBound is a generous bound on how long a failing call may take. The
// operation timeout is 50ms; the bound only catches hangs of client defaults
// (seconds) on a busy machine without flaking.
const failBound = 2 * time.Second

// operation is one store method, reduced to "did it let the request through"
// and its error.
type operation struct {
	name   string
	writes bool // fails when Redis refuses writes
	call   func(ctx context.Context, f *fixture) (permits bool, err error)
}

var operations = []operation{
	{"Allow denies", true, func(ctx context.Context, f *fixture) (bool, error) {
		v, err := f.limiter.Allow(ctx, "a", "github", lim(100, time.Minute), lim(100, time.Minute))
		return v.Allowed, err
	}},
	{"Set fails", true, func(ctx context.Context, f *fixture) (bool, error) {
		return false, f.kill.Set(ctx, KillAgent("x"), true, "r", "w")
	}},
	{"Nonces.Use is not fresh", true, func(ctx context.Context, f *fixture) (bool, error) {
		nonce := "n-" + time.Now().String()
		if err := f.nonces.Register(ctx, nonce, time.Minute); err != nil {
			return false, err
		}
		return f.nonces.Use(ctx, nonce)
	}},
	{"List fails", false, func(ctx context.Context, f *fixture) (bool, error) {
		list, err := f.kill.List(ctx)
		return list != nil, err
	}},
	{"Ping fails", false, func(ctx context.Context, f *fixture) (bool, error) {
		return false, f.store.Ping(ctx)
	}},
}

type fixture struct {
	store   *Store
	limiter *Limiter
	kill    *KillSwitch
	nonces  *Nonces
}

// newFixture opens a store with the default operation timeout, warms it up
// (connections made, script loaded, kill switch cache live) and checks that
// everything works before a test breaks Redis.
func newFixture(t *testing.T, o Options) *fixture {
	t.Helper()
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	f := &fixture{store: s, limiter: NewLimiter(s), kill: NewKillSwitch(s, nil), nonces: NewNonces(s)}
	t.Cleanup(f.kill.Close)
	waitFor(t, 5*time.Second, "kill switch cache live", f.kill.Live)
	f.mustWork(t)
	return f
}

// mustWork waits until every operation succeeds again (after a recovery).
func (f *fixture) mustWork(t *testing.T) {
	t.Helper()
	for _, op := range operations {
		waitFor(t, 10*time.Second, op.name+" works", func() bool {
			_, err := op.call(t.Context(), f)
			return err == nil
		})
	}
	waitFor(t, 10*time.Second, "kill switch cache live", f.kill.Live)
	agent := fmt.Sprintf("fresh-%d", time.Now().UnixNano())
	if v, err := f.limiter.Allow(t.Context(), agent, "", lim(1, time.Minute), nil); err != nil || !v.Allowed {
		t.Fatalf("Allow after recovery: got %+v, %v", v, err)
	}
}

func TestEveryOperationFailsClosedWhenRedisFails(t *testing.T) {
	conditions := []struct {
		name   string
		writes bool // only write operations are expected to fail
		open   func(t *testing.T) (*fixture, func())
	}{
		{"redis-server killed", false, func(t *testing.T) (*fixture, func()) {
			srv := redistest.Start(t)
			return newFixture(t, Options{URL: srv.URL()}), srv.Kill
		}},
		{"redis-server stalled by SIGSTOP", false, func(t *testing.T) (*fixture, func()) {
			srv := redistest.Start(t)
			return newFixture(t, Options{URL: srv.URL()}), srv.Pause
		}},
		// As after a failover that left us talking to the old primary.
		{"redis-server demoted to a read-only replica", true, func(t *testing.T) (*fixture, func()) {
			srv := redistest.Start(t)
			f := newFixture(t, Options{URL: srv.URL()})
			return f, func() {
				if err := f.store.client.Do(t.Context(), "REPLICAOF", "127.0.0.1", "1").Err(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"embedded redis stopped", false, func(t *testing.T) (*fixture, func()) {
			f := newFixture(t, Options{})
			return f, f.store.embedded.Close
		}},
	}
	for _, c := range conditions {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f, breakRedis := c.open(t)
			breakRedis()
			for _, op := range operations {
				if c.writes && !op.writes {
					continue
				}
				t.Run(op.name, func(t *testing.T) {
					start := time.Now()
					permits, err := op.call(t.Context(), f)
					took := time.Since(start)
					if err == nil || permits {
						t.Errorf("got permits=%v, err=%v; want an error and no permission", permits, err)
					}
					if took > failBound {
						t.Errorf("took %s; want an error within %s", took, failBound)
					}
					t.Logf("failed in %s: %v", took, err)
				})
			}
			if c.writes {
				return
			}
			t.Run("kill switch Active fails once the cache is stale", func(t *testing.T) {
				// A change cannot be made while Redis is down, so the cache may
				// answer until it notices (≤ 2×pingEvery when stalled); after
				// that every call reads Redis and fails.
				var err error
				var took time.Duration
				noticed := waitFor(t, failBound, "Active returns an error", func() bool {
					start := time.Now()
					_, _, err = f.kill.Active(t.Context(), "a", "github")
					took = time.Since(start)
					return err != nil
				})
				if f.kill.Live() {
					t.Error("Active failed but the cache still claims to be live")
				}
				if took > failBound {
					t.Errorf("failing call took %s", took)
				}
				t.Logf("cache went stale after %s; a failing call took %s: %v", noticed, took, err)
			})
		})
	}
}

func TestRecoversWhenRedisComesBack(t *testing.T) {
	steps := []struct {
		name           string
		break_, repair func(*redistest.Server)
	}{
		{"recovers after redis-server is restarted", (*redistest.Server).Kill, (*redistest.Server).Restart},
		{"recovers after a stalled redis-server resumes", (*redistest.Server).Pause, (*redistest.Server).Resume},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t)
			f := newFixture(t, Options{URL: srv.URL()})
			st.break_(srv)
			waitFor(t, failBound, "Allow fails", func() bool {
				_, err := f.limiter.Allow(t.Context(), "a", "", lim(100, time.Minute), nil)
				return err != nil
			})
			waitFor(t, failBound, "kill switch cache stale", func() bool { return !f.kill.Live() })
			start := time.Now()
			st.repair(srv)
			// Same store, same kill switch: nothing is reopened.
			f.mustWork(t)
			t.Logf("everything worked again %s after the repair", time.Since(start))

			// And the cache follows changes again.
			other := NewKillSwitch(openStore(t, Options{URL: srv.URL()}), nil)
			defer other.Close()
			if err := other.Set(t.Context(), KillAll, true, "after recovery", "tester"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "change after recovery reached the cache", func() bool {
				_, on, err := f.kill.Active(t.Context(), "a", "github")
				return err == nil && on && f.kill.Live()
			})
		})
	}
}

func TestOpenDoesNotNeedRedisUpAndFailsUntilItIs(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	s, err := Open(t.Context(), Options{URL: srv.URL()})
	if err != nil {
		t.Fatalf("Open with redis down: %v", err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err == nil {
		t.Error("Ping succeeded with redis down")
	}
	if v, err := NewLimiter(s).Allow(t.Context(), "a", "", lim(1, time.Minute), nil); err == nil || v.Allowed {
		t.Errorf("Allow with redis down: got %+v, %v", v, err)
	}
	srv.Restart()
	waitFor(t, 5*time.Second, "Ping succeeds once redis is up", func() bool { return s.Ping(t.Context()) == nil })
}
