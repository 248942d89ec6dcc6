package redis

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bridle-gw/bridle/redis/redistest"
)

// echoScript counts its calls in KEYS[1] and returns {ARGV[1], count}: each
// caller can tell its own answer from the others', and the count shows how
// many calls Redis ran.
var echoScript = goredis.NewScript(`return {tonumber(ARGV[1]), redis.call('INCR', KEYS[1])}`)

// callResult is what one concurrent caller got.
type callResult struct {
	vals []int64
	err  error
	took time.Duration
}

// callConcurrently makes n calls of b at once, caller i sending i, each
// bounded by timeout, and returns what each got.
func callConcurrently(t *testing.T, b *batcher, n int, timeout time.Duration) []callResult {
	t.Helper()
	out := make([]callResult, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			vals, err := b.eval(ctx, []string{"{batch}:count"}, i)
			out[i] = callResult{vals, err, time.Since(start)}
		})
	}
	wg.Wait()
	return out
}

// viaSender makes every call of b go through the sender until the test
// ends, as when other calls are always in flight.
func viaSender(t *testing.T, b *batcher) {
	b.inflight.Add(b.alone)
	t.Cleanup(func() { b.inflight.Add(-b.alone) })
}

// stalledBatch pauses srv and queues calls behind one the sender has in
// flight, so they leave as one batch once the sender is free; it returns
// when all are queued.
func stalledBatch(t *testing.T, srv *redistest.Server, b *batcher, n int, timeout time.Duration) (results func() []callResult) {
	t.Helper()
	viaSender(t, b)
	srv.Pause()
	blocker := make(chan struct{})
	go func() {
		defer close(blocker)
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		_, _ = b.eval(ctx, []string{"{batch}:count"}, -1)
	}()
	waitFor(t, 5*time.Second, "a call in flight", func() bool { return b.pipelines.Load() == 1 })
	done := make(chan []callResult, 1)
	go func() { done <- callConcurrently(t, b, n, timeout) }()
	waitFor(t, 5*time.Second, "calls queued behind the stalled one", func() bool { return len(b.queue) == n })
	return func() []callResult {
		<-blocker
		return <-done
	}
}

func count(t *testing.T, s *Store) int {
	t.Helper()
	n, err := s.client.Get(t.Context(), "{batch}:count").Int()
	if err != nil && err != goredis.Nil {
		t.Fatal(err)
	}
	return n
}

func TestBatcher(t *testing.T) {
	const n = 40
	cases := []struct {
		name string
		run  func(t *testing.T, s *Store, srv *redistest.Server, b *batcher)
	}{
		{"gives each concurrent caller its own result", func(t *testing.T, s *Store, _ *redistest.Server, b *batcher) {
			for i, r := range callConcurrently(t, b, n, time.Second) {
				if r.err != nil || len(r.vals) != 2 || r.vals[0] != int64(i) {
					t.Errorf("caller %d: got %v, %v; want [%d count]", i, r.vals, r.err, i)
				}
			}
			if got := count(t, s); got != n {
				t.Errorf("redis ran the script %d times, want %d", got, n)
			}
		}},
		{"sends the calls queued during a round trip as one pipeline", func(t *testing.T, s *Store, srv *redistest.Server, b *batcher) {
			results := stalledBatch(t, srv, b, n, 5*time.Second)
			before := b.pipelines.Load()
			srv.Resume()
			for i, r := range results() {
				if r.err != nil || r.vals[0] != int64(i) {
					t.Errorf("caller %d: got %v, %v", i, r.vals, r.err)
				}
			}
			// The stalled call's pipeline was counted before; the rest went in one.
			if got := b.pipelines.Load() - before; got != 1 {
				t.Errorf("%d pipelines for the %d queued calls, want 1", got, n)
			}
		}},
		{"fails every caller of a batch whose connection fails", func(t *testing.T, s *Store, srv *redistest.Server, b *batcher) {
			results := stalledBatch(t, srv, b, n, 5*time.Second)
			srv.Kill()
			for i, r := range results() {
				if r.err == nil {
					t.Errorf("caller %d: got %v and no error; want an error", i, r.vals)
				}
			}
		}},
		{"fails closed at each caller's deadline when redis stalls", func(t *testing.T, s *Store, srv *redistest.Server, b *batcher) {
			srv.Pause()
			defer srv.Resume()
			for i, r := range callConcurrently(t, b, n, DefaultOpTimeout) {
				if r.err == nil || r.took > failBound {
					t.Errorf("caller %d: got %v, %v after %s; want an error within %s", i, r.vals, r.err, r.took, failBound)
				}
			}
		}},
		{"does not send the calls of callers that gave up", func(t *testing.T, s *Store, srv *redistest.Server, b *batcher) {
			// One call with a long deadline holds the sender on a stalled
			// Redis; the others give up while they wait.
			viaSender(t, b)
			srv.Pause()
			long := make(chan error, 1)
			go func() {
				_, err := b.eval(t.Context(), []string{"{batch}:count"}, -1)
				long <- err
			}()
			waitFor(t, 5*time.Second, "the long call in flight", func() bool { return b.pipelines.Load() == 1 })
			for i, r := range callConcurrently(t, b, n, 20*time.Millisecond) {
				if r.err == nil {
					t.Errorf("caller %d: got %v and no error", i, r.vals)
				}
			}
			srv.Resume()
			if err := <-long; err != nil {
				t.Fatalf("long call: %v", err)
			}
			if got := count(t, s); got != 1 {
				t.Errorf("redis ran the script %d times, want 1 (only the call still awaited)", got)
			}
		}},
		{"falls back to EVAL for every caller after redis lost its scripts", func(t *testing.T, s *Store, _ *redistest.Server, b *batcher) {
			callConcurrently(t, b, 1, time.Second) // loaded
			if err := s.client.ScriptFlush(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			viaSender(t, b) // the pipeline's fallback, not Script.Run's
			for i, r := range callConcurrently(t, b, n, time.Second) {
				if r.err != nil || r.vals[0] != int64(i) {
					t.Errorf("caller %d: got %v, %v", i, r.vals, r.err)
				}
			}
			if got := count(t, s); got != n+1 {
				t.Errorf("redis ran the script %d times, want %d (each call once)", got, n+1)
			}
		}},
		{"sends a call at once from its caller when few are in flight", func(t *testing.T, s *Store, _ *redistest.Server, b *batcher) {
			for i := range 3 {
				if r := callConcurrently(t, b, 1, time.Second)[0]; r.err != nil || r.vals[0] != 0 || r.vals[1] != int64(i+1) {
					t.Errorf("call %d: got %v, %v", i, r.vals, r.err)
				}
			}
			if got := b.pipelines.Load(); got != 0 {
				t.Errorf("%d pipelines sent for lone calls, want 0 (sent by their callers)", got)
			}
		}},
		{"falls back to EVAL for a lone call after redis lost its scripts", func(t *testing.T, s *Store, _ *redistest.Server, b *batcher) {
			callConcurrently(t, b, 1, time.Second)
			if err := s.client.ScriptFlush(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			if r := callConcurrently(t, b, 1, time.Second)[0]; r.err != nil || r.vals[1] != 2 {
				t.Errorf("got %v, %v; want the script run once more", r.vals, r.err)
			}
		}},
		{"refuses calls once closed", func(t *testing.T, s *Store, _ *redistest.Server, b *batcher) {
			b.close()
			for i, r := range callConcurrently(t, b, 3, time.Second) {
				if r.err == nil {
					t.Errorf("caller %d: got %v and no error", i, r.vals)
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, srv := realStore(t, Options{OpTimeout: time.Second})
			b := newBatcher(s.client, echoScript, time.Second)
			t.Cleanup(b.close)
			c.run(t, s, srv, b)
		})
	}
}

// TestLimiterBatchesGiveEachRequestItsOwnVerdict runs many agents' requests
// at once through one limiter on each kind of Redis: batched or not, every
// agent gets exactly its limit.
func TestLimiterBatchesGiveEachRequestItsOwnVerdict(t *testing.T) {
	const agents, limit, each = 20, 3, 5
	forEachBackend(t, func(t *testing.T, s *Store, _ func() *Store) {
		l := NewLimiter(s)
		allowed := make([]int, agents)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for a := range agents {
			for range each {
				wg.Go(func() {
					v, err := l.Allow(t.Context(), "agent-"+strconv.Itoa(a), "github", lim(limit, time.Minute), nil)
					if err != nil {
						t.Error(err)
						return
					}
					if v.Allowed {
						mu.Lock()
						allowed[a]++
						mu.Unlock()
					} else if v.Scope != ScopeAgent || v.Limit != *lim(limit, time.Minute) {
						t.Errorf("agent-%d: deny %+v", a, v)
					}
				})
			}
		}
		wg.Wait()
		for a, got := range allowed {
			if got != limit {
				t.Errorf("agent-%d: %d allowed, want %d", a, got, limit)
			}
		}
		t.Logf("%d pipelines for %d requests", s.limits.pipelines.Load(), agents*each)
	})
}
