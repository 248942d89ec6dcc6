package audit

import (
	"strings"
	"time"

	"github.com/bridle-gw/bridle/internal/redact"
)

// Phases of a decision (DESIGN §2).
const (
	PhaseConnect = "connect"
	PhasePlain   = "plain"
	PhaseRequest = "request"
)

// Decisions a record can carry.
const (
	DecisionAllow           = "allow"
	DecisionDeny            = "deny"
	DecisionRequireApproval = "require_approval"
)

// Record is one decision as the audit log keeps it. It deliberately has no
// field for bodies, credentials, tokens or arbitrary headers, so nothing
// built from a Record can leak them (DESIGN §4 invariant 6).
//
// The decision service fills the decision fields; Status, Duration,
// BytesReceived, BytesSent and Responded come from Envoy's access log and are
// filled by Query and Follow.
type Record struct {
	Time       time.Time // when the decision was made; zero means "now" at Write
	DecisionID string    // required: the join key with Envoy's access log
	Phase      string    // PhaseConnect, PhasePlain or PhaseRequest
	Agent      string
	Connector  string
	Action     string // action type, e.g. github.pr.merge
	Decision   string // DecisionAllow, DecisionDeny or DecisionRequireApproval
	Reason     string // reason code (DESIGN §3)
	Rule       string // deciding policy/rule, empty when none

	Method string
	Host   string
	// Path is the request path with its query. It is passed through
	// redact.Path before it is stored, whatever the caller did.
	Path string
	// ContentType and UserAgent are the only request headers kept besides
	// the host; see SetHeaders.
	ContentType string
	UserAgent   string

	Approver   string    // who approved, when an approval let this through
	ApprovedAt time.Time // zero when there was no approval

	// Status is the HTTP status of the answer. The decision service may set
	// it for requests Bridle answered itself (denies); Envoy's access log
	// overrides it when it arrives.
	Status        int
	Duration      time.Duration // from Envoy's access log: request start to last byte sent
	BytesReceived int64         // from Envoy's access log: request body bytes from the agent
	BytesSent     int64         // from Envoy's access log: response body bytes to the agent
	Responded     bool          // whether Envoy's access-log entry has been joined
}

// SetHeaders copies the allowlisted request headers (host, content-type,
// user-agent; ":authority" counts as host) from h into r. Every other header
// is ignored: an allowlist cannot leak a credential header nobody thought of,
// a denylist can. Names match case-insensitively.
func (r *Record) SetHeaders(h map[string]string) {
	for k, v := range h {
		switch strings.ToLower(k) {
		case "host", ":authority":
			r.Host = v
		case "content-type":
			r.ContentType = v
		case "user-agent":
			r.UserAgent = v
		}
	}
}

// Response is Envoy's access-log view of one request, joined to its Record
// on DecisionID.
type Response struct {
	DecisionID    string
	Time          time.Time // request start as Envoy saw it; retention ages responses by it
	Status        int
	Duration      time.Duration
	BytesReceived int64
	BytesSent     int64
}

// Length bounds of stored strings. They keep one hostile request from
// bloating the database; paths are cut after redaction so a cut can never
// expose a value.
const (
	maxIDLen    = 128
	maxNameLen  = 256 // agent, connector, action, reason, rule, method, approver
	maxHostLen  = 255
	maxPathLen  = 4096
	maxValueLen = 512 // content-type, user-agent
)

// sanitized returns the record as it is stored: path redacted, strings
// bounded and valid UTF-8, times in UTC.
func (r Record) sanitized() Record {
	r.Time = r.Time.UTC()
	if !r.ApprovedAt.IsZero() {
		r.ApprovedAt = r.ApprovedAt.UTC()
	}
	r.DecisionID = clip(r.DecisionID, maxIDLen)
	for _, s := range []*string{&r.Phase, &r.Agent, &r.Connector, &r.Action, &r.Decision, &r.Reason, &r.Rule, &r.Method, &r.Approver} {
		*s = clip(*s, maxNameLen)
	}
	r.Host = clip(r.Host, maxHostLen)
	r.Path = clip(redact.Path(r.Path), maxPathLen)
	r.ContentType = clip(r.ContentType, maxValueLen)
	r.UserAgent = clip(r.UserAgent, maxValueLen)
	return r
}

// clip cuts s to at most n bytes and replaces invalid UTF-8, so API answers
// built from stored text are always valid JSON strings.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
