package e2e

// Faults around decision tokens and state kept across restarts (issue #10).

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the audit store's driver, to hold its lock from the test

	"github.com/bridle-gw/bridle/internal/connectors"
	"github.com/bridle-gw/bridle/internal/tokens"
	"github.com/bridle-gw/bridle/redis/redistest"
)

// tokenGateway runs approvalPolicy (merges need a human; a decision token
// for exactly the merge lets it through once) against a real redis-server,
// and returns a function that issues a token for "merge PR n" with the
// gateway's own signing key, as if issued at the given time, and registers
// its nonce in Redis as Bridle's issuer does (only registered nonces are
// accepted).
func tokenGateway(t *testing.T) (*gateway, *upstream, *redistest.Server, func(pr int, issued time.Time) string) {
	t.Helper()
	rs := redistest.Start(t)
	g, up := tokenGatewayWith(t, "redis: {url: "+rs.URL()+"}")
	opts, err := goredis.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	keys, err := tokens.LoadOrCreate(filepath.Join(g.dir, ".bridle"))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := connectors.New([]connectors.Spec{{Name: "github", Type: "github", Hosts: []string{"api.github.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := reg.Lookup("api.github.com")
	issue := func(pr int, issued time.Time) string {
		t.Helper()
		a, err := c.Parse(connectors.Request{Agent: g.agent, Method: "PUT", Host: "api.github.com", Path: fmt.Sprintf("/repos/acme/api/pulls/%d/merge", pr),
			Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"merge_method":"squash"}`), BodyBuffered: true})
		if err != nil {
			t.Fatal(err)
		}
		hash, err := a.SpecHash()
		if err != nil {
			t.Fatal(err)
		}
		tok, claims, err := keys.Issue(tokens.Claims{ActionRequestID: fmt.Sprintf("act_fault_%d", pr), ActionSpecHash: hash, Agent: g.agent}, issued)
		if err != nil {
			t.Fatal(err)
		}
		if err := rdb.Set(t.Context(), "bridle:nonce:"+claims.Nonce, "issued", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return g, up, rs, issue
}

// tokenGatewayWith starts the gateway of tokenGateway with extra config
// (empty: the embedded Redis).
func tokenGatewayWith(t *testing.T, extraYAML string) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{policy: approvalPolicy,
		extraYAML:  "approvals: {hold: 300ms, timeout: 1m}\n" + extraYAML,
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up, credHeader: "Authorization", credValue: "Bearer x"}}})
	return g, up
}

// mergePR sends "merge PR n" with a decision token through the proxy.
func mergePR(t *testing.T, c *http.Client, pr int, token string) (answer, error) {
	t.Helper()
	req, _ := http.NewRequest("PUT", fmt.Sprintf("https://api.github.com/repos/acme/api/pulls/%d/merge", pr), strings.NewReader(`{"merge_method":"squash"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Bridle-Decision-Token", token)
	return send(c, req)
}

// Clock skew between the issuer of a decision token and the replica that
// checks it is tolerated up to the 30 s leeway, both ways, and refused
// beyond it (DESIGN §3 "Decision token").
func TestFaultDecisionTokenClockSkew(t *testing.T) {
	g, up, _, issue := tokenGateway(t)
	client := g.client(g.agentProxy())
	now := time.Now()
	cases := []struct {
		name   string
		issued time.Time
		status int
		reason string
	}{
		{"issuer 25 s ahead (within the leeway)", now.Add(25 * time.Second), 200, ""},
		{"issuer 35 s ahead (beyond the leeway)", now.Add(35 * time.Second), 403, "token_invalid"},
		{"expired 25 s ago (within the leeway)", now.Add(-tokens.TTL - 25*time.Second), 200, ""},
		{"expired 35 s ago (beyond the leeway)", now.Add(-tokens.TTL - 35*time.Second), 403, "token_invalid"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			pr := 100 + i
			a, err := mergePR(t, client, pr, issue(pr, tc.issued))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v", a)
			if a.status != tc.status || a.reason != tc.reason || a.decisionID == "" {
				t.Errorf("got %v, want %d %s", a, tc.status, tc.reason)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.status == 200]; len(up.Seen()) != want {
				t.Errorf("upstream saw %d merges, want %d", len(up.Seen()), want)
			}
		})
	}
}

// A decision token presented while Redis (the nonce store) is stalled or
// down is a 503, never a pass: a token whose nonce cannot be recorded
// could be replayed. Once Redis is back the token works at most once.
func TestFaultDecisionTokenWithRedisDown(t *testing.T) {
	g, up, rs, issue := tokenGateway(t)
	client := g.client(g.agentProxy())
	for _, fault := range []struct {
		name        string
		apply, undo func()
	}{
		{"stalled", rs.Pause, rs.Resume},
		{"killed", rs.Kill, rs.Restart},
	} {
		t.Run(fault.name, func(t *testing.T) {
			pr := map[string]int{"stalled": 200, "killed": 201}[fault.name]
			tok := issue(pr, time.Now())
			up.Reset()
			fault.apply()
			for range 3 {
				a, err := mergePR(t, client, pr, tok)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("Redis %s: %v", fault.name, a)
				if a.status != 503 || a.reason != "store_unavailable" || a.decisionID == "" {
					t.Errorf("token with Redis %s: %v, want 503 store_unavailable", fault.name, a)
				}
				if a.took > 2*time.Second {
					t.Errorf("took %s", a.took)
				}
			}
			if n := len(up.Seen()); n != 0 {
				t.Errorf("upstream saw %d merges with Redis %s", n, fault.name)
			}
			fault.undo()
			deadline := time.Now().Add(10 * time.Second)
			var oks, replays int
			for time.Now().Before(deadline) && oks+replays < 3 {
				a, err := mergePR(t, client, pr, tok)
				if err != nil || a.status == 503 {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				switch {
				case a.status == 200:
					oks++
				case a.status == 403 && (a.reason == "token_replayed" || a.reason == "token_invalid"):
					// replayed: the stalled Redis applied the use on
					// resume; invalid: the killed one lost the registration.
					replays++
				default:
					t.Errorf("after Redis came back: %v", a)
					replays++
				}
			}
			t.Logf("after Redis came back: %d accepted, %d refused", oks, replays)
			if oks > 1 || len(up.Seen()) > 1 {
				t.Errorf("the token was accepted %d times (upstream saw %d merges)", oks, len(up.Seen()))
			}
			if oks+replays == 0 {
				t.Error("no answer but 503 after Redis came back")
			}
		})
	}
}

// A used decision token stays used when Redis loses its data (a restart
// without persistence, a failover to an empty replica): Bridle must not
// forget a nonce while the token it guards can still verify (exp + 30 s).
func TestFaultNonceReplayAfterRedisDataLoss(t *testing.T) {
	g, up, rs, issue := tokenGateway(t)
	client := g.client(g.agentProxy())
	tok := issue(300, time.Now())
	if a, err := mergePR(t, client, 300, tok); err != nil || a.status != 200 {
		t.Fatalf("first use: %v %v", a, err)
	}
	if a, _ := mergePR(t, client, 300, tok); a.status != 403 || a.reason != "token_replayed" {
		t.Fatalf("replay before the restart: %v", a)
	}
	rs.Restart() // an empty Redis on the same address, as after a crash without appendonly
	waitStatus(t, g, "https://api.github.com/repos/acme/api", 200)
	up.Reset()
	a, err := mergePR(t, client, 300, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay after Redis lost its data: %v", a)
	if a.status != 403 || a.reason != "token_invalid" || len(up.Seen()) != 0 {
		t.Errorf("a used decision token after Redis lost its data: %v, upstream saw %d merges; want 403 token_invalid "+
			"(Redis no longer knows the nonce)", a, len(up.Seen()))
	}
	freshTokenWorksAfterLoss(t, client, issue)
}

// freshTokenWorksAfterLoss checks that a token issued after the data loss
// is accepted once.
func freshTokenWorksAfterLoss(t *testing.T, client *http.Client, issue func(int, time.Time) string) {
	t.Helper()
	tok := issue(302, time.Now())
	for i, want := range []string{"", "token_replayed"} {
		a, err := mergePR(t, client, 302, tok)
		if err != nil {
			t.Fatal(err)
		}
		if (want == "" && a.status != 200) || (want != "" && (a.status != 403 || a.reason != want)) {
			t.Errorf("use %d of a token issued after the loss: %v; want %q", i+1, a, want)
		}
	}
}

// restart stops bridle and starts it again on the same config and state
// dir, as an operator or a crash-looping supervisor would.
func (g *gateway) restart(t *testing.T) {
	t.Helper()
	env := g.cmd.Env // the same environment: secrets the config names
	g.stop()
	g.stopped = false
	g.cmd = bridleCommand("up", "--config", g.config, "--log-level", "debug")
	g.cmd.Env = env
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g.waitReady()
}

// The same with the embedded Redis, the default of `bridle up`: a restart
// of bridle empties it. The token is a real one, from the action API.
func TestFaultNonceReplayAfterBridleRestartWithEmbeddedRedis(t *testing.T) {
	g, up := tokenGatewayWith(t, "")
	client := g.client(g.agentProxy())
	tok := g.approvedMergeToken(t, 301)
	if a, err := mergePR(t, client, 301, tok); err != nil || a.status != 200 {
		t.Fatalf("first use: %v %v", a, err)
	}
	g.restart(t)
	client = g.client(g.agentProxy())
	up.Reset()
	a, err := mergePR(t, client, 301, tok)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("replay after a restart of bridle: %v", a)
	if a.status != 403 || a.reason != "token_invalid" || len(up.Seen()) != 0 {
		t.Errorf("a used decision token after bridle restarted with the embedded Redis: %v, upstream saw %d merges; want 403 token_invalid", a, len(up.Seen()))
	}
	fresh := g.approvedMergeToken(t, 302)
	for i, want := range []string{"", "token_replayed"} {
		a, err := mergePR(t, client, 302, fresh)
		if err != nil {
			t.Fatal(err)
		}
		if (want == "" && a.status != 200) || (want != "" && (a.status != 403 || a.reason != want)) {
			t.Errorf("use %d of a token issued after the restart: %v; want %q", i+1, a, want)
		}
	}
}

// A kill switch turned on with the embedded Redis is still on after `bridle
// up` restarts (the embedded Redis keeps its switches in the state dir), for
// new tunnels and in `killswitch status`; turning it off then restores
// traffic.
func TestFaultKillSwitchSurvivesBridleRestartWithEmbeddedRedis(t *testing.T) {
	g, up := faultGateway(t, "")
	g.bridleCLI(t, "killswitch", "on", "--agent", g.agent, "--reason", "set before the restart")
	g.restart(t)
	up.Reset()
	status, body, _ := g.connectStatus(t, "api.github.com:443", basicAuth(g.agent, g.token))
	if status != 403 || decodeDeny(t, body).Reason != "kill_switch" {
		t.Errorf("new tunnel after the restart: %d %s; want 403 kill_switch", status, body)
	}
	if out := g.bridleCLI(t, "killswitch", "status"); !strings.Contains(out, "set before the restart") {
		t.Errorf("status after the restart:\n%s", out)
	}
	if len(up.Seen()) != 0 {
		t.Errorf("upstream reached while the kept kill switch was on")
	}
	g.bridleCLI(t, "killswitch", "off", "--agent", g.agent)
	if a, err := do(g.client(g.agentProxy()), "GET", "https://api.github.com/repos/acme/api"); err != nil || a.status != 200 {
		t.Errorf("after off: %v %v", a, err)
	}
}
