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
	// Check verifies token's signature and expiry and that it was issued
	// for exactly this agent and action hash, without using its nonce, and
	// returns use, which marks the nonce used: it errors with
	// ErrTokenReplayed for a second use, with ErrStore when the nonce store
	// does not answer, and with another error for an unknown nonce.
	Check(token, agent, specHash string) (use func(context.Context) error, err error)
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
//
// When it lets the request through, approve returns spend: the step that
// uses the grant up (consumes the approval, or the token's nonce). The
// caller runs it only after the rate limit admitted the request, so a retry
// refused by the limiter (or by a store error there) keeps its approval
// for the next retry instead of needing a human again. spend can still
// fail (another request of the same action took the approval first): the
// request is then denied, having spent one unit of rate budget.
func (s *Server) approve(ctx context.Context, in request, a connectors.Action, rule string, d *Decision) (spend func() bool, ok bool) {
	hash, err := a.SpecHash()
	if err != nil {
		d.Reason, d.Detail = ReasonPolicyError, err.Error()
		return nil, false
	}
	if tok := in.headers[headerDecisionToken]; tok != "" {
		return s.tokenGrant(ctx, tok, hash, d)
	}
	if s.approvals == nil {
		d.Reason = ReasonStoreUnavailable // miswired: fail closed
		return nil, false
	}
	spend = func() bool { return s.consume(ctx, hash, d) }
	switch state, found, err := s.approvals.Lookup(ctx, d.Agent, hash); {
	case err != nil:
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return nil, false
	case found && state == ApprovalApproved:
		return spend, true
	case found && state == ApprovalDenied:
		d.Reason = ReasonApprovalDenied
		return nil, false
	case found && state == ApprovalExpired:
		d.Reason = ReasonApprovalTimeout
		return nil, false
	}
	if !s.holds.tryAcquire() {
		d.Reason = ReasonTooManyHolds
		d.RetryAfter = 5 * time.Second
		return nil, false
	}
	defer s.holds.release()
	id, err := s.approvals.Create(ctx, ApprovalRequest{Agent: d.Agent, Connector: d.Connector, Action: a.Type, SpecHash: hash, Rule: rule})
	if err != nil {
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return nil, false
	}
	d.ApprovalID = id
	hold, cancel := context.WithTimeout(ctx, s.hold)
	defer cancel()
	state, err := s.approvals.Wait(hold, id)
	switch {
	case state == ApprovalApproved:
		return spend, true
	case state == ApprovalDenied:
		d.Reason = ReasonApprovalDenied
	case state == ApprovalExpired:
		d.Reason = ReasonApprovalTimeout
	case ctx.Err() != nil:
		// The agent went away (or Envoy gave up): nothing to answer, but
		// the record says so.
		d.Reason, d.Detail = ReasonApprovalPending, "client disconnected during the hold"
	case hold.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		d.Reason, d.RetryAfter = ReasonApprovalPending, 10*time.Second
	default:
		d.Reason = ReasonStoreUnavailable
		if err != nil {
			d.Detail = err.Error()
		}
	}
	return nil, false
}

// consume uses up the approved approval of this agent's action, once.
func (s *Server) consume(ctx context.Context, hash string, d *Decision) bool {
	g, ok, err := s.approvals.Consume(ctx, d.Agent, hash)
	switch {
	case err != nil:
		d.Reason, d.Detail = ReasonStoreUnavailable, err.Error()
		return false
	case !ok: // another request of the same action took it
		d.Reason, d.RetryAfter = ReasonApprovalPending, time.Second
		return false
	}
	d.Approver, d.ApprovedAt = g.Approver, g.ApprovedAt
	return true
}

// bindToken spends the decision token a request authenticated by it
// carries, when the policy allows its action outright: the token still
// covers exactly this action, once.
func (s *Server) bindToken(ctx context.Context, in request, a connectors.Action, d *Decision) (spend func() bool, ok bool) {
	hash, err := a.SpecHash()
	if err != nil {
		d.Reason, d.Detail = ReasonPolicyError, err.Error()
		return nil, false
	}
	return s.tokenGrant(ctx, in.headers[headerDecisionToken], hash, d)
}

// tokenGrant verifies a decision token for this agent and action without
// spending its nonce, and returns the step that spends it.
func (s *Server) tokenGrant(ctx context.Context, tok, hash string, d *Decision) (spend func() bool, ok bool) {
	if s.tokens == nil {
		d.Reason = ReasonTokenInvalid
		return nil, false
	}
	use, err := s.tokens.Check(tok, d.Agent, hash)
	if err != nil {
		d.Reason, d.Detail = ReasonTokenInvalid, err.Error()
		return nil, false
	}
	return func() bool { return spendToken(ctx, use, d) }, true
}

// spendToken marks a checked token's nonce used.
func spendToken(ctx context.Context, use func(context.Context) error, d *Decision) bool {
	switch err := use(ctx); {
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

func (t timedTokens) Check(token, agent, specHash string) (func(context.Context) error, error) {
	use, err := t.TokenChecker.Check(token, agent, specHash)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		defer t.time(time.Now())
		return use(ctx)
	}, nil
}

func (t timedTokens) time(start time.Time) { t.m.StoreCall(StoreNonce, time.Since(start)) }
