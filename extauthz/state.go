package extauthz

import (
	"context"
	"time"
)

// Limit allows at most Requests in any window of Per.
type Limit struct {
	Requests int
	Per      time.Duration
}

// RateVerdict is a limiter's answer. Its zero value denies.
type RateVerdict struct {
	Allowed    bool
	Scope      string // which limit refused: "agent" or "connector"
	Limit      Limit
	RetryAfter time.Duration
}

// RateLimiter consumes one request of budget for agent (and for agent on
// connector, when connectorLimit is set) if both limits allow it, in one
// round trip. Implementations must be safe for concurrent use and return
// an error, never a permissive verdict, when they cannot decide.
type RateLimiter interface {
	Allow(ctx context.Context, agent, connector string, agentLimit, connectorLimit *Limit) (RateVerdict, error)
}

// KillSwitch reports whether a kill switch (all, the agent or the
// connector) applies. An empty connector checks all and the agent only.
// It must answer from memory on the hot path and return an error when it
// cannot know.
type KillSwitch interface {
	Active(ctx context.Context, agent, connector string) (scope string, on bool, err error)
}

// killed applies the kill switch; false means the decision is made (deny).
func (s *Server) killed(ctx context.Context, d *Decision) bool {
	if s.kill == nil {
		d.Reason = ReasonStoreUnavailable // a gateway without one is miswired: fail closed
		return true
	}
	start := time.Now()
	scope, on, err := s.kill.Active(ctx, d.Agent, d.Connector)
	s.metrics.StoreCall(StoreKillSwitch, time.Since(start))
	switch {
	case err != nil:
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return true
	case on:
		d.Reason, d.Detail = ReasonKillSwitch, "kill switch "+scope
		return true
	}
	return false
}

// limited consumes rate-limit budget; only requests that would otherwise be
// forwarded get here, so denials and CONNECTs cost nothing.
func (s *Server) limited(ctx context.Context, snap *Snapshot, d *Decision) bool {
	if s.limiter == nil {
		d.Reason = ReasonStoreUnavailable
		return true
	}
	agentLimit, ok := snap.AgentLimits[d.Agent]
	if !ok {
		d.Reason = ReasonPolicyError // every configured agent has a limit
		return true
	}
	start := time.Now()
	v, err := s.limiter.Allow(ctx, d.Agent, d.Connector, &agentLimit, snap.ConnectorLimits[d.Connector])
	s.metrics.StoreCall(StoreRateLimit, time.Since(start))
	switch {
	case err != nil:
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return true
	case !v.Allowed:
		d.Reason = ReasonRateLimited
		d.Limit = &v.Limit
		// Whole seconds, rounded up (never early), at least 1.
		d.RetryAfter = max((v.RetryAfter+time.Second-1)/time.Second, 1) * time.Second
		return true
	}
	return false
}
