package redistest

import (
	"runtime"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test ended.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Cleanup(func())            {}
func (r *recorder) Fatalf(f string, a ...any) { r.failed = f; runtime.Goexit() }
func (r *recorder) Skipf(f string, a ...any)  { r.skipped = f; runtime.Goexit() }

func startWith(t *testing.T, r *recorder) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(r)
	}()
	<-done
}

func TestMissingRedisServer(t *testing.T) {
	tests := []struct {
		name     string
		ci       string
		wantFail bool
	}{
		{"fails the test when CI is set", "true", true},
		{"skips the test with a reason outside CI", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PATH", t.TempDir())
			t.Setenv("BRIDLE_REDIS_SERVER", "")
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			startWith(t, r)
			got := r.skipped
			if tt.wantFail {
				got = r.failed
			}
			if !strings.Contains(got, "redis-server not found") {
				t.Errorf("failed %q, skipped %q", r.failed, r.skipped)
			}
		})
	}
}

func TestServerCanBeKilledStalledAndRestarted(t *testing.T) {
	s := Start(t)
	steps := []struct {
		name   string
		do     func()
		answer bool
	}{
		{"answers once started", func() {}, true},
		{"stops answering when stalled", s.Pause, false},
		{"answers again when resumed", s.Resume, true},
		{"stops answering when killed", s.Kill, false},
		{"answers on the same address after a restart", s.Restart, true},
	}
	for _, st := range steps {
		st.do()
		if err := ping(s.Addr()); (err == nil) != st.answer {
			t.Errorf("%s: ping error %v", st.name, err)
		}
	}
}
