package policies

import (
	"fmt"
	"time"
)

// Input is one action to decide: the action of DESIGN §3 plus the time of the
// request.
//
// An empty string field counts as missing: conditions on it never match
// (except exists: false). Params holds strings, numbers (any Go integer or
// float type), booleans, nil, []any and nested map[string]any; any other type
// makes the decision a policy_error deny.
type Input struct {
	Agent, Connector, Action, Method, Host, Path string

	Params map[string]any

	// Time is when the request happened; time.hour and time.weekday derive
	// from it in UTC. The zero Time means "now", so that a caller who forgets
	// to set it still has time-based rules applied rather than skipped.
	Time time.Time
}

// Effect is what a rule (and a decision) does with an action.
type Effect int

// The effects, in increasing order of permission. The zero value denies.
const (
	Deny Effect = iota
	RequireApproval
	Allow
)

var effectNames = [...]string{Deny: "deny", RequireApproval: "require_approval", Allow: "allow"}

// String returns the effect as written in policy files: "deny",
// "require_approval" or "allow".
func (e Effect) String() string {
	if e < 0 || int(e) >= len(effectNames) {
		return fmt.Sprintf("Effect(%d)", int(e))
	}
	return effectNames[e]
}

// rank is the effect's position in the precedence of the generated Rego's
// rank table: deny 0, require_approval 1, allow 2 (strongest first). It is
// also the order of the Effect constants.
func (e Effect) rank() int { return int(e) }

// ParseEffect reads an effect as written in policy and case files.
func ParseEffect(s string) (Effect, bool) {
	for e, name := range effectNames {
		if name == s {
			return Effect(e), true
		}
	}
	return Deny, false
}

// Reason codes carried by deny decisions (DESIGN §3). They are stable: logs,
// metrics and the deny body use them.
const (
	ReasonPolicyDeny  = "policy_deny"
	ReasonDefaultDeny = "default_deny"
	ReasonPolicyError = "policy_error"
)

// RuleRef names a rule and where it was written.
type RuleRef struct {
	Policy, Rule string
	File         string
	Line         int
}

// String returns "policy/rule", the form shown to agents and in logs.
func (r RuleRef) String() string { return r.Policy + "/" + r.Rule }

// Location returns "file:line".
func (r RuleRef) Location() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// Decision is the outcome of evaluating one Input. Its zero value denies.
//
// Decisions may be served from a cache and share their Rule and Matched
// storage with other decisions: callers must treat them as read-only.
type Decision struct {
	Effect Effect

	// Reason is ReasonPolicyDeny, ReasonDefaultDeny or ReasonPolicyError for a
	// deny, and empty for allow and require_approval.
	Reason string

	// Rule is the deciding rule: the first rule, in file order, of the winning
	// effect (deny > require_approval > allow). It is nil on a default deny and
	// on a policy_error.
	Rule *RuleRef

	// Matched lists every rule that matched, in file order.
	Matched []RuleRef

	// Err says what went wrong when Reason is ReasonPolicyError. It is for
	// operators' logs, never for agents.
	Err error
}

// errorDecision is the fail-closed answer to anything unexpected.
func errorDecision(err error) Decision {
	return Decision{Effect: Deny, Reason: ReasonPolicyError, Err: err}
}

// defaultDeny is the answer when no rule matched.
var defaultDeny = Decision{Effect: Deny, Reason: ReasonDefaultDeny}
