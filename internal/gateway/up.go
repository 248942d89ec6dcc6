package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/envoy/proc"
	"github.com/bridle-gw/bridle/extauthz"
	"github.com/bridle-gw/bridle/internal/api"
	"github.com/bridle-gw/bridle/internal/metrics"
	"github.com/bridle-gw/bridle/internal/statedir"
	"github.com/bridle-gw/bridle/xds"
)

// Options configure `bridle up` and `bridle serve`.
type Options struct {
	ConfigPath  string
	EnvoyBinary string // empty: do not run Envoy
	Env         func(string) (string, bool)
	Out         io.Writer // where the ready banner goes
	Log         *slog.Logger
	// ReadyTimeout bounds how long Envoy may take to become ready.
	ReadyTimeout time.Duration
	// Role selects the servers to run: RoleAll (default), RoleXDS (control
	// plane only) or RoleAuthz (decision service, access logs, API).
	Role string
}

// Roles of `bridle serve --role`.
const (
	RoleAll   = "all"
	RoleXDS   = "xds"
	RoleAuthz = "authz"
)

func (o Options) runs(role string) bool { return o.Role == "" || o.Role == RoleAll || o.Role == role }

// bootstrapFile is the Envoy bootstrap written to the state dir.
const bootstrapFile = "envoy-bootstrap.json"

// refreshEvery is how often upstream addresses are re-resolved and leaf
// certificates checked for rotation.
const refreshEvery = 30 * time.Second

// gateway is one running `bridle up` or `bridle serve`.
type gateway struct {
	opts    Options
	dir     statedir.Dir
	system  []byte
	proxy   netip.AddrPort // the config's proxy address, port 0 resolved
	xds     *xds.Server
	authz   *extauthz.Server
	api     *api.Server
	audit   *auditLog
	state   *state
	metrics *metrics.Metrics
	sup     *proc.Supervisor
	tls     *controlPlaneTLS // nil: plain TCP (loopback only)
	ready   atomic.Pointer[error]

	reloadMu sync.Mutex // one Reload at a time

	mu     sync.Mutex // guards the fields below and serialises pushes
	plan   *Plan
	leaves *leafSet
	eps    map[string][]netip.AddrPort
	// refused holds the hosts whose every address was private (DESIGN §3).
	refused map[string]bool

	closers []func() // run in reverse order on exit
}

// Up runs the gateway until ctx ends: control plane, decision service,
// access-log sink, API and, when opts.EnvoyBinary is set, a supervised
// Envoy. Without it (`bridle serve`) Envoys are run by someone else from
// the bootstrap written to the state dir. The config is reloaded on SIGHUP,
// on changes to its files, and on POST /api/v1/reload.
func Up(ctx context.Context, opts Options) (err error) {
	start := time.Now()
	switch opts.Role {
	case "", RoleAll:
	case RoleXDS, RoleAuthz:
		if opts.EnvoyBinary != "" {
			return fmt.Errorf("--role %s runs without Envoy: use bridle serve", opts.Role)
		}
	default:
		return fmt.Errorf("unknown role %q: want all, xds or authz", opts.Role)
	}
	plan, err := Load(opts.ConfigPath, opts.Env)
	if err != nil {
		return err
	}
	g := &gateway{opts: opts, plan: plan, dir: statedir.Dir(plan.Config.StateDir), eps: map[string][]netip.AddrPort{}}
	g.setNotReady(errors.New("starting"))
	defer g.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if err := g.prepareState(); err != nil {
		return err
	}
	if g.proxy, err = pickPort(plan.Config.Listen.Proxy); err != nil {
		return err
	}
	servers, err := g.startServers(ctx)
	if err != nil {
		return err
	}
	admin, err := pickPort(plan.Config.Listen.EnvoyAdmin)
	if err != nil {
		return err
	}
	if err := g.refresh(ctx, true); err != nil {
		return err
	}
	// The bootstrap names both servers; with a single role the other's
	// address comes from the config (it runs elsewhere).
	xdsAddr, authzAddr := servers.xds, servers.authz
	if !xdsAddr.IsValid() {
		xdsAddr, _ = netip.ParseAddrPort(plan.Config.Listen.XDS)
	}
	if !authzAddr.IsValid() {
		authzAddr, _ = netip.ParseAddrPort(plan.Config.Listen.Authz)
	}
	bootstrap, err := envoy.Bootstrap(envoy.BootstrapSpec{
		NodeID: "bridle-up", Cluster: "bridle", Proxy: g.proxy,
		Admin: admin, XDS: xdsAddr, Authz: authzAddr,
	})
	if err != nil {
		return err
	}
	if g.tls != nil {
		// Rebuild with this Envoy's client identity.
		clientTLS, err := envoyClient(g.tls.ca, "bridle-up", time.Now())
		if err != nil {
			return err
		}
		if bootstrap, err = envoy.Bootstrap(envoy.BootstrapSpec{
			NodeID: "bridle-up", Cluster: "bridle", Proxy: g.proxy,
			Admin: admin, XDS: xdsAddr, Authz: authzAddr, TLS: clientTLS,
		}); err != nil {
			return err
		}
	}
	bootstrapPath := g.dir.Path(bootstrapFile)
	if err := statedir.WriteFile(bootstrapPath, bootstrap, 0o600); err != nil {
		return err
	}
	adminAddr := admin.String()
	if opts.EnvoyBinary != "" {
		if adminAddr, err = g.startEnvoy(ctx, bootstrapPath); err != nil {
			return err
		}
	}
	eps := statedir.Endpoints{
		Proxy: g.proxy.String(), API: servers.api.String(), XDS: addrString(servers.xds),
		Authz: addrString(servers.authz), EnvoyAdmin: adminAddr, PID: os.Getpid(), APITLS: g.tls != nil,
		ProxyTLS: plan.Config.Listen.ProxyTLS,
	}
	if err := g.dir.WriteEndpoints(eps); err != nil {
		return err
	}
	g.onClose(g.dir.RemoveEndpoints)
	g.ready.Store(nil)
	g.banner(eps, time.Since(start))
	return g.run(ctx, servers.fail)
}

// run serves until ctx ends or a server fails, refreshing and reloading.
func (g *gateway) run(ctx context.Context, fail <-chan error) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	changes := g.watch(ctx)
	tick := time.NewTicker(refreshEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			g.setNotReady(errors.New("shutting down"))
			g.opts.Log.Info("shutting down")
			return nil
		case err := <-fail:
			g.setNotReady(err)
			return err
		case <-hup:
			_ = g.Reload(ctx, "SIGHUP")
		case file := <-changes:
			_ = g.Reload(ctx, "file changed: "+file)
		case <-tick.C:
			if err := g.refresh(ctx, false); err != nil {
				// Keep serving the last good snapshot.
				g.opts.Log.Error("refresh failed; keeping the current config", "error", err)
			}
		}
	}
}

// prepareState creates the state dir, the CA and the agents' CA bundle.
func (g *gateway) prepareState() error {
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
	return statedir.WriteFile(g.dir.CABundle(), xds.Bundle(g.system, ca.CertPEM), 0o644)
}

// startEnvoy runs Envoy under the supervisor and waits until it is ready;
// it returns Envoy's admin address. Envoy is stopped first on exit, before
// the servers it talks to.
func (g *gateway) startEnvoy(ctx context.Context, bootstrap string) (string, error) {
	g.sup = proc.New(proc.Options{Binary: g.opts.EnvoyBinary, Bootstrap: bootstrap, StateDir: string(g.dir), Log: g.opts.Log})
	g.metrics.CounterFunc("bridle_envoy_restarts_total", "Times the supervised Envoy exited and was restarted.", func() float64 { return float64(g.sup.Restarts()) })
	envoyCtx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = g.sup.Run(envoyCtx, func(pid int) { g.opts.Log.Info("envoy started", "pid", pid) })
	}()
	g.onClose(func() { cancel(); <-done })
	readyCtx, readyCancel := context.WithTimeout(ctx, g.opts.ReadyTimeout)
	defer readyCancel()
	return g.sup.WaitReady(readyCtx)
}

// Ready implements api.Readiness: starting up, shutting down, a
// supervised Envoy that is down (between an exit and its restart), or a
// state store that does not answer all mean not ready.
func (g *gateway) Ready() error {
	if p := g.ready.Load(); p != nil {
		return *p
	}
	if g.sup != nil && g.sup.PID() == 0 {
		return errors.New("envoy is not running (the supervisor restarts it)")
	}
	if g.state == nil {
		return nil // the xds role has no state store
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.state.store.Ping(ctx); err != nil {
		return fmt.Errorf("state store: %w", err)
	}
	return nil
}

func (g *gateway) setNotReady(err error) { g.ready.Store(&err) }

func (g *gateway) onClose(f func()) { g.closers = append(g.closers, f) }

func (g *gateway) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		g.closers[i]()
	}
}

func (g *gateway) banner(e statedir.Endpoints, took time.Duration) {
	g.mu.Lock()
	plan := g.plan
	g.mu.Unlock()
	cfg := plan.Config
	out := g.opts.Out
	fmt.Fprintf(out, "Bridle is ready in %s.\n", took.Round(time.Millisecond))
	fmt.Fprintf(out, "  proxy   %s://%s  (%d connector host(s), %d agent(s))\n", e.ProxyScheme(), e.Proxy, len(plan.Hosts()), len(cfg.Agents))
	fmt.Fprintf(out, "  api     %s://%s\n", e.APIScheme(), e.API)
	fmt.Fprintf(out, "  CA      %s\n", g.dir.CABundle())
	if g.opts.EnvoyBinary == "" {
		fmt.Fprintf(out, "No Envoy is started (serve). Run one against this control plane with:\n  envoy -c %s --use-dynamic-base-id\n",
			g.dir.Path(bootstrapFile))
	}
	if plan.Policy.Empty() {
		fmt.Fprintf(out, "No policy files are configured: every request is denied (default_deny). Add `policies: [\"policies/*.yaml\"]` to %s.\n", cfg.File)
	} else {
		fmt.Fprintf(out, "  policy  %d rule(s) from %d file(s), version %.12s\n", len(plan.Policy.Rules()), len(plan.Policy.Files()), plan.Policy.Version())
	}
	if len(cfg.Agents) == 0 {
		fmt.Fprintf(out, "No agents are configured: every request will be answered 407. Create one with `bridle agent add NAME`.\n")
	}
	fmt.Fprintf(out, "Next, in another shell:\n  bridle run --config %s -- curl https://%s/\n", cfg.File, firstOr(plan.Hosts(), "api.example.com"))
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func firstOr(s []string, def string) string {
	if len(s) > 0 {
		return s[0]
	}
	return def
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

// currentPlan is the running config.
func (g *gateway) currentPlan() *Plan {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.plan
}
