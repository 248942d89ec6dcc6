package gateway

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/xds"
)

// Validate runs the loader `bridle up` runs, minus side effects: the config
// and every cross-check, leaf minting with a throwaway CA, the Envoy
// resources and the snapshot's Consistent() check. It creates no state and
// resolves no names.
func Validate(path string, env func(string) (string, bool)) (*Plan, error) {
	plan, err := Load(path, env)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	ca, _, err := xds.NewCA(now)
	if err != nil {
		return nil, err
	}
	set := newLeafSet(ca)
	leaves, _, err := set.ensure(plan.Hosts(), now)
	if err != nil {
		return nil, err
	}
	proxy, err := netip.ParseAddrPort(plan.Config.Listen.Proxy)
	if err != nil {
		return nil, err
	}
	spec := plan.EnvoySpec(proxy, leaves, nil, nil)
	if spec.ProxyCert, _, err = set.ensureProxy(plan.ProxyCertNames(proxy), now); err != nil {
		return nil, err
	}
	r, err := envoy.Build(spec)
	if err != nil {
		return nil, fmt.Errorf("building envoy config: %w", err)
	}
	if _, err := xds.Snapshot("validate", r); err != nil {
		return nil, err
	}
	return plan, nil
}
