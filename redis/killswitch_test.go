package redis

import (
	"errors"
	"testing"
	"time"
)

func TestKillSwitchScopes(t *testing.T) {
	type check struct {
		agent, connector string
		wantScope        string // "" when nothing stops the request
	}
	tests := []struct {
		name   string
		on     []string
		off    []string
		checks []check
	}{
		{"nothing set stops nothing", nil, nil, []check{{"a", "github", ""}, {"a", "", ""}}},
		{"all stops every agent on every connector", []string{KillAll}, nil,
			[]check{{"a", "github", KillAll}, {"b", "stripe", KillAll}, {"a", "", KillAll}}},
		{"an agent switch stops only that agent", []string{KillAgent("a")}, nil,
			[]check{{"a", "github", KillAgent("a")}, {"a", "", KillAgent("a")}, {"b", "github", ""}}},
		{"a connector switch stops every agent on that connector only", []string{KillConnector("github")}, nil,
			[]check{{"a", "github", KillConnector("github")}, {"b", "github", KillConnector("github")}, {"a", "stripe", ""}}},
		{"a check with no connector ignores connector switches", []string{KillConnector("github")}, nil,
			[]check{{"a", "", ""}}},
		{"all is reported before the agent, the agent before the connector",
			[]string{KillConnector("github"), KillAgent("a"), KillAll}, nil,
			[]check{{"a", "github", KillAll}}},
		{"the agent is reported before the connector", []string{KillConnector("github"), KillAgent("a")}, nil,
			[]check{{"a", "github", KillAgent("a")}, {"b", "github", KillConnector("github")}}},
		{"a switch turned off stops nothing", []string{KillAll, KillAgent("a")}, []string{KillAll, KillAgent("a")},
			[]check{{"a", "github", ""}}},
		{"names are matched exactly", []string{KillAgent("a")}, nil,
			[]check{{"ab", "github", ""}, {"A", "github", ""}}},
	}
	forEachBackend(t, func(t *testing.T, s *Store, _ func() *Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.client.Del(t.Context(), killKey).Err(); err != nil {
					t.Fatal(err)
				}
				k := liveKillSwitch(t, s)
				for _, scope := range tt.on {
					if err := k.Set(t.Context(), scope, true, "test", "tester"); err != nil {
						t.Fatal(err)
					}
				}
				for _, scope := range tt.off {
					if err := k.Set(t.Context(), scope, false, "test", "tester"); err != nil {
						t.Fatal(err)
					}
				}
				// Both paths must agree: the live cache (once the last change
				// has arrived) and the per-request read used when it is down.
				perRequest := &KillSwitch{store: s}
				perRequest.state.Store(staleState)
				for _, c := range tt.checks {
					waitFor(t, 5*time.Second, "cache agrees with redis", func() bool {
						sw, on, err := k.Active(t.Context(), c.agent, c.connector)
						return err == nil && on == (c.wantScope != "") && sw.Scope == c.wantScope
					})
					sw, on, err := perRequest.Active(t.Context(), c.agent, c.connector)
					if err != nil || on != (c.wantScope != "") || sw.Scope != c.wantScope {
						t.Errorf("read per request: Active(%q, %q) = %q, %v, %v; want %q",
							c.agent, c.connector, sw.Scope, on, err, c.wantScope)
					}
				}
			})
		}
	})
}

func TestKillSwitchRecordsWhoWhenWhy(t *testing.T) {
	s := openStore(t, Options{})
	k := liveKillSwitch(t, s)
	before := time.Now().Add(-time.Second)
	if err := k.Set(t.Context(), KillAgent("a"), true, "leaking tokens", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(t.Context(), KillAll, true, "incident", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(t.Context(), KillAll, false, "resolved", "carol"); err != nil {
		t.Fatal(err)
	}
	list, err := k.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []Switch{
		{Scope: KillAgent("a"), On: true, Reason: "leaking tokens", Who: "alice"},
		{Scope: KillAll, On: false, Reason: "resolved", Who: "carol"},
	}
	if len(list) != len(want) {
		t.Fatalf("List: got %+v, want %+v", list, want)
	}
	for i, got := range list {
		if got.At.Before(before) || got.At.After(time.Now()) {
			t.Errorf("%s: At %s is not the time of the change", got.Scope, got.At)
		}
		got.At = time.Time{}
		if got != want[i] {
			t.Errorf("List[%d]: got %+v, want %+v", i, got, want[i])
		}
	}
	waitFor(t, 5*time.Second, "agent switch active", func() bool {
		sw, on, err := k.Active(t.Context(), "a", "github")
		return err == nil && on && sw.Who == "alice" && sw.Reason == "leaking tokens"
	})
}

func TestKillSwitchRefusesInvalidScopes(t *testing.T) {
	s := openStore(t, Options{})
	k := NewKillSwitch(s, nil)
	defer k.Close()
	for _, scope := range []string{"", "ALL", "agent", "agent:", "connector:", "host:github", ":a"} {
		if err := k.Set(t.Context(), scope, true, "", ""); !errors.Is(err, ErrInvalidScope) {
			t.Errorf("Set(%q): got %v, want ErrInvalidScope", scope, err)
		}
	}
}

func TestKillSwitchCountsAnUnreadableEntryAsOn(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, _ func() *Store) {
		k := liveKillSwitch(t, s)
		if err := s.client.HSet(t.Context(), killKey, KillAgent("a"), "{not json").Err(); err != nil {
			t.Fatal(err)
		}
		// A raw HSET announces nothing; a later change makes replicas reload.
		if err := k.Set(t.Context(), KillAgent("other"), false, "", ""); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "unreadable entry stops the agent", func() bool {
			_, on, err := k.Active(t.Context(), "a", "github")
			return err == nil && on
		})
		k.Close() // per-request reads from here on
		if _, on, err := k.Active(t.Context(), "a", "github"); err != nil || !on {
			t.Errorf("read per request: got on=%v, %v; want on", on, err)
		}
	})
}

// TestKillSwitchPropagatesToOtherReplicasThroughPubSub measures how long a
// change made through one replica takes to reach another replica's cache.
func TestKillSwitchPropagatesToOtherReplicasThroughPubSub(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *Store, replica func() *Store) {
		setter := NewKillSwitch(s, nil)
		defer setter.Close()
		follower := liveKillSwitch(t, replica())
		for _, on := range []bool{true, false, true} {
			start := time.Now()
			if err := setter.Set(t.Context(), KillConnector("github"), on, "test", "tester"); err != nil {
				t.Fatal(err)
			}
			set := time.Since(start)
			waitFor(t, 5*time.Second, "change reached the other replica", func() bool {
				_, got, err := follower.Active(t.Context(), "a", "github")
				return err == nil && got == on
			})
			if !follower.Live() {
				t.Errorf("follower answered from Redis, not from its cache")
			}
			t.Logf("on=%v reached the other replica's cache %s after Set began (Set itself took %s)", on, time.Since(start), set)
		}
	})
}
