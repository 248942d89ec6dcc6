package extauthz

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/bridle-gw/bridle/internal/connectors"
)

// Reason codes (DESIGN §3). They are the stable vocabulary of deny bodies,
// logs and metric labels.
const (
	ReasonAllowed          = "allowed"
	ReasonUnauthenticated  = "unauthenticated"
	ReasonNoConnector      = "no_connector"
	ReasonMisdirected      = "misdirected"
	ReasonStoreUnavailable = "store_unavailable"
	ReasonPolicyError      = "policy_error"
	ReasonBodyUnparseable  = "body_unparseable"
	ReasonKillSwitch       = "kill_switch"
	ReasonRateLimited      = "rate_limited"
	ReasonPolicyDeny       = "policy_deny"
	ReasonDefaultDeny      = "default_deny"
	ReasonApprovalPending  = "approval_pending"
	ReasonApprovalDenied   = "approval_denied"
	ReasonApprovalTimeout  = "approval_timeout"
	ReasonTooManyHolds     = "too_many_holds"
	ReasonTokenInvalid     = "token_invalid"
	ReasonTokenReplayed    = "token_replayed"
	ReasonPrivateUpstream  = "private_upstream"
)

// statusFor maps reason codes to the HTTP status the agent sees.
var statusFor = map[string]int{
	ReasonUnauthenticated:  407,
	ReasonNoConnector:      403,
	ReasonMisdirected:      421,
	ReasonStoreUnavailable: 503,
	ReasonPolicyError:      503,
	ReasonBodyUnparseable:  403,
	ReasonKillSwitch:       403,
	ReasonRateLimited:      429,
	ReasonPolicyDeny:       403,
	ReasonDefaultDeny:      403,
	ReasonApprovalPending:  429,
	ReasonApprovalDenied:   403,
	ReasonApprovalTimeout:  408,
	ReasonTooManyHolds:     429,
	ReasonTokenInvalid:     403,
	ReasonTokenReplayed:    403,
	ReasonPrivateUpstream:  403,
}

// messages are the human sentences of deny bodies. They never include
// request data, so nothing an agent sent is reflected back.
var messages = map[string]string{
	ReasonUnauthenticated:  "proxy authentication required: use the agent token Bridle issued (HTTPS_PROXY=http://AGENT:TOKEN@proxy)",
	ReasonNoConnector:      "this host has no connector configured in Bridle; the request was not sent",
	ReasonMisdirected:      "the request's host does not match the host of its tunnel (CONNECT target and TLS SNI)",
	ReasonStoreUnavailable: "Bridle's state store is unavailable; the request was denied",
	ReasonPolicyError:      "Bridle could not evaluate its policy; the request was denied",
	ReasonBodyUnparseable:  "Bridle could not read this request unambiguously (path, query or body) to decide on it; the request was not sent",
	ReasonKillSwitch:       "a kill switch is on for this traffic; an operator must turn it off",
	ReasonRateLimited:      "rate limit exceeded; retry after the number of seconds in Retry-After",
	ReasonPolicyDeny:       "a policy rule denies this action",
	ReasonDefaultDeny:      "no policy rule allows this action (default deny)",
	ReasonApprovalPending:  "this action needs human approval; it is pending: retry after Retry-After with the same request",
	ReasonApprovalDenied:   "a human denied this action",
	ReasonApprovalTimeout:  "the approval for this action expired undecided",
	ReasonTooManyHolds:     "too many requests are waiting for approval; retry later",
	ReasonTokenInvalid:     "the decision token is invalid, expired, or for another action or agent",
	ReasonTokenReplayed:    "the decision token was already used",
	ReasonPrivateUpstream:  "this host resolves only to private or internal addresses, which Bridle refuses to reach; the request was not sent",
}

// Decision is the outcome of one Check. Its zero value denies: Allow must be
// set explicitly, and a deny with no reason is reported as policy_error.
type Decision struct {
	ID     string
	Allow  bool
	Reason string
	Phase  string
	Agent  string
	// cred is the credential the agent was authenticated by (carried into
	// a tunnel from its CONNECT).
	cred      credentialRef
	Connector string
	Action    string // action type, empty until connectors parse requests
	Rule      string // deciding policy/rule, empty when none
	// Message, when set, replaces the reason's standard sentence in the
	// deny body. It must never include request data.
	Message string
	// Detail explains a deny in logs (never in the response: it may echo
	// request data).
	Detail string
	// Credential is the header to inject on allow (request phase only).
	Credential *Header
	// Companions are fixed headers the API needs that the agent did not
	// send.
	Companions []connectors.HeaderValue
	// Strip lists agent headers that must not reach the upstream.
	Strip []string
	// Limit and RetryAfter explain a rate_limited deny (RetryAfter also
	// approval_pending and too_many_holds).
	Limit      *Limit
	RetryAfter time.Duration
	// ApprovalID names the approval a held or pending request waits on.
	ApprovalID string
	// Approver is who let a require_approval action through, and
	// ApprovedAt when (zero for a decision token: its approval, if any, was
	// recorded when the token was issued).
	Approver   string
	ApprovedAt time.Time
	// bridleHeaders are the x-bridle-* headers the request carries, in
	// bridleBuf unless there are more than it holds (Envoy sets two).
	bridleHeaders []string
	bridleBuf     [4]string
}

// Header is one injected header. String redacts the value.
type Header struct {
	Name, Value string
}

func (h Header) String() string { return h.Name + ": [redacted]" }

// reason returns the deny reason, defaulting to policy_error so that a deny
// built without one is still explained and still a deny.
func (d *Decision) reason() string {
	if d.Reason == "" || d.Reason == ReasonAllowed {
		return ReasonPolicyError
	}
	return d.Reason
}

// Status is the HTTP status of a deny.
func (d *Decision) Status() int {
	if s, ok := statusFor[d.reason()]; ok {
		return s
	}
	return 403
}

// denyBody is the JSON every non-2xx Bridle answer carries (DESIGN §3).
type denyBody struct {
	Error      string     `json:"error"`
	Reason     string     `json:"reason"`
	DecisionID string     `json:"decision_id"`
	Action     *string    `json:"action"`
	Rule       *string    `json:"rule"`
	Limit      *limitBody `json:"limit,omitempty"`
	RetryAfter int        `json:"retry_after,omitempty"`
	ApprovalID string     `json:"approval_id,omitempty"`
}

type limitBody struct {
	Requests int    `json:"requests"`
	Per      string `json:"per"`
}

// Body renders the deny body.
func (d *Decision) Body() []byte {
	r := d.reason()
	msg := messages[r]
	if d.Message != "" {
		msg = d.Message
	}
	b := denyBody{Error: msg, Reason: r, DecisionID: d.ID, Action: nullable(d.Action), Rule: nullable(d.Rule)}
	if d.Limit != nil {
		b.Limit = &limitBody{Requests: d.Limit.Requests, Per: d.Limit.Per.String()}
	}
	b.RetryAfter = int(d.RetryAfter / time.Second)
	b.ApprovalID = d.ApprovalID
	if b.Error == "" {
		b.Error = "denied by Bridle"
	}
	out, err := json.Marshal(b)
	if err != nil {
		return []byte(`{"error":"denied by Bridle","reason":"policy_error"}`)
	}
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newDecisionID returns a 32-hex-digit id: 48 bits of milliseconds (so ids
// sort by time in the audit log) and 80 random bits.
func newDecisionID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}
