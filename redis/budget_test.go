package redis

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// TestHotPathCostsOneRoundTripPerRequest proves the budget of DESIGN §7 and
// issue #5: an allowed request costs one command sent to Redis (the
// limiter's EVALSHA), and the kill switch check costs none while its cache is
// live. INFO commandstats also counts the commands a script runs, so the
// commands clients send are counted with MONITOR, which tags those as "lua".
func TestHotPathCostsOneRoundTripPerRequest(t *testing.T) {
	const requests = 200
	s, srv := realStore(t, Options{})
	k := liveKillSwitch(t, s)
	l := NewLimiter(s)
	check := func() {
		t.Helper()
		if _, on, err := k.Active(t.Context(), "a", "github"); err != nil || on {
			t.Fatalf("kill switch: on=%v, %v", on, err)
		}
		if v, err := l.Allow(t.Context(), "a", "github", lim(10*requests, time.Minute), lim(10*requests, time.Minute)); err != nil || !v.Allowed {
			t.Fatalf("limiter: %+v, %v", v, err)
		}
	}
	check() // loads the script (EVALSHA, NOSCRIPT, EVAL) and warms the pool
	sent := monitor(t, srv.Addr())
	before := commandCalls(t, s)
	for range requests {
		check()
	}
	after := commandCalls(t, s)

	perCommand := map[string]int{}
	for _, line := range sent(s) {
		// +1700000000.123456 [0 127.0.0.1:40000] "evalsha" "…" …
		_, rest, _ := strings.Cut(line, "] \"")
		cmd, _, _ := strings.Cut(rest, "\"")
		switch cmd = strings.ToLower(cmd); cmd {
		case "info", "echo": // this test's own probes
		case "ping": // the kill switch subscription's idle health check, not per request
		default:
			perCommand[cmd]++
		}
	}
	if len(perCommand) != 1 || perCommand["evalsha"] != requests {
		t.Errorf("commands sent for %d requests: %v; want only %d evalsha", requests, perCommand, requests)
	}
	if got := after["evalsha"] - before["evalsha"]; got != requests {
		t.Errorf("INFO commandstats: %d EVALSHA calls, want %d", got, requests)
	}
	for _, read := range []string{"hmget", "hgetall", "hget"} {
		if d := after[read] - before[read]; d != 0 {
			t.Errorf("INFO commandstats: %d %s calls; want none (kill switch from cache)", d, read)
		}
	}
}

// monitor records the commands clients send to the Redis at addr, from now
// until the returned function is called with a store on that Redis.
func monitor(t *testing.T, addr string) func(*Store) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	if _, err := c.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("MONITOR: %q, %v", line, err)
	}
	return func(s *Store) []string {
		const marker = "budget-test-end"
		if err := s.client.Echo(t.Context(), marker).Err(); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var lines []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading MONITOR: %v", err)
			}
			if strings.Contains(line, marker) {
				return lines
			}
			if !strings.Contains(line, " lua] ") {
				lines = append(lines, line)
			}
		}
	}
}
