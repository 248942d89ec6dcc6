// Package redis holds Bridle's shared, fast-changing state in Redis: the
// exact sliding-window rate limiter, the scoped kill switch with its local
// cache, and one-time nonces (DESIGN §1, §6, §7).
//
// Every replica of the decision service talks to the same Redis (single node,
// Sentinel or Cluster), so limits and kill switches hold across replicas.
// With no address configured, Open starts an embedded in-process Redis
// (miniredis) on loopback and connects the same go-redis client and the same
// Lua scripts to it.
//
// Everything here fails closed (DESIGN §4 invariant 9): a method that cannot
// reach Redis within the operation timeout returns an error, never a
// permissive answer, and the caller denies with 503 store_unavailable. The
// package imports nothing else of Bridle's; extauthz declares the small
// interfaces these types satisfy.
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults for Options.
const (
	// DefaultOpTimeout bounds every Redis operation. A decision waits at most
	// this long for Redis before it denies, so a dead or stalled Redis costs
	// tens of milliseconds per request, not the seconds of a client default
	// (envoyproxy/ratelimit issue 462).
	DefaultOpTimeout = 50 * time.Millisecond
	// DefaultEmbeddedOpTimeout is the embedded Redis's: it runs inside
	// Bridle, so it cannot be partitioned away or stall on its own; what
	// delays it is Bridle's own CPU, shared with Envoy and the agents on one
	// machine. At 50 ms a burst of ~1,000 requests/s on two cores turned
	// 2 % of the requests into 503 store_unavailable (e2e
	// TestBurstLosesNoAuditRecord); 500 ms still fails closed if it ever
	// wedges.
	DefaultEmbeddedOpTimeout = 500 * time.Millisecond
	// DefaultDialTimeout bounds one connection attempt. Dials made for a
	// request are bounded by the operation timeout as well.
	DefaultDialTimeout = 500 * time.Millisecond
)

// Options says which Redis to use. At most one of URL, Sentinel and Cluster
// may be set; with none, Open starts an embedded Redis.
type Options struct {
	// URL of a single Redis: redis://[user:password@]host:port[/db],
	// rediss:// for TLS, or unix:///path. Query parameters are refused so
	// that timeouts come only from this struct.
	URL string
	// Sentinel names a Sentinel-managed primary.
	Sentinel *SentinelOptions
	// Cluster lists seed addresses (host:port) of a Redis Cluster.
	Cluster []string
	// Username and Password authenticate to the data nodes in Sentinel and
	// Cluster mode (a URL carries its own).
	Username, Password string
	// TLS, when set, enables TLS to Redis with this configuration (a
	// rediss:// URL enables it with defaults).
	TLS *tls.Config
	// DialTimeout bounds one connection attempt (DefaultDialTimeout when 0).
	DialTimeout time.Duration
	// OpTimeout bounds each operation, connection wait and dial included
	// (when 0: DefaultOpTimeout, DefaultEmbeddedOpTimeout for the embedded
	// Redis).
	OpTimeout time.Duration
	// KeepFile, with the embedded Redis only, is where its kill switches are
	// kept across restarts: loaded at Open (a file that cannot be read fails
	// Open) and rewritten after every change. Empty keeps nothing.
	KeepFile string
}

// String describes the target for logs, with every password redacted.
func (o Options) String() string {
	switch {
	case o.Sentinel != nil:
		return fmt.Sprintf("sentinel master %q via %v", o.Sentinel.MasterName, o.Sentinel.Addrs)
	case len(o.Cluster) > 0:
		return fmt.Sprintf("cluster %v", o.Cluster)
	case o.URL != "":
		if u, err := url.Parse(o.URL); err == nil {
			return u.Redacted()
		}
		return "unparseable url"
	}
	return "embedded"
}

// SentinelOptions locates a primary through Redis Sentinel.
type SentinelOptions struct {
	MasterName string
	Addrs      []string
	// Username and Password authenticate to the sentinels themselves.
	Username, Password string
}

// Store is a connection to Redis shared by the limiter, the kill switch and
// nonces. It is safe for concurrent use.
type Store struct {
	client    goredis.UniversalClient
	opTimeout time.Duration
	// limits sends the limiter's script calls, batched across callers.
	limits   *batcher
	embedded *miniredis.Miniredis // nil unless Open started one
	keep     *keeper              // nil unless the embedded Redis keeps its kill switches
	// embeddedURL, with its password, lets tests open more stores on it.
	embeddedURL string
	// expirySlack lengthens every TTL we set, because the embedded Redis may
	// expire a key up to this much early (see expireEmbedded).
	expirySlack time.Duration
	stopTTL     chan struct{}
	ttlDone     chan struct{}
}

// Open connects to the Redis that o describes, or starts an embedded one when
// o names none. It does not wait for Redis to answer: Redis may come up after
// Bridle, and until it does every operation fails (and requests are denied);
// callers that want to know use Ping.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.OpTimeout < 0 || o.DialTimeout < 0 {
		return nil, errors.New("redis: timeouts must not be negative")
	}
	embedded := o.URL == "" && o.Sentinel == nil && len(o.Cluster) == 0
	switch {
	case o.OpTimeout == 0 && embedded:
		o.OpTimeout = DefaultEmbeddedOpTimeout
	case o.OpTimeout == 0:
		o.OpTimeout = DefaultOpTimeout
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	s := &Store{opTimeout: o.OpTimeout}
	if embedded {
		if o.Username != "" || o.Password != "" || o.TLS != nil {
			return nil, errors.New("redis: credentials and TLS need a url, sentinel or cluster")
		}
		m := miniredis.NewMiniRedis()
		// The embedded Redis holds kill switches, rate windows and nonces,
		// and agents run on the same host (bridle run): it listens on
		// loopback only and demands a random password, so a local process
		// cannot reset its own limits or lift a kill switch.
		password := rand.Text()
		m.RequireAuth(password)
		if o.KeepFile != "" {
			s.keep = &keeper{path: o.KeepFile}
			if err := s.keep.restore(m); err != nil {
				return nil, err
			}
		}
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("redis: starting embedded redis: %w", err)
		}
		s.embedded, s.expirySlack = m, embeddedExpiryStep
		s.stopTTL, s.ttlDone = make(chan struct{}), make(chan struct{})
		go s.expireEmbedded()
		o.URL = "redis://:" + password + "@" + m.Addr()
		s.embeddedURL = o.URL
	}
	client, err := newClient(o)
	if err != nil {
		s.closeEmbedded()
		return nil, err
	}
	s.client = client
	s.limits = newBatcher(client, limiterScript, o.OpTimeout)
	return s, nil
}

// newClient builds the go-redis client. Every knob that could stretch a
// request past OpTimeout is turned off or bounded: no command retries, one
// dial attempt, socket and pool waits equal to the operation timeout, and
// context deadlines honoured.
func newClient(o Options) (goredis.UniversalClient, error) {
	modes := 0
	for _, set := range []bool{o.URL != "", o.Sentinel != nil, len(o.Cluster) > 0} {
		if set {
			modes++
		}
	}
	if modes > 1 {
		return nil, errors.New("redis: set only one of url, sentinel and cluster")
	}
	u := &goredis.UniversalOptions{
		Username:              o.Username,
		Password:              o.Password,
		TLSConfig:             o.TLS,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         1,
		ReadTimeout:           o.OpTimeout,
		WriteTimeout:          o.OpTimeout,
		PoolTimeout:           o.OpTimeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1, // a retry would run the limiter script twice, or late
		// Maintenance notifications are a Redis Enterprise feature; they would
		// add a handshake command per connection and nothing we use.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	switch {
	case o.Sentinel != nil:
		if o.Sentinel.MasterName == "" || len(o.Sentinel.Addrs) == 0 {
			return nil, errors.New("redis: sentinel needs a master name and at least one address")
		}
		u.MasterName = o.Sentinel.MasterName
		u.Addrs = o.Sentinel.Addrs
		u.SentinelUsername, u.SentinelPassword = o.Sentinel.Username, o.Sentinel.Password
		return goredis.NewFailoverClient(u.Failover()), nil
	case len(o.Cluster) > 0:
		u.Addrs = o.Cluster
		return goredis.NewClusterClient(u.Cluster()), nil
	}
	if o.Username != "" || o.Password != "" {
		return nil, errors.New("redis: with a url, put the credentials in the url")
	}
	parsed, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: parsing url: %w", err)
	}
	if parsed.RawQuery != "" {
		return nil, errors.New("redis: url query parameters are not supported; use dial_timeout and op_timeout")
	}
	p, err := goredis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: parsing url: %w", err)
	}
	c := u.Simple()
	c.Network, c.Addr, c.NodeAddress = p.Network, p.Addr, p.Addr
	c.Username, c.Password, c.DB = p.Username, p.Password, p.DB
	if c.TLSConfig == nil {
		c.TLSConfig = p.TLSConfig
	}
	return goredis.NewClient(c), nil
}

// embeddedExpiryStep bounds how far one step of expireEmbedded advances
// the embedded Redis's key expiry, and so how early it can expire a key.
const embeddedExpiryStep = time.Second

// expireEmbedded advances the embedded Redis's key expiry. miniredis only
// expires keys when told time has passed; without this, idle rate windows and
// used nonces would stay in memory forever. (Its TIME command, which the
// limiter uses, follows the real clock regardless.)
//
// miniredis keeps a remaining duration per key, and each step takes the whole
// time since the previous step off every key, even off a key set in between:
// a key can expire up to one step early. An early expiry would drop a rate
// log that is still in its window and admit too much, so steps are capped at
// embeddedExpiryStep and every TTL we set is lengthened by as much
// (Store.expirySlack). A late step only delays expiry, which is harmless.
func (s *Store) expireEmbedded() {
	defer close(s.ttlDone)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stopTTL:
			return
		case now := <-t.C:
			s.embedded.FastForward(min(now.Sub(last), embeddedExpiryStep))
			last = now
		}
	}
}

func (s *Store) closeEmbedded() {
	if s.embedded == nil {
		return
	}
	close(s.stopTTL)
	<-s.ttlDone
	s.embedded.Close()
}

// Close closes the connections and stops the embedded Redis, if any. Types
// built on the store must be closed first.
func (s *Store) Close() error {
	s.limits.close()
	err := s.client.Close()
	s.closeEmbedded()
	if err != nil {
		return fmt.Errorf("redis: closing: %w", err)
	}
	return nil
}

// Ping checks that Redis answers within the operation timeout (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Embedded reports whether the store runs the in-process Redis.
func (s *Store) Embedded() bool { return s.embedded != nil }

// opContext bounds one operation by the operation timeout (or the caller's
// earlier deadline).
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opTimeout)
}
