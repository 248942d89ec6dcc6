package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Kill switch scopes. A scope is KillAll, KillAgent(name) or
// KillConnector(name).
const KillAll = "all"

// KillAgent is the scope that stops one agent.
func KillAgent(name string) string { return "agent:" + name }

// KillConnector is the scope that stops every agent's use of one connector.
func KillConnector(name string) string { return "connector:" + name }

// ErrInvalidScope is returned (wrapped) by Set for a scope that is none of
// KillAll, KillAgent(name), KillConnector(name).
var ErrInvalidScope = errors.New("invalid kill switch scope")

// ErrNotKept is returned (wrapped) by Set when the change took effect but the
// embedded Redis could not save it to its keep file (Options.KeepFile).
var ErrNotKept = errors.New("kill switch not kept across restarts")

// Switch is the last change of one scope: who turned it on or off, when, why.
type Switch struct {
	Scope  string    `json:"scope"`
	On     bool      `json:"on"`
	Reason string    `json:"reason,omitempty"`
	Who    string    `json:"who,omitempty"`
	At     time.Time `json:"at"`
}

const (
	killKey     = "bridle:killswitch" // hash: scope → JSON Switch
	killChannel = "bridle:killswitch" // pub/sub: a scope changed
	// pingEvery is how long the subscription may stay silent before it is
	// pinged, and how long a ping may go unanswered before the subscription
	// counts as down. A replica cut off from Redis thus stops trusting its
	// cache within 2×pingEvery, well inside the 1 s propagation promise.
	pingEvery  = 250 * time.Millisecond
	minBackoff = 100 * time.Millisecond
	maxBackoff = time.Second
)

// setScript records a change and announces it in one atomic step, so a
// subscriber that hears the announcement always reads the change.
var setScript = goredis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1`)

// KillSwitch reads and changes kill switches shared by every replica.
//
// Concurrency contract: all methods are safe for concurrent use. Active
// answers from an immutable in-memory snapshot, swapped atomically by one
// background goroutine that holds a pub/sub subscription: it reloads the whole
// set on every (re)subscribe and on every change announced, so the snapshot
// is never older than the last announcement this replica has received. When
// the subscription is down (or not yet up, or a reload failed) the snapshot is
// marked stale and Active reads Redis on every call instead, failing with an
// error when Redis does — never answering from a cache it cannot vouch for.
// A subscription that goes quiet is pinged, and declared down when the ping
// goes unanswered, so a replica silently cut off from Redis stops trusting
// its cache within 2×pingEvery (500ms).
//
// Switches live in Redis: a Redis that loses its data (a restart without
// persistence) loses them, so production Redis should persist (appendonly
// yes). The embedded Redis keeps them in a file instead (Options.KeepFile).
type KillSwitch struct {
	store *Store
	log   *slog.Logger
	state atomic.Pointer[switchState]
	sub   *subscription
}

// switchState is one immutable snapshot of the switches that are on.
type switchState struct {
	live       bool // built under a live subscription; false: read per request
	all        *Switch
	agents     map[string]Switch
	connectors map[string]Switch
}

var staleState = &switchState{}

// NewKillSwitch starts following the kill switches in s. Until the first
// subscription is up, Active reads Redis per call. Close stops it. A nil log
// discards.
func NewKillSwitch(s *Store, log *slog.Logger) *KillSwitch {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &KillSwitch{store: s, log: log}
	k.state.Store(staleState)
	// Subscribed (first time or again): changes from now on are announced,
	// so one full reload makes the cache exact. A message: reload rather
	// than patch, so order never matters.
	reload := func(ctx context.Context) error {
		wasLive := k.Live()
		if err := k.reload(ctx); err != nil {
			return err
		}
		if !wasLive {
			log.Info("kill switch cache live")
		}
		return nil
	}
	k.sub = (&subscription{
		client: s.client, channel: killChannel, log: log,
		name: "kill switch", downNote: "reading redis per request",
		up:      reload,
		message: func(ctx context.Context, _ string) error { return reload(ctx) },
		down:    func() { k.state.Store(staleState) },
	}).start()
	return k
}

// Close stops following changes; Active then reads Redis per call.
func (k *KillSwitch) Close() { k.sub.close() }

// Live reports whether Active answers from the pub/sub-fed cache.
func (k *KillSwitch) Live() bool { return k.state.Load().live }

// Active returns the switch that stops agent's requests to connector, if one
// is on: KillAll first, then the agent's, then the connector's. An empty
// connector checks only KillAll and the agent (the connect phase before a
// connector is known). With a live cache it costs no I/O; otherwise one Redis
// read, and an error when that fails: the caller must then deny with 503.
func (k *KillSwitch) Active(ctx context.Context, agent, connector string) (Switch, bool, error) {
	st := k.state.Load()
	if !st.live {
		return k.read(ctx, agent, connector)
	}
	if st.all != nil {
		return *st.all, true, nil
	}
	if sw, ok := st.agents[agent]; ok {
		return sw, true, nil
	}
	if sw, ok := st.connectors[connector]; ok && connector != "" {
		return sw, true, nil
	}
	return Switch{}, false, nil
}

// read answers Active from Redis directly (one HMGET).
func (k *KillSwitch) read(ctx context.Context, agent, connector string) (Switch, bool, error) {
	fields := []string{KillAll, KillAgent(agent)}
	if connector != "" {
		fields = append(fields, KillConnector(connector))
	}
	ctx, cancel := k.store.opContext(ctx)
	defer cancel()
	vals, err := k.store.client.HMGet(ctx, killKey, fields...).Result()
	if err != nil {
		return Switch{}, false, fmt.Errorf("kill switch: reading: %w", err)
	}
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // not set
		}
		if sw := decodeSwitch(fields[i], s); sw.On {
			return sw, true, nil
		}
	}
	return Switch{}, false, nil
}

// Set turns scope on or off, recording who did it and why, and announces the
// change to every replica. Replicas with a live cache honour it as soon as
// the announcement arrives (about a millisecond on a LAN), this one included.
// An error means the outcome is unknown: a stalled Redis may still apply the
// change when it resumes; List tells.
func (k *KillSwitch) Set(ctx context.Context, scope string, on bool, reason, who string) error {
	if err := validScope(scope); err != nil {
		return err
	}
	v, err := json.Marshal(Switch{Scope: scope, On: on, Reason: reason, Who: who, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("kill switch: encoding: %w", err)
	}
	ctx, cancel := k.store.opContext(ctx)
	defer cancel()
	if err := setScript.Run(ctx, k.store.client, []string{killKey}, scope, string(v), killChannel).Err(); err != nil {
		return fmt.Errorf("kill switch: setting %s: %w", scope, err)
	}
	if keep := k.store.keep; keep != nil {
		if err := keep.save(k.store.embedded); err != nil {
			return fmt.Errorf("%w: %s is set now, but saving %s failed: %w", ErrNotKept, scope, keep.path, err)
		}
	}
	return nil
}

// List returns the last change of every scope ever set, on or off, sorted by
// scope. It always reads Redis.
func (k *KillSwitch) List(ctx context.Context) ([]Switch, error) {
	ctx, cancel := k.store.opContext(ctx)
	defer cancel()
	all, err := k.store.client.HGetAll(ctx, killKey).Result()
	if err != nil {
		return nil, fmt.Errorf("kill switch: listing: %w", err)
	}
	out := make([]Switch, 0, len(all))
	for scope, v := range all {
		out = append(out, decodeSwitch(scope, v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scope < out[j].Scope })
	return out, nil
}

// decodeSwitch decodes a stored switch. An entry that cannot be decoded
// counts as on: Bridle cannot tell whether it stops traffic, so it does.
func decodeSwitch(scope, v string) Switch {
	var sw Switch
	if err := json.Unmarshal([]byte(v), &sw); err != nil {
		return Switch{Scope: scope, On: true, Reason: "unreadable kill switch entry"}
	}
	sw.Scope = scope
	return sw
}

func validScope(scope string) error {
	if scope == KillAll {
		return nil
	}
	kind, name, _ := strings.Cut(scope, ":")
	if (kind == "agent" || kind == "connector") && name != "" {
		return nil
	}
	return fmt.Errorf("%w %q: want all, agent:NAME or connector:NAME", ErrInvalidScope, scope)
}

// reload replaces the snapshot with the full set from Redis.
func (k *KillSwitch) reload(ctx context.Context) error {
	ctx, cancel := k.store.opContext(ctx)
	defer cancel()
	all, err := k.store.client.HGetAll(ctx, killKey).Result()
	if err != nil {
		return fmt.Errorf("kill switch: reloading: %w", err)
	}
	st := &switchState{live: true, agents: map[string]Switch{}, connectors: map[string]Switch{}}
	for scope, v := range all {
		sw := decodeSwitch(scope, v)
		if !sw.On {
			continue
		}
		kind, name, _ := strings.Cut(scope, ":")
		switch {
		case scope == KillAll:
			st.all = &sw
		case kind == "agent":
			st.agents[name] = sw
		case kind == "connector":
			st.connectors[name] = sw
		}
	}
	k.state.Store(st)
	return nil
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
