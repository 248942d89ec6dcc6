package redis

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/redis/redistest"
)

// backend opens stores on one kind of Redis. Tests that hold for any Redis
// run against each: a real redis-server and the embedded one.
type backend struct {
	name string
	// open starts a fresh Redis and returns a store on it and a function
	// opening further stores (replicas) on the same Redis.
	open func(t *testing.T) (s *Store, replica func() *Store)
}

var backends = []backend{
	{"redis-server", func(t *testing.T) (*Store, func() *Store) {
		srv := redistest.Start(t)
		replica := func() *Store { return openStore(t, Options{URL: srv.URL()}) }
		return replica(), replica
	}},
	{"embedded", func(t *testing.T) (*Store, func() *Store) {
		s := openStore(t, Options{})
		return s, func() *Store { return openStore(t, Options{URL: s.embeddedURL}) }
	}},
}

// forEachBackend runs f as a parallel subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, s *Store, replica func() *Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s, replica := b.open(t)
			f(t, s, replica)
		})
	}
}

// openStore opens a store closed when the test ends. Tests use a generous
// operation timeout so a busy CI machine does not turn into false failures;
// the fail-closed tests set their own.
func openStore(t testing.TB, o Options) *Store {
	t.Helper()
	if o.OpTimeout == 0 {
		o.OpTimeout = time.Second
	}
	s, err := Open(t.Context(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// realStore starts a redis-server and opens a store on it.
func realStore(t *testing.T, o Options) (*Store, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	o.URL = srv.URL()
	return openStore(t, o), srv
}

// liveKillSwitch starts a kill switch and waits until its cache is live.
func liveKillSwitch(t *testing.T, s *Store) *KillSwitch {
	t.Helper()
	k := NewKillSwitch(s, nil)
	t.Cleanup(k.Close)
	waitFor(t, 5*time.Second, "kill switch cache live", k.Live)
	return k
}

// waitFor polls cond every millisecond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// commandCalls returns redis-server's per-command call counts
// (INFO commandstats).
func commandCalls(t testing.TB, s *Store) map[string]int64 {
	t.Helper()
	info, err := s.client.Info(t.Context(), "commandstats").Result()
	if err != nil {
		t.Fatalf("INFO commandstats: %v", err)
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		// cmdstat_evalsha:calls=3,usec=...
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			t.Fatalf("parsing %q: %v", line, err)
		}
		calls[strings.TrimPrefix(name, "cmdstat_")] = v
	}
	return calls
}

func lim(n int, per time.Duration) *Limit { return &Limit{Requests: n, Per: per} }
