package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Scopes of a rate-limit Verdict.
const (
	ScopeAgent     = "agent"     // the agent's limit over all connectors
	ScopeConnector = "connector" // the agent's limit on one connector
)

// Limit admits at most Requests requests in any window of length Per.
type Limit struct {
	Requests int
	Per      time.Duration
}

func (l Limit) String() string { return fmt.Sprintf("%d per %s", l.Requests, l.Per) }

func (l Limit) validate() error {
	if l.Requests < 1 || l.Per < time.Millisecond {
		return fmt.Errorf("invalid limit %s: need at least 1 request per 1ms", l)
	}
	return nil
}

// Verdict is the limiter's answer for one request. Its zero value denies.
type Verdict struct {
	// Allowed is true only when the request was admitted and counted.
	Allowed bool
	// On a deny: the scope (ScopeAgent or ScopeConnector) and the limit that
	// is full, and how long until it frees a slot, in whole seconds (at least
	// one) for the Retry-After header.
	Scope      string
	Limit      Limit
	RetryAfter time.Duration
}

//go:embed limiter.lua
var limiterLua string

var limiterScript = goredis.NewScript(limiterLua)

// Limiter enforces exact sliding-window rate limits shared by every replica
// that uses the same Redis. It is safe for concurrent use.
//
// Each agent's logs live under the hash tag {agent}, so both keys of one
// check sit in the same Redis Cluster slot and one script can touch both.
type Limiter struct {
	store *Store
}

// NewLimiter returns a limiter on s.
func NewLimiter(s *Store) *Limiter { return &Limiter{store: s} }

// Allow checks agentLimit (over all of the agent's requests) and, when not
// nil, connectorLimit (over the agent's requests to connector) and, only if
// both have room, counts the request against both. It costs one EVALSHA of
// one Lua script (EVAL once after Redis lost its script cache), sent in one
// pipeline with the calls of concurrent callers: at most one round trip per
// request, shared.
//
// Semantics: at most Requests admissions in any window of length Per on
// Redis's clock, across every replica. Denied requests consume nothing.
//
// An error means the answer is unknown (Redis unreachable, slow or failing,
// or invalid arguments) and the returned Verdict denies: the caller must deny
// with 503 store_unavailable. A nil agentLimit is an error rather than "no
// limit", so a wiring mistake cannot switch rate limiting off.
func (l *Limiter) Allow(ctx context.Context, agent, connector string, agentLimit, connectorLimit *Limit) (Verdict, error) {
	if agentLimit == nil {
		return Verdict{}, errors.New("rate limit: no agent limit given")
	}
	if err := validName("agent", agent); err != nil {
		return Verdict{}, fmt.Errorf("rate limit: %w", err)
	}
	if err := agentLimit.validate(); err != nil {
		return Verdict{}, fmt.Errorf("rate limit: agent %w", err)
	}
	prefix := "bridle:{" + agent + "}:rate:"
	keys := []string{prefix + ScopeAgent}
	args := []any{strconv.FormatUint(rand.Uint64(), 36), l.store.expirySlack.Milliseconds(), agentLimit.Requests, agentLimit.Per.Milliseconds()}
	if connectorLimit != nil {
		if err := validName("connector", connector); err != nil {
			return Verdict{}, fmt.Errorf("rate limit: %w", err)
		}
		if err := connectorLimit.validate(); err != nil {
			return Verdict{}, fmt.Errorf("rate limit: connector %w", err)
		}
		keys = append(keys, prefix+ScopeConnector+":"+connector)
		args = append(args, connectorLimit.Requests, connectorLimit.Per.Milliseconds())
	}

	ctx, cancel := l.store.opContext(ctx)
	defer cancel()
	res, err := l.store.limits.eval(ctx, keys, args...)
	if err != nil {
		return Verdict{}, fmt.Errorf("rate limit for agent %q: %w", agent, err)
	}
	if len(res) != 3 {
		return Verdict{}, fmt.Errorf("rate limit for agent %q: script returned %d values, want 3", agent, len(res))
	}
	switch {
	case res[0] == 1:
		return Verdict{Allowed: true}, nil
	case res[1] == 1:
		return Verdict{Scope: ScopeAgent, Limit: *agentLimit, RetryAfter: wholeSeconds(res[2])}, nil
	case res[1] == 2 && connectorLimit != nil:
		return Verdict{Scope: ScopeConnector, Limit: *connectorLimit, RetryAfter: wholeSeconds(res[2])}, nil
	}
	return Verdict{}, fmt.Errorf("rate limit for agent %q: unexpected script result %v", agent, res)
}

// wholeSeconds rounds a wait in milliseconds up to whole seconds, at least
// one: Retry-After counts seconds, and "0" would invite an immediate retry
// that is still refused.
func wholeSeconds(ms int64) time.Duration {
	s := max((ms+999)/1000, 1)
	return time.Duration(s) * time.Second
}

// validName refuses names that would break key layout: empty ones, and ones
// with braces, which would move the Redis Cluster hash tag.
func validName(kind, name string) error {
	if name == "" || strings.ContainsAny(name, "{}") {
		return fmt.Errorf("invalid %s name %q", kind, name)
	}
	return nil
}
