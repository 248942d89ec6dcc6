// Package extauthz is Bridle's decision service: the Envoy ext_authz v3
// Check server. Each Check runs the pipeline of DESIGN §2 (identity →
// connector → host binding → decision → credential) and answers with an
// allow that carries the credential header, or a deny with the JSON body,
// status and reason code of DESIGN §3. Any error on the way is a deny.
package extauthz

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/internal/redact"
	"github.com/bridle-gw/bridle/policies"
)

// Snapshot is the configuration decisions read. It is immutable; a reload
// swaps in a new one atomically, so a Check sees one consistent version.
type Snapshot struct {
	// Policy decides actions; an empty or nil set denies everything.
	Policy *policies.Set
	Agents *Agents
	// AgentLimits holds every agent's rate limit; ConnectorLimits the
	// per-agent limit on a connector, where one is set.
	AgentLimits     map[string]Limit
	ConnectorLimits map[string]*Limit
	// Connectors by name (the name comes from the route's context
	// extensions, which only config can set).
	Connectors map[string]*connectors.Connector
	// Refused holds the connector hosts whose every resolved address was
	// private or internal (DESIGN §3): Envoy has no endpoint for them, and
	// the agent is told why instead of seeing an upstream failure.
	Refused map[string]bool
}

// Server answers Checks. It does not listen: Register it on a grpc.Server.
// Check is safe for concurrent use.
type Server struct {
	authv3.UnimplementedAuthorizationServer
	snap      atomic.Pointer[Snapshot]
	log       *slog.Logger
	rec       Recorder
	limiter   RateLimiter
	kill      KillSwitch
	approvals ApprovalStore
	tokens    TokenChecker
	hold      time.Duration
	holds     holdLimit
	metrics   Metrics
	now       func() time.Time
}

// Metrics receives what the decision service measures. Implementations
// must be safe for concurrent use and cheap: they run on every Check.
type Metrics interface {
	Decision(phase, decision, reason, connector string, elapsed time.Duration)
	PolicyEval(elapsed time.Duration)
	// StoreCall records one call to the state store: op is one of the
	// Store* constants.
	StoreCall(op string, elapsed time.Duration)
}

// State store operations timed on the decision path (the metric's label).
const (
	StoreRateLimit  = "rate_limit"
	StoreKillSwitch = "kill_switch" // mostly answered from the pub/sub-fed cache
	StoreApproval   = "approval"    // consume or look up; not the hold itself
	StoreNonce      = "nonce"       // a decision token's one use
)

type noMetrics struct{}

func (noMetrics) Decision(string, string, string, string, time.Duration) {}
func (noMetrics) PolicyEval(time.Duration)                               {}
func (noMetrics) StoreCall(string, time.Duration)                        {}

// Defaults for approval holds: short enough for agents' HTTP clients
// (Envoy notes §3.6), bounded so held Checks cannot pile up.
const (
	DefaultHold     = 25 * time.Second
	DefaultMaxHolds = 100
)

// Deps are what the decision service needs from the rest of Bridle.
// Recorder may be nil; a nil Limiter or KillSwitch denies every request
// that needs it (503 store_unavailable), so a miswired gateway fails closed.
type Deps struct {
	Log        *slog.Logger
	Recorder   Recorder
	Limiter    RateLimiter
	KillSwitch KillSwitch
	Metrics    Metrics // nil: none
	// Approvals and Tokens serve require_approval; nil denies such actions.
	Approvals ApprovalStore
	Tokens    TokenChecker
	// Hold is how long a Check waits for a human (default 25 s); MaxHolds
	// bounds concurrent holds (default 100).
	Hold     time.Duration
	MaxHolds int
}

// Recorder keeps the authoritative record of every decision (the audit
// log). Record is called on the decision path, so it must not block; it
// must be safe for concurrent use.
type Recorder interface {
	Record(Record)
}

// Record is one decision as the audit log sees it: metadata only. Headers
// is the request's full header map; the recorder keeps an allowlist of it
// and nothing else (never credentials, cookies or tokens).
type Record struct {
	Time                                                      time.Time
	DecisionID, Phase, Agent, Connector, Action, Rule, Reason string
	Allow                                                     bool
	Status                                                    int // the deny status; 0 on allow
	Method, Host, Path                                        string
	Headers                                                   map[string]string
	// Approver and ApprovedAt: the approval an allowed require_approval
	// action used (Decision.Approver).
	Approver   string
	ApprovedAt time.Time
}

// New returns a server that denies everything (503) until Swap gives it a
// snapshot: a cold start never allows (DESIGN invariant 9).
func New(deps Deps) *Server {
	s := &Server{log: deps.Log, rec: deps.Recorder, limiter: deps.Limiter, kill: deps.KillSwitch, metrics: deps.Metrics,
		approvals: deps.Approvals, tokens: deps.Tokens, hold: deps.Hold, now: time.Now}
	if s.hold <= 0 {
		s.hold = DefaultHold
	}
	if deps.MaxHolds <= 0 {
		deps.MaxHolds = DefaultMaxHolds
	}
	s.holds = make(holdLimit, deps.MaxHolds)
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if s.approvals != nil {
		s.approvals = timedApprovals{s.approvals, s.metrics}
	}
	if s.tokens != nil {
		s.tokens = timedTokens{s.tokens, s.metrics}
	}
	return s
}

// Register adds the Authorization service to g.
func (s *Server) Register(g *grpc.Server) { authv3.RegisterAuthorizationServer(g, s) }

// Swap installs a new snapshot for subsequent Checks.
func (s *Server) Swap(snap *Snapshot) { s.snap.Store(snap) }

// Check decides one request. It always answers (never a gRPC error) so that
// every denial carries a decision id; a panic anywhere below is turned into
// a deny as well.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (resp *authv3.CheckResponse, err error) {
	now := s.now()
	d := &Decision{ID: newDecisionID(now)}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("decision panicked; denying", "decision_id", d.ID, "panic", p)
			d = &Decision{ID: d.ID, Phase: d.Phase, Reason: ReasonPolicyError}
			resp, err = respond(d), nil
		}
	}()
	in := newRequest(req)
	s.decide(ctx, in, d)
	s.logDecision(in, d)
	s.record(now, in, d)
	outcome, reason := "deny", d.reason()
	if d.Allow {
		outcome, reason = "allow", ReasonAllowed
	}
	s.metrics.Decision(d.Phase, outcome, reason, d.Connector, time.Since(now))
	return respond(d), nil
}

func (s *Server) record(now time.Time, in request, d *Decision) {
	if s.rec == nil {
		return
	}
	r := Record{
		Time: now, DecisionID: d.ID, Phase: d.Phase, Agent: d.Agent, Connector: d.Connector,
		Action: d.Action, Rule: d.Rule, Allow: d.Allow, Reason: ReasonAllowed,
		Method: in.method, Host: in.host, Path: in.path, Headers: in.headers,
		Approver: d.Approver, ApprovedAt: d.ApprovedAt,
	}
	if !d.Allow {
		r.Reason, r.Status = d.reason(), d.Status()
	}
	s.rec.Record(r)
}

// decide fills d. Every return path that does not set d.Allow denies.
func (s *Server) decide(ctx context.Context, in request, d *Decision) {
	d.Phase = in.ctx[phaseKey]
	snap := s.snap.Load()
	if snap == nil {
		d.Reason = ReasonPolicyError
		return
	}
	if err := ctx.Err(); err != nil {
		// Envoy gave up (timeout or client gone): answer deny anyway.
		d.Reason = ReasonPolicyError
		return
	}
	switch d.Phase {
	case phaseConnect:
		s.connect(ctx, snap, in, d)
	case phasePlain:
		s.plain(ctx, snap, in, d)
	case phaseRequest:
		s.request(ctx, snap, in, d)
	default:
		// A route without a phase is a config bug: deny.
		d.Reason = ReasonPolicyError
	}
}

// connect authenticates a CONNECT and checks its target has a connector.
// Authentication comes first so an unauthenticated client learns nothing
// about which hosts are configured.
func (s *Server) connect(ctx context.Context, snap *Snapshot, in request, d *Decision) {
	if !s.authenticate(snap, in, d) {
		return
	}
	c := s.connector(snap, in, d)
	if c == nil {
		return
	}
	if !strings.EqualFold(in.host, in.ctx[hostKey]+":443") {
		d.Reason = ReasonNoConnector
		return
	}
	if s.killed(ctx, d) {
		return
	}
	d.Allow = true
}

// plain decides an absolute-form http:// request: authentication and the
// request decision in one phase.
func (s *Server) plain(ctx context.Context, snap *Snapshot, in request, d *Decision) {
	if !s.authenticate(snap, in, d) {
		return
	}
	c := s.connector(snap, in, d)
	if c == nil {
		return
	}
	if h := stripPort(in.host, "80"); !strings.EqualFold(h, in.ctx[hostKey]) {
		d.Reason = ReasonMisdirected
		return
	}
	s.forward(ctx, snap, c, in, d)
}

// request decides one decrypted request inside a tunnel. Identity comes
// from the header Envoy set from the tunnel's filter state (agent copies
// are removed before it is set).
func (s *Server) request(ctx context.Context, snap *Snapshot, in request, d *Decision) {
	agent, cred, ok := parseCarried(in.headers[headerAgentID])
	if !ok || !snap.Agents.Exists(agent) {
		d.Reason = ReasonUnauthenticated
		return
	}
	if cred.kind() == credAgentToken && !snap.Agents.Holds(agent, cred.fp()) {
		d.Agent, d.Reason, d.Detail = agent, ReasonUnauthenticated, "the token that opened this tunnel was revoked"
		return
	}
	d.Agent, d.cred = agent, cred
	c := s.connector(snap, in, d)
	if c == nil {
		return
	}
	// Credential binding (DESIGN invariant 4): the :authority, the TLS SNI
	// and the CONNECT target must all name this chain's host.
	want := in.ctx[hostKey]
	if !strings.EqualFold(stripPort(in.host, "443"), want) ||
		!strings.EqualFold(in.sni, want) ||
		!strings.EqualFold(in.headers[headerConnectAuthority], want+":443") {
		d.Reason = ReasonMisdirected
		return
	}
	s.forward(ctx, snap, c, in, d)
}

// forward decides a request bound for a connector's upstream (DESIGN §2
// step 4): the connector turns it into an action (a request it cannot read
// unambiguously is denied), the kill switch, the policy and the rate limit
// apply, then the credential for this agent is attached. Each step that refuses ends
// the decision as a deny.
func (s *Server) forward(ctx context.Context, snap *Snapshot, c *connectors.Connector, in request, d *Decision) {
	action, err := c.Parse(in.connectorRequest(d.Agent, c))
	if err != nil {
		d.Reason = ReasonBodyUnparseable
		d.Detail = err.Error()
		return
	}
	d.Action = action.Type
	if s.killed(ctx, d) {
		return
	}
	bound := d.cred.kind() == credDecisionToken
	if bound && fingerprint(in.headers[headerDecisionToken]) != d.cred.fp() {
		d.Reason, d.Detail = ReasonTokenInvalid, "a connection authenticated by a decision token carries that token's action only, with the token"
		return
	}
	spend, ok := s.permitted(ctx, snap, in, action, d)
	if !ok {
		return
	}
	if bound && spend == nil { // allowed by policy: the token is still spent, once
		if spend, ok = s.bindToken(ctx, in, action, d); !ok {
			return
		}
	}
	if s.limited(ctx, snap, d) {
		return // an approval or token is kept for the retry
	}
	if spend != nil && !spend() {
		return
	}
	if cred, ok := c.CredentialFor(d.Agent); ok {
		d.Credential = &Header{Name: cred.Header(), Value: cred.Value()}
	}
	// Companion headers are added only when the agent did not send them.
	// Decided here rather than with Envoy's ADD_IF_ABSENT, which its
	// ext_authz filter (1.40) applied as an overwrite in our tests.
	for _, h := range c.CompanionHeaders() {
		if _, sent := in.headers[h.Name]; !sent {
			d.Companions = append(d.Companions, h)
		}
	}
	d.Strip = c.StripHeaders()
	d.bridleHeaders = d.bridleBuf[:0]
	for h := range in.headers {
		if strings.HasPrefix(h, "x-bridle-") {
			d.bridleHeaders = append(d.bridleHeaders, h)
		}
	}
	d.Allow = true
}

func (s *Server) authenticate(snap *Snapshot, in request, d *Decision) bool {
	creds, err := ParseProxyAuthorization(in.headers["proxy-authorization"])
	if err != nil {
		d.Reason = ReasonUnauthenticated
		return false
	}
	agent, cred, ok := snap.Agents.authenticate(creds)
	if !ok && s.tokens != nil && strings.Count(creds.Token, ".") == 2 {
		// A decision token identifies its agent for one action: the
		// request must carry the same token, which it spends (bound), and
		// the policy still applies.
		if a, err := s.tokens.Identify(creds.Token); err == nil && snap.Agents.Exists(a) && (creds.User == "" || creds.User == a) {
			agent, cred, ok = a, newCredentialRef(credDecisionToken, creds.Token), true
		}
	}
	if !ok {
		d.Reason = ReasonUnauthenticated
		return false
	}
	d.Agent, d.cred = agent, cred
	return true
}

func (s *Server) connector(snap *Snapshot, in request, d *Decision) *connectors.Connector {
	c, ok := snap.Connectors[in.ctx[connectorKey]]
	if !ok {
		d.Reason = ReasonNoConnector
		return nil
	}
	host := strings.ToLower(in.ctx[hostKey])
	if !slices.Contains(c.Hosts(), host) {
		d.Reason = ReasonNoConnector
		return nil
	}
	d.Connector = c.Name()
	if snap.Refused[host] {
		d.Reason = ReasonPrivateUpstream
		return nil
	}
	return c
}

// stripPort removes ":port" when it is the given default port.
func stripPort(hostport, port string) string {
	if h, ok := strings.CutSuffix(hostport, ":"+port); ok {
		return h
	}
	return hostport
}

func (s *Server) logDecision(in request, d *Decision) {
	level, outcome := slog.LevelWarn, "deny"
	reason := d.reason()
	if d.Allow {
		level, outcome, reason = slog.LevelInfo, "allow", ReasonAllowed
	} else if d.Status() >= 500 {
		level = slog.LevelError
	}
	// Query values may be secrets: the line keeps none of them (the audit
	// record keeps the harmless ones); sensitive matrix parameters
	// (";jsessionid=") are redacted as in the audit record.
	path, _, _ := strings.Cut(in.path, "?")
	path = redact.Path(path)
	s.log.LogAttrs(context.Background(), level, "decision",
		slog.String(LogDecisionID, d.ID),
		slog.String(LogPhase, d.Phase),
		slog.String(LogDecision, outcome),
		slog.String(LogReason, reason),
		slog.String(LogAgent, d.Agent),
		slog.String(LogConnector, d.Connector),
		slog.String(LogAction, d.Action),
		slog.String(LogRule, d.Rule),
		slog.String(LogMethod, in.method),
		slog.String(LogHost, in.host),
		slog.String(LogPath, path),
		slog.String(LogDetail, d.Detail),
	)
}

// Canonical log field names (one line per decision).
const (
	LogDecisionID = "decision_id"
	LogPhase      = "phase"
	LogDecision   = "decision"
	LogReason     = "reason"
	LogAgent      = "agent"
	LogConnector  = "connector"
	LogAction     = "action"
	LogRule       = "rule"
	LogDetail     = "detail"
	LogMethod     = "method"
	LogHost       = "host"
	LogPath       = "path"
)
