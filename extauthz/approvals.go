package extauthz

import (
	"context"
	"errors"
	"time"

	"github.com/bridle-gw/bridle/internal/connectors"
)

// ApprovalRequest describes an action waiting for a human.
type ApprovalRequest struct {
	Agent, Connector, Action, SpecHash, Rule string
}

// Approval states the decision service acts on.
const (
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExpired  = "expired"
)

// Grant is the approval a request used: who approved it and when. The
// audit record keeps both.
type Grant struct {
	Approver   string
	ApprovedAt time.Time
}

// ApprovalStore keeps approvals where every replica sees them. Every
// method returns an error when it cannot answer; the caller denies.
type ApprovalStore interface {
	// Consume turns an approved, unused approval for exactly this agent
	// and action into used, once; it reports who approved, and when.
	Consume(ctx context.Context, agent, specHash string) (g Grant, ok bool, err error)
	// Lookup reports a recent denial or expiry of this agent's action.
	Lookup(ctx context.Context, agent, specHash string) (state string, found bool, err error)
	// Create opens an approval, or returns the pending one for this agent
	// and action (a retry of a held request finds the same approval).
	Create(ctx context.Context, r ApprovalRequest) (id string, err error)
	// Wait blocks until the approval is decided or expires, or ctx ends.
	Wait(ctx context.Context, id string) (state string, err error)
}

// TokenChecker verifies one-time decision tokens.
type TokenChecker interface {
	// Use verifies token for exactly this agent and action hash and marks
	// its nonce used. It errors with ErrTokenReplayed for a second use and
	// another error for anything else wrong.
	Use(ctx context.Context, token, agent, specHash string) error
	// Identify verifies a decision token's signature and expiry (not its
	// nonce) and returns its agent: Bridle's own API presents one as the
	// proxy credential when it executes an action for that agent.
	Identify(token string) (agent string, err error)
}

// ErrTokenReplayed marks a decision token whose nonce was already used.
var ErrTokenReplayed = errors.New("decision token already used")

// headerDecisionToken carries a decision token through the proxy. It is an
// x-bridle-* header, so it never reaches an upstream.
const headerDecisionToken = "x-bridle-decision-token"

// approve decides an action the policy says needs a human (DESIGN §2 step
// 4): a valid one-time decision token, or an approval already given, lets it
// through once; a denial or expiry refuses it; otherwise an approval is
// opened and the request is held for up to the hold time, then answered
// 429 approval_pending with the approval id so the agent can retry.
func (s *Server) approve(ctx context.Context, in request, a connectors.Action, rule string, d *Decision) bool {
	hash, err := a.SpecHash()
	if err != nil {
		d.Reason, d.Detail = ReasonPolicyError, err.Error()
		return false
	}
	if tok := in.headers[headerDecisionToken]; tok != "" {
		return s.useToken(ctx, tok, hash, d)
	}
	if s.approvals == nil {
		d.Reason = ReasonStoreUnavailable // miswired: fail closed
		return false
	}
	if g, ok, err := s.approvals.Consume(ctx, d.Agent, hash); err != nil {
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return false
	} else if ok {
		d.Approver, d.ApprovedAt = g.Approver, g.ApprovedAt
		return true
	}
	switch state, found, err := s.approvals.Lookup(ctx, d.Agent, hash); {
	case err != nil:
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return false
	case found && state == ApprovalDenied:
		d.Reason = ReasonApprovalDenied
		return false
	case found && state == ApprovalExpired:
		d.Reason = ReasonApprovalTimeout
		return false
	}
	if !s.holds.tryAcquire() {
		d.Reason = ReasonTooManyHolds
		d.RetryAfter = 5 * time.Second
		return false
	}
	defer s.holds.release()
	id, err := s.approvals.Create(ctx, ApprovalRequest{Agent: d.Agent, Connector: d.Connector, Action: a.Type, SpecHash: hash, Rule: rule})
	if err != nil {
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return false
	}
	d.ApprovalID = id
	hold, cancel := context.WithTimeout(ctx, s.hold)
	defer cancel()
	state, err := s.approvals.Wait(hold, id)
	switch {
	case state == ApprovalApproved:
		g, ok, err := s.approvals.Consume(ctx, d.Agent, hash)
		if err != nil {
			d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
			return false
		}
		if !ok { // another held request of the same action took it
			d.Reason, d.RetryAfter = ReasonApprovalPending, time.Second
			return false
		}
		d.Approver, d.ApprovedAt = g.Approver, g.ApprovedAt
		return true
	case state == ApprovalDenied:
		d.Reason = ReasonApprovalDenied
	case state == ApprovalExpired:
		d.Reason = ReasonApprovalTimeout
	case ctx.Err() != nil:
		// The agent went away (or Envoy gave up): nothing to answer, but
		// the record says so.
		d.Reason, d.Detail = ReasonApprovalPending, "client disconnected during the hold"
	case hold.Err() != nil:
		d.Reason, d.RetryAfter = ReasonApprovalPending, 10*time.Second
	default:
		d.Reason = ReasonStoreUnavailable
		if err != nil {
			d.Detail = err.Error()
		}
	}
	return false
}

func (s *Server) useToken(ctx context.Context, tok, hash string, d *Decision) bool {
	if s.tokens == nil {
		d.Reason = ReasonTokenInvalid
		return false
	}
	switch err := s.tokens.Use(ctx, tok, d.Agent, hash); {
	case err == nil:
		d.Approver = "decision-token"
		return true
	case errors.Is(err, ErrTokenReplayed):
		d.Reason = ReasonTokenReplayed
	case errors.Is(err, ErrStore):
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
	default:
		d.Reason, d.Detail = ReasonTokenInvalid, err.Error()
	}
	return false
}

// ErrStore marks a token check that failed because the nonce store did
// not answer (503, not 403).
var ErrStore = errors.New("state store unavailable")

// holdLimit bounds concurrent held Checks per replica: each holds a
// goroutine, an Envoy stream and a client connection.
type holdLimit chan struct{}

func (h holdLimit) tryAcquire() bool {
	select {
	case h <- struct{}{}:
		return true
	default:
		return false
	}
}

func (h holdLimit) release() { <-h }

// timedApprovals times the store calls of an approval (not the hold).
type timedApprovals struct {
	ApprovalStore
	m Metrics
}

func (t timedApprovals) Consume(ctx context.Context, agent, specHash string) (Grant, bool, error) {
	defer t.time(time.Now())
	return t.ApprovalStore.Consume(ctx, agent, specHash)
}

func (t timedApprovals) Lookup(ctx context.Context, agent, specHash string) (string, bool, error) {
	defer t.time(time.Now())
	return t.ApprovalStore.Lookup(ctx, agent, specHash)
}

func (t timedApprovals) Create(ctx context.Context, r ApprovalRequest) (string, error) {
	defer t.time(time.Now())
	return t.ApprovalStore.Create(ctx, r)
}

func (t timedApprovals) time(start time.Time) { t.m.StoreCall(StoreApproval, time.Since(start)) }

// timedTokens times a decision token's use (its nonce's round trip).
type timedTokens struct {
	TokenChecker
	m Metrics
}

func (t timedTokens) Use(ctx context.Context, token, agent, specHash string) error {
	start := time.Now()
	defer func() { t.m.StoreCall(StoreNonce, time.Since(start)) }()
	return t.TokenChecker.Use(ctx, token, agent, specHash)
}
