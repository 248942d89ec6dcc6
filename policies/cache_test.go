package policies

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func (c *boundedCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}

func TestCacheKeyHoldsOnlyTheFieldsRulesRead(t *testing.T) {
	s := loadFixture(t, "precedence")
	for i := range 5 {
		d := s.Evaluate(t.Context(), Input{Agent: fmt.Sprint("agent-", i), Action: "github.pr.merge", Method: "PUT",
			Params: params{"base": "main", "number": i, "sha": fmt.Sprint(i)}, Time: wednesdayNoon.Add(time.Duration(i) * time.Hour)})
		if d.Effect != RequireApproval {
			t.Fatalf("got %s, want require_approval", DescribeDecision(d))
		}
	}
	if n := s.decisions.len(); n != 1 {
		t.Errorf("got %d cache entries, want 1: agent, method, time, number and sha are read by no candidate rule", n)
	}
	s.Evaluate(t.Context(), Input{Action: "github.pr.merge", Params: params{"base": "dev"}})
	s.Evaluate(t.Context(), Input{Action: "github.pr.merge", Params: params{"base": "main", "frozen": true}})
	if n := s.decisions.len(); n != 3 {
		t.Errorf("got %d cache entries, want 3", n)
	}
}

func TestCacheSeparatesHoursWhenRulesReadTime(t *testing.T) {
	s := loadFixture(t, "operators")
	noon := s.Evaluate(t.Context(), Input{Action: "op.time.hours", Time: wednesdayNoon})
	night := s.Evaluate(t.Context(), Input{Action: "op.time.hours", Time: wednesdayNoon.Add(9 * time.Hour)})
	noonAgain := s.Evaluate(t.Context(), Input{Action: "op.time.hours", Time: wednesdayNoon.Add(30 * time.Minute)})
	if noon.Effect != Allow || night.Effect != Deny || noonAgain.Effect != Allow {
		t.Errorf("got %v at 12:00, %v at 21:00, %v at 12:30; want allow, deny, allow", noon.Effect, night.Effect, noonAgain.Effect)
	}
	if n := s.decisions.len(); n != 2 {
		t.Errorf("got %d cache entries, want 2 (one per hour)", n)
	}
}

func TestCacheDistinguishesTypesAndNesting(t *testing.T) {
	s := loadFixture(t, "operators")
	for _, tt := range []struct {
		v    any
		want Effect
	}{{"5", Deny}, {5, Allow}, {"5", Deny}, {5.0, Allow}, {[]any{5}, Deny}, {map[string]any{"n": 5}, Deny}, {nil, Deny}, {true, Deny}} {
		if d := s.Evaluate(t.Context(), Input{Action: "op.eq.number", Params: params{"n": tt.v}}); d.Effect != tt.want {
			t.Errorf("params.n = %#v: got %v, want %v", tt.v, d.Effect, tt.want)
		}
	}
}

func TestCacheSkipsOversizedKeys(t *testing.T) {
	s := loadFixture(t, "operators")
	long := string(make([]byte, maxKeyLen))
	if d := s.Evaluate(t.Context(), Input{Action: "op.eq.string", Params: params{"s": long}}); d.Effect != Deny {
		t.Errorf("got %v, want deny", d.Effect)
	}
	if n := s.decisions.len(); n != 0 {
		t.Errorf("got %d cache entries, want 0", n)
	}
}

func TestBoundedCacheStaysBounded(t *testing.T) {
	c := newBoundedCache[int](100)
	for i := range 1000 {
		c.put(fmt.Sprint(i), i)
		if n := c.len(); n > 100 {
			t.Fatalf("got %d entries after %d puts, want at most 100", n, i+1)
		}
	}
	if v, ok := c.get("999"); !ok || v != 999 {
		t.Errorf("got %v %v for the newest entry, want 999 true", v, ok)
	}
	if _, ok := c.get("0"); ok {
		t.Error("got the oldest entry, want it evicted")
	}
}

// Run with -race: one Set serves many goroutines.
func TestEvaluateIsSafeForConcurrentUse(t *testing.T) {
	sets := loadFixtures(t)
	cases := evaluateCases()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				tt := cases[(i*7+w)%len(cases)]
				d := sets[tt.fixture].Evaluate(t.Context(), tt.in)
				if d.Effect != tt.effect || ruleName(d) != tt.rule {
					t.Errorf("%s: got %v by %q, want %v by %q", tt.name, d.Effect, ruleName(d), tt.effect, tt.rule)
					return
				}
			}
		}()
	}
	wg.Wait()
}
