package e2e

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Steady traffic (≈200 requests/s) while the config changes 20 times —
// connectors added and removed, the policy edited, one broken file — gets a
// decision for every request and no connection error on the host that
// never changes; the broken file changes nothing.
func TestReloadUnderLoad(t *testing.T) {
	gh := newUpstream(t, "api.github.com")
	extra := newUpstream(t, "api.stripe.com")
	base := gatewayOpts{agentYAML: "rate_limit: {requests: 100000, per: 60s}", // the default 120/min would answer 429s
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: gh}}}
	g := startGateway(t, base)

	var sent, ok, denied, other atomic.Int64
	var errs sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 { // 4 workers × 50/s
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := g.client(g.agentProxy())
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				sent.Add(1)
				resp, err := c.Get(fmt.Sprintf("https://api.github.com/repos/acme/api?w=%d", w))
				if err != nil {
					errs.Store(err.Error(), true)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
					ok.Add(1)
				case 403:
					denied.Add(1) // the policy edits deny reads for a while
				default:
					other.Add(1)
				}
			}
		}()
	}
	policyFile := filepath.Join(g.dir, "policy.yaml")
	denyReads := "version: 1\npolicies:\n  - name: e2e\n    rules:\n      - {name: allow everything, effect: allow, actions: [\"**\"]}\n      - {name: no reads now, effect: deny, actions: [github.repo.get]}\n"
	broken := "version: 1\npolicies:\n  - name: e2e\n    rules:\n      - {name: x, effect: allow, actions: []}\n"
	for i := range 20 {
		switch i % 5 {
		case 0: // add a connector
			o := base
			o.connectors = append(o.connectors, connector{name: "stripe", typ: "stripe", host: "api.stripe.com", up: extra})
			g.writeConfig(o)
		case 1: // remove it
			g.writeConfig(base)
		case 2: // deny reads
			os.WriteFile(policyFile, []byte(denyReads), 0o644)
		case 3: // a broken file: nothing changes
			os.WriteFile(policyFile, []byte(broken), 0o644)
		case 4: // allow again
			os.WriteFile(policyFile, []byte(allowAll), 0o644)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("sent %d: %d allowed, %d denied by the policy edits, %d other", sent.Load(), ok.Load(), denied.Load(), other.Load())
	errs.Range(func(k, _ any) bool {
		t.Errorf("connection error on the unchanged host: %s", k)
		return true
	})
	if other.Load() != 0 {
		t.Errorf("%d requests got neither 200 nor the policy's 403", other.Load())
	}
	if sent.Load() < 1000 {
		t.Errorf("only %d requests sent", sent.Load())
	}
	if ok.Load() == 0 || denied.Load() == 0 {
		t.Errorf("the policy edits did not take effect (allowed %d, denied %d)", ok.Load(), denied.Load())
	}
	if s, b, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/api"); s != 200 {
		t.Errorf("after the changes: %d %s", s, b)
	}
	_, metrics := g.apiGet(t, "", "/metrics")
	if !containsAll(metrics, `bridle_config_reloads_total{result="error"}`, `bridle_config_reloads_total{result="ok"}`) {
		t.Error("reload metrics missing")
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
