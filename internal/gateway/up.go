package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/envoy/proc"
	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/audit"
	"github.com/bridle-gw/bridle/internal/metrics"
	"github.com/bridle-gw/bridle/internal/statedir"
	"github.com/bridle-gw/bridle/xds"
)

// Options configure `bridle up`.
type Options struct {
	ConfigPath  string
	EnvoyBinary string // empty: do not run Envoy
	Env         func(string) (string, bool)
	Out         io.Writer // where the ready banner goes
	Log         *slog.Logger
	// ReadyTimeout bounds how long Envoy may take to become ready.
	ReadyTimeout time.Duration
}

// bootstrapFile is the Envoy bootstrap written to the state dir.
const bootstrapFile = "envoy-bootstrap.json"

// refreshEvery is how often upstream addresses are re-resolved and leaf
// certificates checked for rotation.
const refreshEvery = 30 * time.Second

// gateway is one running `bridle up`.
type gateway struct {
	opts    Options
	plan    *Plan
	dir     statedir.Dir
	system  []byte
	proxy   netip.AddrPort
	xds     *xds.Server
	authz   *extauthz.Server
	leaves  *leafSet
	eps     map[string][]netip.AddrPort
	sup     *proc.Supervisor
	state   *state
	metrics *metrics.Metrics
	ready   atomic.Pointer[error]
}

// Up runs the gateway until ctx ends: control plane, decision service,
// access-log sink, API and, when opts.EnvoyBinary is set, a supervised
// Envoy. Without it (`bridle serve`) Envoys are run by someone else from
// the bootstrap written to the state dir.
func Up(ctx context.Context, opts Options) error {
	start := time.Now()
	plan, err := Load(opts.ConfigPath, opts.Env)
	if err != nil {
		return err
	}
	g := &gateway{opts: opts, plan: plan, dir: statedir.Dir(plan.Config.StateDir), eps: map[string][]netip.AddrPort{}}
	g.setNotReady(errors.New("starting"))
	if err := g.dir.Ensure(); err != nil {
		return err
	}
	ca, err := loadOrCreateCA(g.dir, time.Now())
	if err != nil {
		return err
	}
	g.leaves = newLeafSet(ca)
	if g.system, err = xds.SystemRoots(); err != nil {
		return fmt.Errorf("%w (install your distribution's ca-certificates package)", err)
	}
	if err := statedir.WriteFile(g.dir.CABundle(), xds.Bundle(g.system, ca.CertPEM), 0o644); err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	fail := make(chan error, 4)

	l := plan.Config.Listen
	xdsLis, err := listen(l.XDS)
	if err != nil {
		return err
	}
	authzLis, err := listen(l.Authz)
	if err != nil {
		xdsLis.Close()
		return err
	}
	apiLis, err := listen(l.API)
	if err != nil {
		xdsLis.Close()
		authzLis.Close()
		return err
	}
	auditLog, err := openAudit(ctx, plan.Config.Audit, g)
	if err != nil {
		xdsLis.Close()
		authzLis.Close()
		apiLis.Close()
		return err
	}
	defer auditLog.close() // after the servers below have stopped
	g.state, err = openState(ctx, plan.Config.Redis, g)
	if err != nil {
		xdsLis.Close()
		authzLis.Close()
		apiLis.Close()
		return err
	}
	defer g.state.close()
	g.metrics = metrics.New()
	g.metrics.GaugeFunc("bridle_audit_queue_depth", "Decision records waiting to be written.", func() float64 { return float64(auditLog.writer.QueueDepth()) })
	g.metrics.CounterFunc("bridle_audit_dropped_total", "Decision records dropped because the audit queue was full.", func() float64 { return float64(auditLog.writer.Dropped()) })
	g.xds = xds.NewServer(ctx, opts.Log)
	g.authz = extauthz.New(extauthz.Deps{
		Log: opts.Log, Recorder: auditLog, Metrics: g.metrics,
		Limiter: limiterAdapter{g.state.limiter}, KillSwitch: killAdapter{g.state.kill},
	})
	xdsGRPC, authzGRPC := newGRPCServer(), newGRPCServer()
	g.xds.Register(xdsGRPC)
	g.authz.Register(authzGRPC)
	audit.NewALS(opts.Log, auditLog.writer).Register(authzGRPC)
	tokens, err := plan.apiTokens(g.dir)
	if err != nil {
		return err
	}
	apiSrv := api.NewServer(api.New(api.Deps{
		Ready: g, KillSwitch: apiKillSwitch{g.state.kill}, Traffic: auditLog.store, Metrics: g.metrics.Handler(),
	}, tokens))
	serve(&wg, fail, "xds", func() error { return xdsGRPC.Serve(xdsLis) })
	serve(&wg, fail, "authz", func() error { return authzGRPC.Serve(authzLis) })
	serve(&wg, fail, "api", func() error { return apiSrv.Serve(apiLis) })
	defer func() {
		shutdown, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		_ = apiSrv.Shutdown(shutdown)
		gracefulStop(xdsGRPC, 2*time.Second)
		gracefulStop(authzGRPC, 2*time.Second)
	}()

	if g.proxy, err = pickPort(l.Proxy); err != nil {
		return err
	}
	admin, err := pickPort(l.EnvoyAdmin)
	if err != nil {
		return err
	}
	if err := g.refresh(ctx, true); err != nil {
		return err
	}
	bootstrap, err := envoy.Bootstrap(envoy.BootstrapSpec{
		NodeID: "bridle-up", Cluster: "bridle",
		Admin: admin, XDS: addrPort(xdsLis), Authz: addrPort(authzLis),
	})
	if err != nil {
		return err
	}
	bootstrapPath := g.dir.Path(bootstrapFile)
	if err := statedir.WriteFile(bootstrapPath, bootstrap, 0o600); err != nil {
		return err
	}

	adminAddr := admin.String()
	if opts.EnvoyBinary != "" {
		stop, addr, err := g.startEnvoy(ctx, bootstrapPath)
		// Stop Envoy before the servers it talks to (deferred calls run
		// last in, first out).
		defer stop()
		if err != nil {
			return err
		}
		adminAddr = addr
	}
	eps := statedir.Endpoints{
		Proxy: g.proxy.String(), API: apiLis.Addr().String(), XDS: xdsLis.Addr().String(),
		Authz: authzLis.Addr().String(), EnvoyAdmin: adminAddr, PID: os.Getpid(),
	}
	if err := g.dir.WriteEndpoints(eps); err != nil {
		return err
	}
	defer g.dir.RemoveEndpoints()
	g.ready.Store(nil)
	g.banner(eps, time.Since(start))

	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			g.setNotReady(errors.New("shutting down"))
			opts.Log.Info("shutting down")
			return nil
		case err := <-fail:
			g.setNotReady(err)
			return err
		case <-tick.C:
			if err := g.refresh(ctx, false); err != nil {
				// Keep serving the last good snapshot.
				opts.Log.Error("refresh failed; keeping the current config", "error", err)
			}
		}
	}
}

// startEnvoy runs Envoy under the supervisor and waits until it is ready.
// The returned stop function stops it and waits for it to exit.
func (g *gateway) startEnvoy(ctx context.Context, bootstrap string) (func(), string, error) {
	g.sup = proc.New(proc.Options{Binary: g.opts.EnvoyBinary, Bootstrap: bootstrap, StateDir: string(g.dir), Log: g.opts.Log})
	envoyCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.sup.Run(envoyCtx, func(pid int) { g.opts.Log.Info("envoy started", "pid", pid) })
	}()
	stop := func() { cancel(); <-done }
	readyCtx, readyCancel := context.WithTimeout(ctx, g.opts.ReadyTimeout)
	defer readyCancel()
	addr, err := g.sup.WaitReady(readyCtx)
	return stop, addr, err
}

// refresh re-mints expiring leaves and re-resolves upstreams, and pushes a
// new snapshot when anything changed (or when force is set).
func (g *gateway) refresh(ctx context.Context, force bool) error {
	now := time.Now()
	leaves, changed, err := g.leaves.ensure(g.plan.Hosts(), now)
	if err != nil {
		return err
	}
	if g.resolve(ctx) {
		changed = true
	}
	if !changed && !force {
		return nil
	}
	r, err := envoy.Build(g.plan.EnvoySpec(g.proxy, leaves, g.eps, g.system))
	if err != nil {
		return err
	}
	if err := g.xds.Update(ctx, r); err != nil {
		return err
	}
	g.authz.Swap(g.plan.DecisionSnapshot())
	return nil
}

// resolve updates g.eps from the resolver; it reports whether any host's
// vetted addresses changed. A failed lookup keeps the last good answer.
func (g *gateway) resolve(ctx context.Context) bool {
	changed := false
	for host, t := range g.plan.targets() {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := xds.Resolve(rctx, xds.DefaultLookup, t)
		cancel()
		if err != nil {
			g.opts.Log.Warn("upstream addresses", "host", host, "error", err)
			if len(addrs) == 0 && g.eps[host] != nil {
				continue
			}
		}
		if !slices.Equal(g.eps[host], addrs) {
			g.eps[host] = addrs
			changed = true
		}
	}
	return changed
}

// Ready implements api.Readiness: starting up, shutting down, or a state
// store that does not answer all mean not ready.
func (g *gateway) Ready() error {
	if p := g.ready.Load(); p != nil {
		return *p
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.state.store.Ping(ctx); err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	return nil
}

func (g *gateway) setNotReady(err error) { g.ready.Store(&err) }

func (g *gateway) banner(e statedir.Endpoints, took time.Duration) {
	cfg := g.plan.Config
	fmt.Fprintf(g.opts.Out, "Bridle is ready in %s.\n", took.Round(time.Millisecond))
	fmt.Fprintf(g.opts.Out, "  proxy   http://%s  (%d connector host(s), %d agent(s))\n", e.Proxy, len(g.plan.Hosts()), len(cfg.Agents))
	fmt.Fprintf(g.opts.Out, "  api     http://%s\n", e.API)
	fmt.Fprintf(g.opts.Out, "  CA      %s\n", g.dir.CABundle())
	if g.opts.EnvoyBinary == "" {
		fmt.Fprintf(g.opts.Out, "No Envoy is started (serve). Run one against this control plane with:\n  envoy -c %s --use-dynamic-base-id\n",
			g.dir.Path(bootstrapFile))
	}
	if g.plan.Policy.Empty() {
		fmt.Fprintf(g.opts.Out, "No policy files are configured: every request is denied (default_deny). Add `policies: [\"policies/*.yaml\"]` to %s.\n", cfg.File)
	} else {
		fmt.Fprintf(g.opts.Out, "  policy  %d rule(s) from %d file(s), version %.12s\n", len(g.plan.Policy.Rules()), len(g.plan.Policy.Files()), g.plan.Policy.Version())
	}
	if len(cfg.Agents) == 0 {
		fmt.Fprintf(g.opts.Out, "No agents are configured: every request will be answered 407. Create one with `bridle agent add NAME`.\n")
	}
	fmt.Fprintf(g.opts.Out, "Next, in another shell:\n  bridle run --config %s -- curl https://%s/\n", cfg.File, firstOr(g.plan.Hosts(), "api.example.com"))
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
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

func serve(wg *sync.WaitGroup, fail chan<- error, name string, f func() error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := f(); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
			fail <- fmt.Errorf("%s server: %w", name, err)
		}
	}()
}

func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return l, nil
}

// pickPort turns a port-0 address into a concrete free port, so the address
// stays the same if Envoy restarts.
func pickPort(addr string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ap, fmt.Errorf("address %q: %w", addr, err)
	}
	if ap.Port() != 0 {
		return ap, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return ap, fmt.Errorf("finding a free port on %s: %w", ap.Addr(), err)
	}
	defer l.Close()
	return addrPort(l), nil
}

func addrPort(l net.Listener) netip.AddrPort {
	return l.Addr().(*net.TCPAddr).AddrPort()
}
