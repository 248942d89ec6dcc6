package extauthz

import (
	"context"
	"log/slog"
	"sync"
)

// newTestServer has a limiter that allows everything and no kill switch
// on, so tests of other steps see them pass.
func newTestServer(log *slog.Logger, rec Recorder) *Server {
	return New(Deps{Log: log, Recorder: rec, Limiter: &fakeLimiter{}, KillSwitch: &fakeKill{}})
}

// fakeLimiter answers from verdict/err and counts calls.
type fakeLimiter struct {
	mu      sync.Mutex
	verdict *RateVerdict // nil: allow
	err     error
	calls   int
}

func (f *fakeLimiter) Allow(_ context.Context, agent, connector string, agentLimit, _ *Limit) (RateVerdict, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if agent == "" || agentLimit == nil {
		// The real limiter refuses these too: a wiring mistake must deny.
		return RateVerdict{}, context.Canceled
	}
	if f.err != nil {
		return RateVerdict{}, f.err
	}
	if f.verdict != nil {
		return *f.verdict, nil
	}
	return RateVerdict{Allowed: true}, nil
}

// fakeKill has the given scopes on.
type fakeKill struct {
	on  map[string]bool // "all", "agent:NAME", "connector:NAME"
	err error
}

func (f *fakeKill) Active(_ context.Context, agent, connector string) (string, bool, error) {
	if f.err != nil {
		return "", false, f.err
	}
	for _, scope := range []string{"all", "agent:" + agent, "connector:" + connector} {
		if f.on[scope] {
			return scope, true, nil
		}
	}
	return "", false, nil
}
