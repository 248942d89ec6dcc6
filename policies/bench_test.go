package policies

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks (figures, not assertions):
//
//	go test -run '^$' -bench . -benchmem ./policies/
//
// benchPolicy has n rules over n/40 connectors (40 rules each: 8 resources ×
// 5 verbs), so the rules one action can match stay few as n grows, as in a
// real deployment with many connectors. Every 10th rule uses a * action glob,
// every 25th a ** glob; conditions cycle through a numeric comparison, a
// glob, an any of eq/in, and none.
func benchPolicy(n int) string {
	verbs := []string{"get", "list", "create", "update", "merge"}
	var b strings.Builder
	b.WriteString("version: 1\npolicies:\n")
	for i := range n {
		c, res, verb := i/40, i%8, verbs[(i/8)%5]
		if i%50 == 0 {
			fmt.Fprintf(&b, "  - name: p%d\n", i/50)
			if (i/50)%3 == 2 {
				b.WriteString("    agents: [\"agent-*\", ci-bot]\n")
			}
			b.WriteString("    rules:\n")
		}
		action := fmt.Sprintf("c%d.r%d.%s", c, res, verb)
		switch {
		case i%10 == 0:
			action = fmt.Sprintf("\"c%d.*.%s\"", c, verb)
		case i%25 == 1:
			action = fmt.Sprintf("\"c%d.**\"", c)
		}
		effect := []string{"allow", "allow", "require_approval", "deny"}[i%4]
		fmt.Fprintf(&b, "      - name: r%d\n        effect: %s\n        actions: [%s]\n", i, effect, action)
		switch i % 4 {
		case 1:
			fmt.Fprintf(&b, "        when: {field: params.amount, op: gt, value: %d}\n", 1000+i)
		case 2:
			fmt.Fprintf(&b, "        when: {field: params.repo, op: glob, value: \"org%d/*\"}\n", i%7)
		case 3:
			b.WriteString("        when: {any: [{field: params.base, op: eq, value: main}, {field: agent, op: in, value: [a, b]}]}\n")
		}
	}
	return b.String()
}

var benchSizes = []int{20, 200, 2000, 10000}

// benchInput is an action with a handful of candidate rules at every size.
func benchInput(amount int) Input {
	return Input{Agent: "agent-1", Connector: "c0", Action: "c0.r3.list", Method: "GET",
		Params: map[string]any{"amount": amount, "repo": "org3/api", "base": "dev", "unused": "x"},
		Time:   time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)}
}

func loadBench(b *testing.B, n int) *Set {
	b.Helper()
	s, err := LoadBytes("bench.yaml", []byte(benchPolicy(n)))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkEvaluate measures a decision served from the cache (cached) and
// one computed by OPA (uncached: the amount changes every call, and amount
// is a field the candidate rules read).
func BenchmarkEvaluate(b *testing.B) {
	for _, n := range benchSizes {
		s := loadBench(b, n)
		b.Run(fmt.Sprintf("rules=%d/cached", n), func(b *testing.B) {
			in := benchInput(500)
			s.Evaluate(b.Context(), in)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if d := s.Evaluate(b.Context(), in); d.Reason == ReasonPolicyError {
					b.Fatal(d.Err)
				}
			}
		})
		b.Run(fmt.Sprintf("rules=%d/uncached", n), func(b *testing.B) {
			b.ReportAllocs()
			b.ReportMetric(float64(len(s.plan("c0.r3.list").candidates)), "candidates")
			defer reportCPU(b)()
			i := 0
			for b.Loop() {
				i++
				if d := s.Evaluate(b.Context(), benchInput(i)); d.Reason == ReasonPolicyError {
					b.Fatal(d.Err)
				}
			}
		})
	}
}

// reportCPU reports the process's CPU time (user + system, GC included) per
// operation, which other processes on a shared machine do not inflate the
// way they inflate wall-clock ns/op. Use as defer reportCPU(b)().
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluateLatency reports percentiles of uncached decisions, both
// wall-clock and CPU time of the evaluating thread. On a shared machine the
// wall-clock tail mostly measures other processes; thread CPU time is the
// budget unit of DESIGN §7.
func BenchmarkEvaluateLatency(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for _, n := range benchSizes {
		s := loadBench(b, n)
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var wall, cpu []time.Duration
			i := 0
			for b.Loop() {
				i++
				in := benchInput(i)
				start, startCPU := time.Now(), threadCPU()
				s.Evaluate(b.Context(), in)
				cpu = append(cpu, threadCPU()-startCPU)
				wall = append(wall, time.Since(start))
			}
			for name, lat := range map[string][]time.Duration{"wall": wall, "cpu": cpu} {
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), name+"-p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), name+"-p99-ns")
			}
		})
	}
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BenchmarkLoad measures Load (YAML decode, validation, translation, OPA
// parse and compile) and the heap a compiled Set keeps.
func BenchmarkLoad(b *testing.B) {
	for _, n := range benchSizes {
		src := []byte(benchPolicy(n))
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var heap uint64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s, err := LoadBytes("bench.yaml", src)
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap = after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(s)
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
		})
	}
}
