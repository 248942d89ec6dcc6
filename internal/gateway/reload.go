package gateway

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/xds"
)

// Reload loads the config file again and, if every check passes (config,
// secrets, connectors, policies, certificates, every node's snapshot
// Consistent()), swaps it in atomically for the control plane, the decision
// service and the API. Otherwise the running config stays as it was and
// every error is logged with its file:line. Safe for concurrent use.
func (g *gateway) Reload(ctx context.Context, why string) error {
	// One reload at a time (file watch, SIGHUP and the API can ask
	// together): otherwise a failed reload could restore, as "the previous
	// config", a plan whose push a concurrent reload had overtaken.
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	plan, err := Load(g.opts.ConfigPath, g.opts.Env)
	if err == nil {
		err = g.restartOnly(plan)
	}
	if err == nil {
		err = g.apply(ctx, plan)
	}
	g.metrics.Reload(err == nil)
	if err != nil {
		g.opts.Log.Error("config reload refused; the previous config keeps running", "why", why)
		for _, e := range unjoin(err) {
			g.opts.Log.Error("config error", "error", e.Error())
		}
		return err
	}
	g.opts.Log.Info("config reloaded", "why", why, "hosts", len(plan.Hosts()), "agents", len(plan.Config.Agents),
		"policy_version", plan.Policy.Version())
	return nil
}

// restartOnly refuses changes that cannot be applied to a running process.
func (g *gateway) restartOnly(next *Plan) error {
	g.mu.Lock()
	cur := g.plan.Config
	g.mu.Unlock()
	var errs []error
	for _, f := range []struct {
		path     string
		old, new any
	}{
		{"listen", cur.Listen, next.Config.Listen},
		{"state_dir", cur.StateDir, next.Config.StateDir},
		{"redis", cur.Redis, next.Config.Redis},
		{"audit", cur.Audit, next.Config.Audit},
		{"approvals", cur.Approvals, next.Config.Approvals},
	} {
		if !reflect.DeepEqual(f.old, f.new) {
			errs = append(errs, next.Config.Errorf(f.path, "%s changed: this needs a restart of bridle, not a reload", f.path))
		}
	}
	return errors.Join(errs...)
}

// apply makes plan the running config: leaves for new hosts, addresses,
// snapshots for every Envoy, then the decision service and the API.
func (g *gateway) apply(ctx context.Context, plan *Plan) error {
	tokens, err := plan.apiTokens(g.dir)
	if err != nil {
		return err
	}
	g.mu.Lock()
	old := g.plan
	g.plan = plan
	g.mu.Unlock()
	if err := g.refresh(ctx, true); err != nil {
		g.mu.Lock()
		g.plan = old
		g.mu.Unlock()
		return err
	}
	g.api.SwapTokens(tokens)
	return nil
}

// refresh re-mints expiring leaves and re-resolves upstreams, and pushes new
// snapshots when anything changed (or when force is set).
func (g *gateway) refresh(ctx context.Context, force bool) error {
	g.mu.Lock()
	plan := g.plan
	targets := plan.targets()
	g.mu.Unlock()
	if g.xds == nil { // the authz role serves decisions only
		g.authz.Swap(plan.DecisionSnapshot(nil))
		return nil
	}
	resolved, refused := resolveAll(ctx, g, targets) // slow (DNS): outside the lock

	g.mu.Lock()
	defer g.mu.Unlock()
	if g.plan != plan {
		return nil // a reload overtook this refresh; it pushed its own
	}
	leaves, changed, err := g.leaves.ensure(plan.Hosts(), time.Now())
	if err != nil {
		return err
	}
	proxyCert, proxyChanged, err := g.leaves.ensureProxy(plan.ProxyCertNames(g.proxy), time.Now())
	if err != nil {
		return err
	}
	changed = changed || proxyChanged
	eps := map[string][]netip.AddrPort{}
	for host := range targets {
		addrs, ok := resolved[host]
		if !ok && !refused[host] {
			addrs = g.eps[host] // a failed lookup keeps the last good answer
		}
		eps[host] = addrs
		changed = changed || !slices.Equal(g.eps[host], addrs)
	}
	changed = changed || len(eps) != len(g.eps) || !maps.Equal(refused, g.refused)
	if !changed && !force {
		return nil
	}
	system := g.system
	build := func(node xds.NodeInfo) (*envoy.Resources, error) {
		proxy := node.Proxy
		if !proxy.IsValid() {
			proxy = g.proxy
		}
		spec := plan.EnvoySpec(proxy, leaves, eps, system)
		spec.ProxyCert = proxyCert
		return envoy.Build(spec)
	}
	// Check the config's own node before serving anything.
	if err := xds.Check(build, xds.NodeInfo{ID: "check"}); err != nil {
		return err
	}
	if err := g.xds.Update(ctx, build); err != nil {
		return err
	}
	g.eps, g.refused = eps, refused
	if g.authz != nil {
		g.authz.Swap(plan.DecisionSnapshot(refused))
	}
	return nil
}

// resolveAll resolves every target. Hosts whose lookup failed outright are
// missing from the result; hosts whose every address was refused as private
// are in refused (and get no endpoints: a refusal is an answer, not an
// outage, so the last good addresses are not kept for them).
func resolveAll(ctx context.Context, g *gateway, targets map[string]xds.Target) (resolved map[string][]netip.AddrPort, refused map[string]bool) {
	resolved, refused = map[string][]netip.AddrPort{}, map[string]bool{}
	for host, t := range targets {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := xds.Resolve(rctx, xds.DefaultLookup, t)
		cancel()
		if err != nil {
			g.opts.Log.Warn("upstream addresses", "host", host, "error", err)
			if len(addrs) == 0 {
				if errors.Is(err, xds.ErrRefused) {
					refused[host] = true
				}
				continue
			}
		}
		resolved[host] = addrs
	}
	return resolved, refused
}

// watch reports changes to the config file and the policy files (their
// directories are watched, since editors replace files by renaming). It
// coalesces bursts into one event.
func (g *gateway) watch(ctx context.Context) <-chan string {
	out := make(chan string, 1)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		g.opts.Log.Warn("not watching config files; reload with SIGHUP or POST /api/v1/reload", "error", err)
		return out
	}
	g.mu.Lock()
	dirs := map[string]bool{filepath.Dir(g.plan.Config.File): true}
	for _, f := range g.plan.Policy.Files() {
		dirs[filepath.Dir(f)] = true
	}
	for _, p := range g.plan.Config.Policies {
		dirs[filepath.Dir(g.plan.Config.Path(p))] = true
	}
	g.mu.Unlock()
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := w.Add(d); err != nil {
			g.opts.Log.Warn("not watching a config directory", "dir", d, "error", err)
		}
	}
	go func() {
		defer w.Close()
		var pending string
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if configEvent(ev.Name, g.opts.ConfigPath) {
					pending = ev.Name
					fire = time.After(300 * time.Millisecond) // editors write in several steps
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				g.opts.Log.Warn("config watch", "error", err)
			case <-fire:
				select {
				case out <- pending:
				default:
				}
			}
		}
	}()
	return out
}

// configEvent reports whether a change to name may change the config: a
// YAML file, the config file itself, or a Kubernetes ConfigMap volume's
// "..data" link, which the kubelet swaps (a rename) to update every file of
// the map at once — the files themselves are links that never change.
func configEvent(name, configPath string) bool {
	ext := filepath.Ext(name)
	return ext == ".yaml" || ext == ".yml" || name == configPath || filepath.Base(name) == "..data"
}
