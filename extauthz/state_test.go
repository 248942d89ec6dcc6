package extauthz

import (
	"encoding/json"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestKillSwitchAndRateLimit(t *testing.T) {
	auth := map[string]string{"proxy-authorization": basic("demo:" + demoToken)}
	connectReq := checkCase{phase: "connect", ctx: gh, method: "CONNECT", host: "api.github.com:443", headers: auth}
	tunnelReq := checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)}
	plainReq := checkCase{phase: "plain", ctx: gh, method: "GET", host: "api.github.com", headers: auth}
	storeDown := errors.New("redis: i/o timeout")
	cases := []struct {
		name    string
		kill    *fakeKill
		limiter *fakeLimiter
		req     checkCase
		status  int
		reason  string
		calls   int // limiter calls expected
	}{
		{"a kill switch for all refuses new tunnels", &fakeKill{on: map[string]bool{"all": true}}, &fakeLimiter{}, connectReq, 403, "kill_switch", 0},
		{"a kill switch for the agent refuses requests in open tunnels", &fakeKill{on: map[string]bool{"agent:demo": true}}, &fakeLimiter{}, tunnelReq, 403, "kill_switch", 0},
		{"a kill switch for the connector refuses plain requests", &fakeKill{on: map[string]bool{"connector:github": true}}, &fakeLimiter{}, plainReq, 403, "kill_switch", 0},
		{"a kill switch for another agent does not apply", &fakeKill{on: map[string]bool{"agent:other": true}}, &fakeLimiter{}, tunnelReq, 0, "", 1},
		{"a kill switch that cannot be read denies with 503", &fakeKill{err: storeDown}, &fakeLimiter{}, tunnelReq, 503, "store_unavailable", 0},
		{"a CONNECT consumes no rate budget", &fakeKill{}, &fakeLimiter{}, connectReq, 0, "", 0},
		{"an allowed request consumes budget once", &fakeKill{}, &fakeLimiter{}, tunnelReq, 0, "", 1},
		{"over the limit is 429", &fakeKill{}, &fakeLimiter{verdict: &RateVerdict{Scope: "agent", Limit: Limit{Requests: 30, Per: 10 * time.Second}, RetryAfter: 2300 * time.Millisecond}}, tunnelReq, 429, "rate_limited", 1},
		{"a limiter that cannot answer denies with 503", &fakeKill{}, &fakeLimiter{err: storeDown}, plainReq, 503, "store_unavailable", 1},
		{"a denied request consumes no budget", &fakeKill{}, &fakeLimiter{}, checkCase{phase: "plain", ctx: gh, method: "GET", host: "api.github.com"}, 407, "unauthenticated", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Deps{Log: slog.New(slog.DiscardHandler), Limiter: tc.limiter, KillSwitch: tc.kill})
			s.Swap(testSnapshot())
			resp, err := s.Check(t.Context(), checkRequest(tc.req))
			if err != nil {
				t.Fatal(err)
			}
			assertDecision(t, resp, tc.status, tc.reason)
			if tc.limiter.calls != tc.calls {
				t.Errorf("limiter called %d times, want %d", tc.limiter.calls, tc.calls)
			}
			if tc.status == 429 {
				d := resp.GetDeniedResponse()
				if got := headerValue(d.GetHeaders(), "retry-after"); got != "3" {
					t.Errorf("Retry-After %q, want 3 (2.3 s rounded up)", got)
				}
				var body struct {
					Limit struct {
						Requests int
						Per      string
					}
					RetryAfter int `json:"retry_after"`
				}
				json.Unmarshal([]byte(d.GetBody()), &body)
				if body.Limit.Requests != 30 || body.Limit.Per != "10s" || body.RetryAfter != 3 {
					t.Errorf("body %s", d.GetBody())
				}
			}
		})
	}
}

// A gateway wired without a limiter or kill switch fails closed.
func TestMissingStoreDenies(t *testing.T) {
	req := checkRequest(checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)})
	for name, deps := range map[string]Deps{
		"no limiter":     {KillSwitch: &fakeKill{}},
		"no kill switch": {Limiter: &fakeLimiter{}},
	} {
		t.Run(name, func(t *testing.T) {
			deps.Log = slog.New(slog.DiscardHandler)
			s := New(deps)
			s.Swap(testSnapshot())
			resp, _ := s.Check(t.Context(), req)
			assertDecision(t, resp, 503, "store_unavailable")
		})
	}
}

// Whole seconds, rounded up, never 0.
func TestRetryAfterRounding(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{{time.Millisecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {59500 * time.Millisecond, "60"}} {
		s := New(Deps{Log: slog.New(slog.DiscardHandler), KillSwitch: &fakeKill{},
			Limiter: &fakeLimiter{verdict: &RateVerdict{Limit: Limit{Requests: 1, Per: time.Minute}, RetryAfter: tc.in}}})
		s.Swap(testSnapshot())
		resp, _ := s.Check(t.Context(), checkRequest(checkCase{phase: "request", ctx: gh, method: "GET", host: "api.github.com", sni: "api.github.com", headers: inTunnel(nil)}))
		if got := headerValue(resp.GetDeniedResponse().GetHeaders(), "retry-after"); got != tc.want {
			t.Errorf("%s: Retry-After %q, want %s", tc.in, got, tc.want)
		}
	}
}
