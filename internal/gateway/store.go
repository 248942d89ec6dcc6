package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/redis"
)

// state is the Redis-backed shared state: rate limits and kill switches.
type state struct {
	store     *redis.Store
	limiter   *redis.Limiter
	kill      *redis.KillSwitch
	approvals *redis.Approvals
	nonces    *redis.Nonces
}

// killSwitchFile, in the state dir, keeps the embedded Redis's kill
// switches across restarts (a shared Redis keeps its own).
const killSwitchFile = "killswitches.json"

func openState(ctx context.Context, c config.Redis, approvalTimeout time.Duration, g *gateway) (*state, error) {
	o := redis.Options{URL: c.URL, Cluster: c.Cluster, Username: c.Username, Password: c.Password,
		DialTimeout: c.DialTimeout, OpTimeout: c.OpTimeout,
		KeepFile: g.dir.Path(killSwitchFile)}
	if c.SentinelMaster != "" {
		o.Sentinel = &redis.SentinelOptions{MasterName: c.SentinelMaster, Addrs: c.SentinelAddrs,
			Username: c.SentinelUsername, Password: c.SentinelPassword}
	}
	if c.TLS {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
		if c.TLSCA != nil {
			o.TLS.RootCAs = x509.NewCertPool()
			o.TLS.RootCAs.AppendCertsFromPEM(c.TLSCA)
		}
		if c.TLSCert != nil {
			cert, err := tls.X509KeyPair(c.TLSCert, c.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("redis client certificate: %w", err)
			}
			o.TLS.Certificates = []tls.Certificate{cert}
		}
	}
	store, err := redis.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", c, err)
	}
	if store.Embedded() {
		g.opts.Log.Info("using the embedded in-process Redis: limits and kill switches are not shared with other replicas (set redis.url to share them)")
	}
	return &state{store: store, limiter: redis.NewLimiter(store), kill: redis.NewKillSwitch(store, g.opts.Log),
		approvals: redis.NewApprovals(store, g.opts.Log, approvalTimeout), nonces: redis.NewNonces(store)}, nil
}

func (s *state) close() {
	s.approvals.Close()
	s.kill.Close()
	_ = s.store.Close()
}

// limiterAdapter gives the decision service the limiter behind its own
// interface (extauthz imports nothing of redis).
type limiterAdapter struct{ l *redis.Limiter }

var _ extauthz.RateLimiter = limiterAdapter{}

func (a limiterAdapter) Allow(ctx context.Context, agent, connector string, al, cl *extauthz.Limit) (extauthz.RateVerdict, error) {
	var agentLimit, connLimit *redis.Limit
	if al != nil {
		agentLimit = &redis.Limit{Requests: al.Requests, Per: al.Per}
	}
	if cl != nil {
		connLimit = &redis.Limit{Requests: cl.Requests, Per: cl.Per}
	}
	v, err := a.l.Allow(ctx, agent, connector, agentLimit, connLimit)
	return extauthz.RateVerdict{Allowed: v.Allowed, Scope: v.Scope, Limit: extauthz.Limit{Requests: v.Limit.Requests, Per: v.Limit.Per},
		RetryAfter: v.RetryAfter}, err
}

// killAdapter does the same for the kill switch.
type killAdapter struct{ k *redis.KillSwitch }

var _ extauthz.KillSwitch = killAdapter{}

func (a killAdapter) Active(ctx context.Context, agent, connector string) (string, bool, error) {
	sw, on, err := a.k.Active(ctx, agent, connector)
	return sw.Scope, on, err
}

// apiKillSwitch gives the API the kill switch behind its own interface.
type apiKillSwitch struct{ k *redis.KillSwitch }

var _ api.KillSwitches = apiKillSwitch{}

func (a apiKillSwitch) Set(ctx context.Context, scope string, on bool, reason, who string) error {
	err := a.k.Set(ctx, scope, on, reason, who)
	if errors.Is(err, redis.ErrInvalidScope) {
		return fmt.Errorf("%w: %q (want all, agent:NAME or connector:NAME)", api.ErrBadScope, scope)
	}
	if errors.Is(err, redis.ErrNotKept) {
		return fmt.Errorf("%w: %w", api.ErrNotKept, err)
	}
	return err
}

func (a apiKillSwitch) List(ctx context.Context) ([]api.Switch, error) {
	list, err := a.k.List(ctx)
	out := make([]api.Switch, len(list))
	for i, s := range list {
		out[i] = api.Switch{Scope: s.Scope, On: s.On, Reason: s.Reason, Who: s.Who, At: s.At}
	}
	return out, err
}
