package extauthz

import (
	"context"
	"time"

	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/policies"
)

// permitted evaluates the policy (deny > require_approval > allow > default
// deny). Only an allow continues; an evaluation error denies with 503. For a
// require_approval action it may return spend, to run once the rate limit
// has admitted the request (approve).
func (s *Server) permitted(ctx context.Context, snap *Snapshot, in request, a connectors.Action, d *Decision) (spend func() bool, ok bool) {
	start := time.Now()
	defer func() { s.metrics.PolicyEval(time.Since(start)) }()
	dec := snap.Policy.Evaluate(ctx, policies.Input{
		Agent: d.Agent, Connector: d.Connector, Action: a.Type,
		Method: a.Method, Host: a.Host, Path: a.Path, Params: a.Params, Time: s.now(),
	})
	if dec.Rule != nil {
		d.Rule = dec.Rule.String()
	}
	switch dec.Effect {
	case policies.Allow:
		return nil, true
	case policies.RequireApproval:
		return s.approve(ctx, in, a, d.Rule, d)
	}
	d.Reason = dec.Reason
	if d.Reason == "" {
		d.Reason = ReasonPolicyError
	}
	if dec.Err != nil {
		d.Detail = dec.Err.Error()
	}
	return nil, false
}
