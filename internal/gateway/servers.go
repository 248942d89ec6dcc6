package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/audit"
	"github.com/bridle-gw/bridle/internal/metrics"
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
	xdsLis, err := g.listen(l.XDS)
	if err != nil {
		return s, err
	}
	authzLis, err := g.listen(l.Authz)
	if err != nil {
		return s, err
	}
	apiLis, err := g.listen(l.API)
	if err != nil {
		return s, err
	}
	if g.audit, err = openAudit(ctx, g.plan.Config.Audit, g); err != nil {
		return s, err
	}
	g.onClose(g.audit.close) // after the servers below have stopped
	if g.state, err = openState(ctx, g.plan.Config.Redis, g); err != nil {
		return s, err
	}
	g.onClose(g.state.close)

	g.metrics = metrics.New()
	g.metrics.GaugeFunc("bridle_audit_queue_depth", "Decision records waiting to be written.", func() float64 { return float64(g.audit.writer.QueueDepth()) })
	g.metrics.CounterFunc("bridle_audit_dropped_total", "Decision records dropped because the audit queue was full.", func() float64 { return float64(g.audit.writer.Dropped()) })
	g.xds = xds.NewServer(ctx, g.opts.Log)
	g.authz = extauthz.New(extauthz.Deps{
		Log: g.opts.Log, Recorder: g.audit, Metrics: g.metrics,
		Limiter: limiterAdapter{g.state.limiter}, KillSwitch: killAdapter{g.state.kill},
	})
	tokens, err := g.plan.apiTokens(g.dir)
	if err != nil {
		return s, err
	}
	g.api = api.New(api.Deps{
		Ready: g, KillSwitch: apiKillSwitch{g.state.kill}, Traffic: g.audit.store,
		Metrics: g.metrics.Handler(), Reloader: g,
	}, tokens)

	xdsGRPC, authzGRPC := newGRPCServer(), newGRPCServer()
	g.xds.Register(xdsGRPC)
	g.authz.Register(authzGRPC)
	audit.NewALS(g.opts.Log, g.audit.writer).Register(authzGRPC)
	apiSrv := api.NewServer(g.api)
	fail := make(chan error, 3)
	done := make(chan struct{}, 3)
	serve := func(name string, f func() error) {
		go func() {
			defer func() { done <- struct{}{} }()
			if err := f(); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
				fail <- fmt.Errorf("%s server: %w", name, err)
			}
		}()
	}
	serve("xds", func() error { return xdsGRPC.Serve(xdsLis) })
	serve("authz", func() error { return authzGRPC.Serve(authzLis) })
	serve("api", func() error { return apiSrv.Serve(apiLis) })
	g.onClose(func() {
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = apiSrv.Shutdown(shutdown)
		gracefulStop(xdsGRPC, 2*time.Second)
		gracefulStop(authzGRPC, 2*time.Second)
		for range 3 {
			<-done
		}
	})
	return servers{xds: addrPort(xdsLis), authz: addrPort(authzLis), api: addrPort(apiLis), fail: fail}, nil
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

func newGRPCServer() *grpc.Server {
	return grpc.NewServer(
		// Envoy pings every 30 s on its static gRPC clusters; allow it, and
		// ping back so half-dead connections are noticed.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 10 * time.Second}),
	)
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
