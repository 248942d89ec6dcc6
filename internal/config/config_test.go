package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testEnv(name string) (string, bool) {
	if name == "TEST_TOKEN" {
		return "secret-value", true
	}
	return "", false
}

func TestValidConfigLoads(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), testCAPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "bridle.yaml")
	cfg, err := Parse(file, src, testEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != filepath.Join(dir, "state") {
		t.Errorf("state dir %q is not resolved against the config file", cfg.StateDir)
	}
	if cfg.Listen.XDS != DefaultXDS || cfg.Listen.Proxy != "127.0.0.1:3128" {
		t.Errorf("listen defaults not applied: %+v", cfg.Listen)
	}
	if len(cfg.Agents) != 2 || len(cfg.Agents[1].TokenSHA256s) != 2 {
		t.Errorf("agents %+v", cfg.Agents)
	}
	gh := cfg.Connectors[0]
	if gh.Hosts[0] != "api.github.com" {
		t.Errorf("host not lower-cased: %q", gh.Hosts[0])
	}
	if gh.Credential.Header != "authorization" || gh.Credential.Value != "Bearer secret-value" {
		t.Errorf("credential %q/%q: ${env:} not expanded", gh.Credential.Header, gh.Credential.Value)
	}
	if len(gh.UpstreamCA) == 0 || !gh.UnsafeAllowPrivateUpstream || gh.Upstream != "127.0.0.1:9443" {
		t.Errorf("upstream settings lost: %+v", gh)
	}
	if cfg.Connectors[1].Type != "http" || cfg.Connectors[1].Credential != nil {
		t.Errorf("second connector %+v", cfg.Connectors[1])
	}
	if want := []string{"policies/*.yaml"}; strings.Join(cfg.Policies, ",") != strings.Join(want, ",") {
		t.Errorf("policies %v", cfg.Policies)
	}
}

// A credential never shows up when a connector or its credential is
// formatted, logged or printed.
func TestCredentialIsRedacted(t *testing.T) {
	c := Credential{Header: "authorization", Value: "Bearer sekret"}
	for _, s := range []string{c.String(), c.GoString(), c.LogValue().String()} {
		if strings.Contains(s, "sekret") {
			t.Errorf("credential value leaked: %q", s)
		}
	}
}

func TestPeekStateDir(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, content, want string
	}{
		{"default next to the config", "version: 1\n", filepath.Join(dir, ".bridle")},
		{"relative to the config", "state_dir: s\nconnectors: [broken", ""},
		{"absolute", "state_dir: /var/lib/bridle\n", "/var/lib/bridle"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "c.yaml")
			os.WriteFile(p, []byte(tc.content), 0o644)
			got, err := PeekStateDir(p)
			if tc.want == "" {
				if err == nil {
					t.Errorf("no error for broken YAML, got %q", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if got, err := PeekStateDir(filepath.Join(dir, "missing.yaml")); err != nil || got != filepath.Join(dir, ".bridle") {
		t.Errorf("missing file: %q, %v", got, err)
	}
}

func TestExpandEnv(t *testing.T) {
	env := func(k string) (string, bool) { v, ok := map[string]string{"A": "x", "EMPTY": ""}[k]; return v, ok }
	cases := []struct {
		in, want, err string
	}{
		{"plain", "plain", ""},
		{"${env:A}-${env:A}", "x-x", ""},
		{"${env:EMPTY}", "", ""},
		{"Bearer ${secret:gh}", "Bearer ${secret:gh}", ""},
		{"${env:MISSING}", "", "environment variable MISSING is not set"},
		{"${env:}", "", "bad reference"},
		{"${file:/etc/passwd}", "", "bad reference"},
		{"${env:A", "", "unterminated"},
		{"${env:A-B}", "", "bad reference"},
	}
	for _, tc := range cases {
		got, err := expandEnv(tc.in, env)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
