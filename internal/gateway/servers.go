package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/audit"
	"github.com/bridle-gw/bridle/internal/metrics"
	"github.com/bridle-gw/bridle/internal/notify"
	"github.com/bridle-gw/bridle/xds"
)

// servers are the bound listeners of the gateway's own servers.
type servers struct {
	xds, authz, api netip.AddrPort
	fail            <-chan error // a server stopped serving
}

// startServers binds the xDS, authz and API listeners, opens the audit log
// and the state store, and starts serving. Everything it starts is stopped
// by g.close, in reverse order.
func (g *gateway) startServers(ctx context.Context) (servers, error) {
	var s servers
	l := g.plan.Config.Listen
	var xdsLis, authzLis net.Listener
	var err error
	var grpcOpts []grpc.ServerOption
	if g.plan.Config.Listen.ControlPlaneTLS() {
		if g.tls, err = newControlPlaneTLS(g.leaves.ca, l, time.Now()); err != nil {
			return s, err
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(g.tls.grpcConfig())))
	}
	if g.opts.runs(RoleXDS) {
		if xdsLis, err = g.listen(l.XDS); err != nil {
			return s, err
		}
	}
	if g.opts.runs(RoleAuthz) {
		if authzLis, err = g.listen(l.Authz); err != nil {
			return s, err
		}
	}
	apiLis, err := g.listen(l.API)
	if err != nil {
		return s, err
	}
	g.metrics = metrics.New()
	deps := api.Deps{Ready: g, Metrics: g.metrics.Handler(), Reloader: g}
	fail := make(chan error, 3)
	done := make(chan struct{}, 3)
	started := 0
	serve := func(name string, f func() error) {
		started++
		go func() {
			defer func() { done <- struct{}{} }()
			if err := f(); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
				fail <- fmt.Errorf("%s server: %w", name, err)
			}
		}()
	}
	var grpcServers []*grpc.Server
	if xdsLis != nil {
		g.xds = xds.NewServer(ctx, g.opts.Log)
		xdsGRPC := newGRPCServer(grpcOpts...)
		g.xds.Register(xdsGRPC)
		grpcServers = append(grpcServers, xdsGRPC)
		serve("xds", func() error { return xdsGRPC.Serve(xdsLis) })
		s.xds = addrPort(xdsLis)
	}
	if authzLis != nil {
		if err := g.startDecisions(ctx, &deps); err != nil {
			return s, err
		}
		authzGRPC := newGRPCServer(append(grpcOpts, grpc.NumStreamWorkers(authzStreamWorkers))...)
		g.authz.Register(authzGRPC)
		audit.NewALS(g.opts.Log, g.audit.writer).Register(authzGRPC)
		grpcServers = append(grpcServers, authzGRPC)
		serve("authz", func() error { return authzGRPC.Serve(authzLis) })
		s.authz = addrPort(authzLis)
	}
	tokens, err := g.plan.apiTokens(g.dir)
	if err != nil {
		return s, err
	}
	g.api = api.New(deps, tokens)
	apiSrv := api.NewServer(g.api)
	if g.tls != nil {
		apiSrv.TLSConfig = g.tls.apiConfig()
		serve("api", func() error { return apiSrv.ServeTLS(apiLis, "", "") })
	} else {
		serve("api", func() error { return apiSrv.Serve(apiLis) })
	}
	s.api = addrPort(apiLis)
	g.onClose(func() {
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = apiSrv.Shutdown(shutdown)
		for _, gs := range grpcServers {
			gracefulStop(gs, 2*time.Second)
		}
		for range started {
			<-done
		}
	})
	s.fail = fail
	return s, nil
}

// startDecisions opens the audit log and the state store and builds the
// decision service (the authz role).
func (g *gateway) startDecisions(ctx context.Context, deps *api.Deps) error {
	var err error
	if g.audit, err = openAudit(ctx, g.plan.Config.Audit, g); err != nil {
		return err
	}
	g.onClose(g.audit.close) // after the servers have stopped (closers run in reverse)
	if g.state, err = openState(ctx, g.plan.Config.Redis, g.plan.Config.Approvals.Timeout, g); err != nil {
		return err
	}
	g.onClose(g.state.close)
	g.metrics.GaugeFunc("bridle_audit_queue_depth", "Decision records waiting to be written.", func() float64 { return float64(g.audit.writer.QueueDepth()) })
	// Lost records, whatever the cause: the queue was full, or the audit DB
	// refused the batch (disk full, locked).
	g.metrics.CounterFunc("bridle_audit_dropped_total", "Decision records lost: dropped because the audit queue was full, or not stored because the audit DB failed.", func() float64 {
		st := g.audit.writer.Stats()
		return float64(st.Dropped + st.Failed)
	})
	g.metrics.CounterFunc("bridle_audit_responses_lost_total", "Envoy access-log entries (response status, bytes, duration) lost before reaching the audit DB.", func() float64 {
		return float64(g.audit.writer.Stats().ResponsesLost)
	})
	keys, err := g.loadKeyring()
	if err != nil {
		return err
	}
	ac := g.plan.Config.Approvals
	notifier, err := notify.New(notifyConfig(ac, g.opts.Log))
	if err != nil {
		return err
	}
	g.onClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = notifier.Close(ctx)
	})
	dec := decider{a: g.state.approvals, notify: notifier}
	if ac.Slack != nil && ac.Slack.SigningSecret != "" {
		if deps.SlackInteractive, err = notifier.SlackHandler(dec); err != nil {
			return err
		}
	}
	approvals := approvalsAdapter{a: g.state.approvals, notify: notifier, log: g.opts.Log}
	if notifier.Enabled() {
		go approvals.sweepExpired(ctx, expirySweep)
	}
	g.authz = extauthz.New(extauthz.Deps{
		Log: g.opts.Log, Recorder: g.audit, Metrics: g.metrics,
		Limiter: limiterAdapter{g.state.limiter}, KillSwitch: killAdapter{g.state.kill},
		Approvals: approvals, Tokens: tokenChecker{keys: keys, nonces: g.state.nonces},
		Hold: ac.Hold, MaxHolds: ac.MaxHolds,
	})
	g.storeGauge("bridle_approvals_pending", "Approvals waiting for a human (NaN: Redis did not answer).", g.state.approvals.CountPending)
	// Read from Redis like the API's list: the gauge says what every
	// replica enforces, not this replica's cache.
	g.storeGauge("bridle_kill_switches_on", "Kill switches currently on, any scope (NaN: Redis did not answer).", func(ctx context.Context) (int64, error) {
		all, err := g.state.kill.List(ctx)
		var n int64
		for _, sw := range all {
			if sw.On {
				n++
			}
		}
		return n, err
	})
	deps.KillSwitch = apiKillSwitch{g.state.kill}
	deps.Approvals = apiApprovals{a: g.state.approvals, d: dec}
	deps.Actions = newActionService(g, keys, approvals)
	deps.Traffic = g.audit.store
	return nil
}

// listen binds addr; the listener is closed on exit if no server took it.
func (g *gateway) listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	g.onClose(func() { l.Close() })
	return l, nil
}

// authzStreamWorkers is how many long-lived goroutines serve Checks. Without
// workers gRPC starts a goroutine per stream (each Check is one), whose stack
// then grows again through OPA's deep recursion on every Check; a worker
// keeps its grown stack. It should cover the Checks in flight at once (Envoy
// keeps tens of streams open per connection); when every worker is busy
// gRPC falls back to a goroutine per stream, so this bounds nothing. The
// access-log streams, which last as long as Envoy's connection, also occupy
// a worker each.
const authzStreamWorkers = 256

func newGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append([]grpc.ServerOption{
		// Envoy pings every 30 s on its static gRPC clusters; allow it, and
		// ping back so half-dead connections are noticed.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 10 * time.Second}),
	}, opts...)...)
}

func gracefulStop(s *grpc.Server, d time.Duration) {
	done := make(chan struct{})
	go func() { s.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		// xDS and ALS streams never end on their own.
		s.Stop()
	}
}

// storeGauge registers a gauge counted in Redis on every scrape; NaN when
// Redis does not answer within a second, rather than a misleading 0.
func (g *gateway) storeGauge(name, help string, count func(context.Context) (int64, error)) {
	g.metrics.GaugeFunc(name, help, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := count(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	})
}

// expirySweep is how often expired approvals are announced (Slack buttons
// removed, approval.expired sent) when no held request saw the expiry.
const expirySweep = 5 * time.Second
