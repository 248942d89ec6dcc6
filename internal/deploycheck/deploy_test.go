// Package deploycheck holds only tests: they read the deployment files
// (Dockerfile, docker-compose.yml, deploy/compose, deploy/k8s) and check that
// they agree with the code — Bridle's default ports, the Envoy and Go
// versions it is built and tested with, the Envoy bootstrap its builder
// renders, and configs the real loader accepts. The test suite cannot start
// containers or a cluster, so this is what keeps those files honest; running
// them is a manual step (docs/deploy.md).
package deploycheck

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/gateway"
)

// ports are Bridle's default listen ports (internal/config), which every
// deployment file must use.
type ports struct{ proxy, api, xds, authz, admin uint16 }

func defaultPorts(t *testing.T) ports {
	t.Helper()
	port := func(addr string) uint16 {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			t.Fatalf("default address %q: %v", addr, err)
		}
		return ap.Port()
	}
	return ports{
		proxy: port(config.DefaultProxy),
		api:   port(config.DefaultAPI),
		xds:   port(config.DefaultXDS),
		authz: port(config.DefaultAuthz),
		admin: port(config.DefaultEnvoyAdmin),
	}
}

// repo returns the path of a file in the repository (this package is two
// levels down).
func repo(t *testing.T, rel string) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from the test's directory: %v", err)
	}
	return filepath.Join(root, filepath.FromSlash(rel))
}

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(repo(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeYAML decodes one YAML document strictly into v.
func decodeYAML(t *testing.T, rel string, v any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(read(t, rel)))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// goVersion is go.mod's `go` line as major.minor.
func goVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)(\.\d+)?\s*$`).FindSubmatch(read(t, "go.mod"))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	return string(m[1])
}

// envoyVersion is the Envoy major.minor that `make test` installs and the
// e2e tests run against (Makefile ENVOY_VERSION); deployments must run the
// same release line.
func envoyVersion(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^ENVOY_VERSION\s*:?=\s*(\d+\.\d+)\.\d+\s*$`).FindSubmatch(read(t, "Makefile"))
	if m == nil {
		t.Fatal("Makefile sets no ENVOY_VERSION")
	}
	return string(m[1])
}

func checkEnvoyImage(t *testing.T, where, image string) {
	t.Helper()
	want := "envoyproxy/envoy:v" + envoyVersion(t) + "."
	if !strings.HasPrefix(image, want) {
		t.Errorf("%s runs image %q, want %sx (the Envoy release Bridle is tested with)", where, image, want)
	}
}

var envRefRE = regexp.MustCompile(`\$\{env:([A-Za-z0-9_]+)\}`)

// envRefs lists the ${env:NAME} references of a config file, sorted.
func envRefs(t *testing.T, rel string) []string {
	t.Helper()
	var names []string
	for _, m := range envRefRE.FindAllSubmatch(read(t, rel), -1) {
		if n := string(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// validateConfig runs a config through the loader `bridle validate` and
// `bridle serve` use, with env standing in for the deployment's environment,
// and checks its listen addresses use the default ports. It returns the
// validated config.
func validateConfig(t *testing.T, rel string, env map[string]string) *config.Config {
	t.Helper()
	plan, err := gateway.Validate(repo(t, rel), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		t.Fatalf("%s does not validate:\n%v", rel, err)
	}
	want := defaultPorts(t)
	l := plan.Config.Listen
	for _, f := range []struct {
		name, addr string
		want       uint16
	}{
		{"proxy", l.Proxy, want.proxy}, {"api", l.API, want.api}, {"xds", l.XDS, want.xds},
		{"authz", l.Authz, want.authz}, {"envoy_admin", l.EnvoyAdmin, want.admin},
	} {
		ap, err := netip.ParseAddrPort(f.addr)
		if err != nil || ap.Port() != f.want {
			t.Errorf("%s: listen.%s is %q, want port %d (Bridle's default)", rel, f.name, f.addr, f.want)
		}
	}
	return plan.Config
}

// sameSet reports the difference between two name lists, or "".
func sameSet(got, want []string) string {
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	return fmt.Sprintf("missing %v, unexpected %v", missing, extra)
}

func TestDockerfileBuildsAStaticNonRootImageWithGoModsGo(t *testing.T) {
	df := string(read(t, "Dockerfile"))
	var froms []string
	for _, line := range strings.Split(df, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			// FROM [--platform=...] image [AS name]
			for _, f := range fields[1:] {
				if !strings.HasPrefix(f, "--") {
					froms = append(froms, f)
					break
				}
			}
		case "ENV", "ARG":
			// Nothing secret may be baked into a layer.
			for _, f := range fields[1:] {
				name := strings.ToUpper(strings.SplitN(f, "=", 2)[0])
				for _, bad := range []string{"TOKEN", "PASSWORD", "SECRET", "KEY"} {
					if strings.Contains(name, bad) {
						t.Errorf("Dockerfile sets %s %s: secrets are passed at run time, never built in", fields[0], name)
					}
				}
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(froms))
	}
	if want := "golang:" + goVersion(t); froms[0] != want {
		t.Errorf("build stage is FROM %s, want %s (go.mod's go line)", froms[0], want)
	}
	runtime := froms[len(froms)-1]
	if !strings.HasPrefix(runtime, "gcr.io/distroless/") && !strings.Contains(runtime, "-slim") {
		t.Errorf("runtime stage is FROM %s, want a distroless or debian-slim base", runtime)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/bridle"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile does not build with %s", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Error("Dockerfile sets no USER: the image would run as root")
	} else if u := strings.SplitN(users[len(users)-1][1], ":", 2)[0]; u == "0" || u == "root" {
		t.Errorf("Dockerfile runs as %s, want a non-root user", u)
	}
	p := defaultPorts(t)
	expose := regexp.MustCompile(`(?m)^EXPOSE\s+(.+)$`).FindStringSubmatch(df)
	if expose == nil {
		t.Fatal("Dockerfile exposes no ports")
	}
	if d := sameSet(strings.Fields(expose[1]), []string{fmt.Sprint(p.api), fmt.Sprint(p.xds), fmt.Sprint(p.authz)}); d != "" {
		t.Errorf("Dockerfile EXPOSE: %s", d)
	}
	ignore := strings.Fields(string(read(t, ".dockerignore")))
	for _, want := range []string{".git", "**/.bridle", "*.pem"} {
		if !slices.Contains(ignore, want) {
			t.Errorf(".dockerignore does not exclude %s (state dirs hold CA keys and agent tokens)", want)
		}
	}
}
