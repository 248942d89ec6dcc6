package redis

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/redis/redistest"
)

// Run with: go test -run '^$' -bench . -benchtime 2s -benchmem ./redis/
// Limits are high enough that every request is admitted (the hot path);
// 100 agents share the load, as 100 agents would.
func BenchmarkLimiter(b *testing.B) {
	stores := map[string]func(b *testing.B) *Store{
		"redis-server": func(b *testing.B) *Store {
			return openStore(b, Options{URL: redistest.Start(b).URL()})
		},
		"embedded": func(b *testing.B) *Store { return openStore(b, Options{}) },
	}
	for _, name := range []string{"redis-server", "embedded"} {
		b.Run(name, func(b *testing.B) {
			l := NewLimiter(stores[name](b))
			agentLim, connLim := lim(1<<30, time.Second), lim(1<<30, time.Second)
			agents := make([]string, 100)
			for i := range agents {
				agents[i] = "agent-" + strconv.Itoa(i)
			}
			var next atomic.Int64
			allow := func(b *testing.B) {
				agent := agents[next.Add(1)%int64(len(agents))]
				v, err := l.Allow(b.Context(), agent, "github", agentLim, connLim)
				if err != nil || !v.Allowed {
					b.Fatalf("%+v, %v", v, err)
				}
			}
			b.Run("serial", func(b *testing.B) {
				defer reportServerTime(b, l.store)()
				defer reportProcessCPU(b)()
				for b.Loop() {
					allow(b)
				}
			})
			b.Run("parallel", func(b *testing.B) {
				defer reportServerTime(b, l.store)()
				defer reportProcessCPU(b)()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						allow(b)
					}
				})
			})
			// 50 callers at once, like the Checks on Envoy's 50 streams in
			// the ladder: the limiter batches their scripts.
			b.Run("concurrent-50", func(b *testing.B) {
				defer reportServerTime(b, l.store)()
				defer reportProcessCPU(b)()
				b.SetParallelism(max(50/runtime.GOMAXPROCS(0), 1))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						allow(b)
					}
				})
			})
		})
	}
}

// BenchmarkKillSwitchActive is the kill switch check of every request: from
// the live cache, no I/O.
func BenchmarkKillSwitchActive(b *testing.B) {
	s := openStore(b, Options{})
	k := NewKillSwitch(s, nil)
	defer k.Close()
	if err := k.Set(b.Context(), KillAgent("other"), true, "bench", "bench"); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 5*time.Second, "cache live", func() bool {
		_, on, err := k.Active(b.Context(), "other", "")
		return k.Live() && on && err == nil
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, on, err := k.Active(b.Context(), "a", "github"); on || err != nil {
			b.Fatal(on, err)
		}
	}
}

// reportServerTime reports redis-server's own time per EVALSHA (its
// INFO commandstats usec, script body included) as redis-µs/op. The
// embedded Redis has no commandstats and reports nothing.
func reportServerTime(b *testing.B, s *Store) func() {
	if s.Embedded() {
		return func() {}
	}
	usec := func() (calls, usec int64) {
		info, err := s.client.Info(b.Context(), "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		_, rest, _ := strings.Cut(info, "cmdstat_evalsha:")
		_, _ = fmt.Sscanf(rest, "calls=%d,usec=%d", &calls, &usec)
		return calls, usec
	}
	c0, u0 := usec()
	return func() {
		c1, u1 := usec()
		if c1 > c0 {
			b.ReportMetric(float64(u1-u0)/float64(c1-c0), "redis-µs/op")
		}
	}
}

// reportProcessCPU reports this process's CPU time (user + system) per
// operation as cpu-µs/op: the Go client's cost against redis-server, client
// and Redis together against the embedded one. Unlike ns/op it does not
// count waiting, so it holds up on a busy machine.
func reportProcessCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpu()-start).Microseconds())/float64(b.N), "cpu-µs/op")
		}
	}
}
