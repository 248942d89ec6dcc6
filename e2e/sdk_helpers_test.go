package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/echo"
)

// requirePython checks that python3 imports every module (from PYTHONPATH,
// where `make tools` puts them). A missing one fails the test when $CI is
// set and skips it otherwise.
func requirePython(t *testing.T, modules ...string) {
	t.Helper()
	for _, m := range modules {
		if out, err := exec.Command("python3", "-c", "import "+m).CombinedOutput(); err != nil {
			msg := "python3 cannot import " + m + ": run `make tools` (installs the pinned SDKs into .tools/py) and put .tools/py on PYTHONPATH (make does)\n" + string(out)
			if os.Getenv("CI") != "" {
				t.Fatal(msg + "CI is set, so this is a failure, not a skip")
			}
			t.Skip(msg)
		}
	}
}

// sdkSecret is the real API key the gateway injects, given to bridle through
// its environment and referenced as ${env:E2E_SDK_SECRET}; no SDK holds it.
const sdkSecret = "sk-e2e-injected-5b0f2a"

// sdkGateway starts a gateway with one typed connector for host, whose
// credential is prefix + sdkSecret in the type's default header, and the
// echo upstream behind it.
func sdkGateway(t *testing.T, typ, host, prefix string) (*gateway, *upstream) {
	t.Helper()
	up := newUpstream(t, host)
	g := startGateway(t, gatewayOpts{
		connectors: []connector{{name: typ, typ: typ, host: host, up: up, credValue: prefix + "${env:E2E_SDK_SECRET}"}},
		env:        []string{"E2E_SDK_SECRET=" + sdkSecret},
	})
	return g, up
}

// sdkResult is what a Python SDK script prints as its one line of JSON: the
// raw HTTP answer the SDK got and the headers it sent (names in lower
// case), or the error it raised.
type sdkResult struct {
	Status int               `json:"status"`
	Body   string            `json:"body"`
	Sent   map[string]string `json:"sent"`
	Error  string            `json:"error"`
}

// python runs script with `bridle run -- python3 -c`, so the SDK sees
// exactly the environment an agent gets, and decodes its last line.
func (g *gateway) python(t *testing.T, script string) []sdkResult {
	t.Helper()
	out, code := g.bridleRun(t, "python3", "-c", script)
	if code != 0 {
		t.Fatalf("python exit %d: %s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res []sdkResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	return res
}

// assertInjected checks every request the upstream saw: header carries
// exactly want (the gateway's credential), the agent's key appears in no
// header, no proxy or Bridle header leaked, and bridle's own output holds
// neither key.
func assertInjected(t *testing.T, g *gateway, seen []echo.Request, header, want, agentKey string) {
	t.Helper()
	if len(seen) == 0 {
		t.Fatal("the upstream saw no request")
	}
	for _, r := range seen {
		if got := r.Header.Values(header); len(got) != 1 || got[0] != want {
			t.Errorf("%s %s: upstream %s = %q, want exactly the injected %q", r.Method, r.Path, header, got, want)
		}
		for k, vs := range r.Header {
			lk := strings.ToLower(k)
			if strings.HasPrefix(lk, "x-bridle-") || lk == "proxy-authorization" || lk == "cookie" {
				t.Errorf("%s %s: upstream received %s", r.Method, r.Path, k)
			}
			for _, v := range vs {
				if strings.Contains(v, agentKey) {
					t.Errorf("%s %s: upstream received the agent's key in %s: %q", r.Method, r.Path, k, v)
				}
			}
		}
	}
	for _, s := range []string{sdkSecret, agentKey} {
		if strings.Contains(g.out.String(), s) {
			t.Errorf("bridle's output contains the key %q", s)
		}
	}
}

// echoOf decodes an echo answer the SDK returned raw.
func echoOf(t *testing.T, r sdkResult) echo.Request {
	t.Helper()
	if r.Error != "" || r.Status != 200 {
		t.Fatalf("SDK call: status %d, error %q, body %q", r.Status, r.Error, r.Body)
	}
	return decodeEcho(t, r.Body)
}
