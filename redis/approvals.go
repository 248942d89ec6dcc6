package redis

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Approval states. Pending and approved approvals expire (read as expired)
// once ExpiresAt passes; denied, expired and used are final.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalExpired  = "expired"
	ApprovalUsed     = "used"
)

// DefaultApprovalTimeout is how long an approval waits for a human (the
// reference product's five minutes), and how long an approved one stays
// usable.
const DefaultApprovalTimeout = 5 * time.Minute

const (
	// approvalRetention is how long a record is kept after its outcome, for
	// List and the CLI; the audit log is the permanent record.
	approvalRetention = time.Hour
	approvalChannel   = "bridle:approvals" // pub/sub: an approval was decided
	approvalIDPrefix  = "apr_"
	approvalListMax   = 1000
	maxApprovalField  = 256  // connector, action, rule, decider
	maxApprovalNote   = 1024 // bounds what an operator can make us store
	// The index of every approval. One hash tag keeps the three in one
	// Cluster slot, so one script maintains them.
	approvalAgentsKey  = "bridle:{approvals}:agents"
	approvalRecordsKey = "bridle:{approvals}:records"
	approvalPendingKey = "bridle:{approvals}:pending"
)

// Errors of Get, Decide and Wait; test with errors.Is.
var (
	ErrApprovalNotFound = errors.New("approval not found")
	// ErrApprovalDecided: Decide on an approval that is no longer pending;
	// the message names its current state.
	ErrApprovalDecided = errors.New("approval no longer pending")
)

// Approval is a held action waiting for, or past, a human's decision.
type Approval struct {
	ID        string    `json:"id"`
	Agent     string    `json:"agent"`
	Connector string    `json:"connector"`
	Action    string    `json:"action"`
	SpecHash  string    `json:"action_spec_hash"`
	State     string    `json:"state"`
	Rule      string    `json:"rule,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// ExpiresAt is when a pending approval expires undecided or, once
	// approved, when the approval lapses unused.
	ExpiresAt time.Time `json:"expires_at"`
	UsedAt    time.Time `json:"used_at,omitzero"`
	Decider   string    `json:"decider,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// Approvals keeps approvals in Redis, so any replica can list, decide and
// consume them, and wakes waiters on every replica through pub/sub.
//
// Concurrency contract: all methods are safe for concurrent use. Every
// state change is one Lua script on the agent's keys, so it is atomic across
// replicas. Every method returns an error when Redis fails or does not answer
// within the store's operation timeout — never a permissive answer.
type Approvals struct {
	store   *Store
	log     *slog.Logger
	timeout time.Duration

	live atomic.Bool   // the subscription is up: waiters may poll slowly
	sub  *subscription // to decisions announced by any replica

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{} // approval id → wake channels
}

// NewApprovals returns approvals on s that expire after timeout undecided
// (DefaultApprovalTimeout when not positive), and starts following decisions
// announced by any replica. Close stops it. A nil log discards.
func NewApprovals(s *Store, log *slog.Logger, timeout time.Duration) *Approvals {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = DefaultApprovalTimeout
	}
	a := &Approvals{store: s, log: log, timeout: timeout, waiters: map[string]map[chan struct{}]struct{}{}}
	a.sub = (&subscription{
		client: s.client, channel: approvalChannel, log: log, name: "approvals", downNote: "waiters poll redis",
		// (Re)subscribed: announcements made while we were away are lost,
		// so every waiter re-reads once.
		up:      func(context.Context) error { a.live.Store(true); a.wake(""); return nil },
		message: func(_ context.Context, id string) error { a.wake(id); return nil },
		// Down: waiters re-read, and poll at the fast rate from now on.
		down: func() { a.live.Store(false); a.wake("") },
	}).start()
	return a
}

// Create records a pending approval for a.Agent and a.SpecHash (a.Connector,
// a.Action and a.Rule describe it; ID, State and times are set here), or,
// when the latest approval for that agent and action is still pending or
// approved and unexpired, returns that one: a retry of a held request finds
// its approval instead of asking a human twice. created reports which; only
// a created approval should be announced (Slack, webhooks).
func (a *Approvals) Create(ctx context.Context, ap Approval) (_ Approval, created bool, err error) {
	if err := validApprovalKey(ap.Agent, ap.SpecHash); err != nil {
		return Approval{}, false, fmt.Errorf("approval: %w", err)
	}
	if ap.ID != "" || ap.State != "" {
		return Approval{}, false, errors.New("approval: id and state are set by Create")
	}
	for _, f := range []string{ap.Connector, ap.Action, ap.Rule} {
		if len(f) > maxApprovalField {
			return Approval{}, false, fmt.Errorf("approval: field longer than %d bytes", maxApprovalField)
		}
	}
	id := approvalIDPrefix + rand.Text() // 130 random bits, base32: URL-safe
	prefix := approvalPrefix(ap.Agent)
	slack := a.store.expirySlack
	opCtx, cancel := a.store.opContext(ctx)
	defer cancel()
	res, err := createScript.Run(opCtx, a.store.client,
		[]string{prefix + "latest:" + ap.SpecHash, prefix + id},
		prefix, id, a.timeout.Milliseconds(), (a.timeout + slack).Milliseconds(), (approvalRetention + slack).Milliseconds(),
		"agent", ap.Agent, "connector", ap.Connector, "action", ap.Action, "spec_hash", ap.SpecHash, "rule", ap.Rule,
	).Slice()
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: creating for agent %q: %w", ap.Agent, err)
	}
	flag, got, _, err := parseScriptRecord(res)
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: creating for agent %q: %w", ap.Agent, err)
	}
	if err := a.index(ctx, got); err != nil {
		return Approval{}, false, err
	}
	return got, flag == 1, nil
}

// index records the approval's id → agent and, while it is pending, counts
// it. Create calls it for the approval it returns, new or not, so a retry
// heals an index write that failed. Until one succeeds the approval cannot
// be found by id, so a failure fails the request rather than hold it on an
// approval nobody can decide.
func (a *Approvals) index(ctx context.Context, ap Approval) error {
	pendingUntil := int64(0)
	if ap.State == ApprovalPending {
		pendingUntil = ap.ExpiresAt.UnixMilli()
	}
	// No record outlives this: pending for the timeout, approved for as
	// long again, then kept for the retention.
	recordEnd := ap.CreatedAt.Add(2*a.timeout + approvalRetention + 2*a.store.expirySlack).UnixMilli()
	ctx, cancel := a.store.opContext(ctx)
	defer cancel()
	if err := indexScript.Run(ctx, a.store.client, []string{approvalAgentsKey, approvalRecordsKey, approvalPendingKey},
		ap.ID, ap.Agent, recordEnd, pendingUntil).Err(); err != nil {
		return fmt.Errorf("approval: indexing %s: %w", ap.ID, err)
	}
	return nil
}

// Get returns the approval with this id, its state as of now.
func (a *Approvals) Get(ctx context.Context, id string) (Approval, error) {
	agent, err := a.agentOf(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	ap, _, err := a.get(ctx, agent, id)
	return ap, err
}

// List returns the approvals kept (pending ones and those decided, expired
// or used within the last hour), newest first, at most 1000; state, when
// not empty, keeps only approvals in that state.
func (a *Approvals) List(ctx context.Context, state string) ([]Approval, error) {
	switch state {
	case "", ApprovalPending, ApprovalApproved, ApprovalDenied, ApprovalExpired, ApprovalUsed:
	default:
		return nil, fmt.Errorf("approval: unknown state %q", state)
	}
	ctx, cancel := a.store.opContext(ctx)
	defer cancel()
	pairs, err := listScript.Run(ctx, a.store.client, []string{approvalAgentsKey, approvalRecordsKey}, approvalListMax).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("approval: listing: %w", err)
	}
	pipe := a.store.client.Pipeline()
	cmds := make([]*goredis.Cmd, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		// EVAL, not EVALSHA: a pipeline cannot fall back on NOSCRIPT, and
		// listing is an operator's occasional call.
		cmds = append(cmds, getScript.Eval(ctx, pipe, []string{approvalPrefix(pairs[i+1]) + pairs[i]}))
	}
	if len(cmds) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("approval: listing: %w", err)
		}
	}
	out := make([]Approval, 0, len(cmds))
	for _, c := range cmds {
		res, err := c.Slice()
		if err != nil {
			return nil, fmt.Errorf("approval: listing: %w", err)
		}
		ap, _, err := parseRecordAt(res, 0)
		if errors.Is(err, ErrApprovalNotFound) {
			continue // its record expired after the index was read
		}
		if err != nil {
			return nil, fmt.Errorf("approval: listing: %w", err)
		}
		if state == "" || ap.State == state {
			out = append(out, ap)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return out, nil
}

// Decide approves or denies a pending, unexpired approval, recording decider
// and note, and wakes its waiters on every replica. Deciding an approval
// that is no longer pending (decided, expired, used) changes nothing and
// returns it with an error wrapping ErrApprovalDecided that names its
// state. An approved approval stays usable for the approval timeout.
func (a *Approvals) Decide(ctx context.Context, id string, approve bool, decider, note string) (Approval, error) {
	if decider == "" || len(decider) > maxApprovalField || len(note) > maxApprovalNote {
		return Approval{}, fmt.Errorf("approval: decider must be 1-%d bytes and note at most %d", maxApprovalField, maxApprovalNote)
	}
	agent, err := a.agentOf(ctx, id)
	if err != nil {
		return Approval{}, err
	}
	state := ApprovalDenied
	if approve {
		state = ApprovalApproved
	}
	slack := a.store.expirySlack
	prefix := approvalPrefix(agent)
	opCtx, cancel := a.store.opContext(ctx)
	defer cancel()
	res, err := decideScript.Run(opCtx, a.store.client, []string{prefix + id},
		prefix+"latest:", state, decider, note, a.timeout.Milliseconds(), (a.timeout + slack).Milliseconds(),
		(approvalRetention + slack).Milliseconds(), approvalChannel, id).Slice()
	if err != nil {
		return Approval{}, fmt.Errorf("approval: deciding %s: %w", id, err)
	}
	flag, ap, _, err := parseScriptRecord(res)
	switch {
	case err != nil && !errors.Is(err, ErrApprovalNotFound):
		return Approval{}, fmt.Errorf("approval: deciding %s: %w", id, err)
	case flag == 0 || errors.Is(err, ErrApprovalNotFound):
		return Approval{}, fmt.Errorf("approval %s: %w", id, ErrApprovalNotFound)
	case flag == 2:
		return ap, fmt.Errorf("approval %s is already %s: %w", id, ap.State, ErrApprovalDecided)
	}
	// The pending set only feeds CountPending; a failure here over-counts
	// until the entry's own expiry, which is the safe direction.
	opCtx, cancel = a.store.opContext(ctx)
	defer cancel()
	if err := a.store.client.ZRem(opCtx, approvalPendingKey, id).Err(); err != nil {
		a.log.Warn("approval decided but still counted as pending", "approval_id", id, "error", err)
	}
	return ap, nil
}

// Consume turns the latest approval for exactly this agent and action hash
// into used and returns it with true, if it is approved and unexpired: an
// approval lets one request through, once, however many replicas race for
// it. Otherwise it returns false and changes nothing.
func (a *Approvals) Consume(ctx context.Context, agent, specHash string) (Approval, bool, error) {
	res, err := a.runOnPointer(ctx, consumeScript, "consuming", agent, specHash, agent, specHash)
	if err != nil {
		return Approval{}, false, err
	}
	flag, ap, _, err := parseScriptRecord(res)
	switch {
	case flag == 0 && errors.Is(err, ErrApprovalNotFound):
		return Approval{}, false, nil
	case err != nil || flag != 1:
		return Approval{}, false, fmt.Errorf("approval: consuming for agent %q: %w", agent, errOr(err))
	}
	return ap, true, nil
}

// Lookup returns the latest approval for this agent and action hash, if one
// is remembered: pending or approved while live, and after its outcome for
// as long as the approval timeout (denied → 403 approval_denied, expired →
// 408 approval_timeout). A used approval is forgotten at once, so the next
// request for the same action starts a new approval.
func (a *Approvals) Lookup(ctx context.Context, agent, specHash string) (Approval, bool, error) {
	res, err := a.runOnPointer(ctx, lookupScript, "looking up", agent, specHash)
	if err != nil {
		return Approval{}, false, err
	}
	ap, _, err := parseRecordAt(res, 0)
	if errors.Is(err, ErrApprovalNotFound) {
		return Approval{}, false, nil
	}
	if err != nil {
		return Approval{}, false, fmt.Errorf("approval: looking up for agent %q: %w", agent, err)
	}
	return ap, true, nil
}

// runOnPointer runs script on the pointer to the latest approval for
// agent's action specHash, with the record key prefix as ARGV[1] and args
// after it.
func (a *Approvals) runOnPointer(ctx context.Context, script *goredis.Script, verb, agent, specHash string, args ...any) ([]any, error) {
	if err := validApprovalKey(agent, specHash); err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	prefix := approvalPrefix(agent)
	ctx, cancel := a.store.opContext(ctx)
	defer cancel()
	res, err := script.Run(ctx, a.store.client, []string{prefix + "latest:" + specHash}, append([]any{prefix}, args...)...).Slice()
	if err != nil {
		return nil, fmt.Errorf("approval: %s for agent %q: %w", verb, agent, err)
	}
	return res, nil
}

// ClaimExpired returns the approvals that expired undecided since the last
// claim (at most 100 a call), each to exactly one caller across replicas:
// whoever announces expiries (webhooks, Slack) calls it periodically.
// Entries stay claimable for an hour after their expiry.
func (a *Approvals) ClaimExpired(ctx context.Context) ([]Approval, error) {
	opCtx, cancel := a.store.opContext(ctx)
	ids, err := claimExpiredScript.Run(opCtx, a.store.client, []string{approvalPendingKey}, 100).StringSlice()
	cancel()
	if err != nil {
		return nil, fmt.Errorf("approval: claiming expired: %w", err)
	}
	out := make([]Approval, 0, len(ids))
	for _, id := range ids {
		ap, err := a.Get(ctx, id)
		if errors.Is(err, ErrApprovalNotFound) {
			continue // its record is gone already
		}
		if err != nil {
			return out, err // the rest are lost to announcement, not to enforcement
		}
		if ap.State == ApprovalExpired {
			out = append(out, ap)
		}
	}
	return out, nil
}

// CountPending returns how many approvals are pending across all agents
// and replicas. It may over-count briefly after a Decide whose index update
// failed, never under-count.
func (a *Approvals) CountPending(ctx context.Context) (int64, error) {
	ctx, cancel := a.store.opContext(ctx)
	defer cancel()
	n, err := countScript.Run(ctx, a.store.client, []string{approvalPendingKey}).Int64()
	if err != nil {
		return 0, fmt.Errorf("approval: counting pending: %w", err)
	}
	return n, nil
}

// agentOf finds the agent an approval id belongs to (its keys' hash tag).
func (a *Approvals) agentOf(ctx context.Context, id string) (string, error) {
	if !validApprovalID(id) {
		return "", fmt.Errorf("approval %q: %w", id, ErrApprovalNotFound)
	}
	ctx, cancel := a.store.opContext(ctx)
	defer cancel()
	agent, err := a.store.client.HGet(ctx, approvalAgentsKey, id).Result()
	if errors.Is(err, goredis.Nil) {
		return "", fmt.Errorf("approval %s: %w", id, ErrApprovalNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("approval: finding %s: %w", id, err)
	}
	return agent, nil
}

// get reads one approval and Redis's clock.
func (a *Approvals) get(ctx context.Context, agent, id string) (Approval, time.Time, error) {
	ctx, cancel := a.store.opContext(ctx)
	defer cancel()
	res, err := getScript.Run(ctx, a.store.client, []string{approvalPrefix(agent) + id}).Slice()
	if err != nil {
		return Approval{}, time.Time{}, fmt.Errorf("approval: reading %s: %w", id, err)
	}
	ap, now, err := parseRecordAt(res, 0)
	if err != nil {
		return Approval{}, now, fmt.Errorf("approval %s: %w", id, err)
	}
	return ap, now, nil
}
