package deploycheck

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `yaml:"subnet"`
			} `yaml:"config"`
		} `yaml:"ipam"`
	} `yaml:"networks"`
	Volumes map[string]any `yaml:"volumes"`
}

type composeService struct {
	Build       string            `yaml:"build"`
	Image       string            `yaml:"image"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []composeVolume   `yaml:"volumes"`
	Ports       []string          `yaml:"ports"`
	Expose      []string          `yaml:"expose"`
	Networks    map[string]struct {
		IPv4Address string `yaml:"ipv4_address"`
	} `yaml:"networks"`
	ReadOnly bool     `yaml:"read_only"`
	CapDrop  []string `yaml:"cap_drop"`
}

// composeVolume is a volume in either compose syntax: "src:target[:ro]" or
// a map with type, source, target, read_only and bind options.
type composeVolume struct {
	Source, Target string
	ReadOnly       bool
	CreateHostPath *bool
}

func (v *composeVolume) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		if len(parts) < 2 {
			return fmt.Errorf("line %d: volume %q: want source:target", n.Line, n.Value)
		}
		v.Source, v.Target, v.ReadOnly = parts[0], parts[1], len(parts) > 2 && parts[2] == "ro"
		return nil
	}
	var long struct {
		Source   string `yaml:"source"`
		Target   string `yaml:"target"`
		ReadOnly bool   `yaml:"read_only"`
		Bind     struct {
			CreateHostPath *bool `yaml:"create_host_path"`
		} `yaml:"bind"`
	}
	if err := n.Decode(&long); err != nil {
		return err
	}
	*v = composeVolume{Source: long.Source, Target: long.Target, ReadOnly: long.ReadOnly, CreateHostPath: long.Bind.CreateHostPath}
	return nil
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	decodeYAML(t, "docker-compose.yml", &c)
	for _, name := range []string{"bridle", "envoy", "redis"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no %s service", name)
		}
	}
	return c
}

// volume returns the volume whose source is src.
func (s composeService) volume(src string) (composeVolume, bool) {
	for _, v := range s.Volumes {
		if v.Source == src {
			return v, true
		}
	}
	return composeVolume{}, false
}

// mount returns the target of the volume whose source is src, or "".
func (s composeService) mount(src string) string {
	v, _ := s.volume(src)
	return v.Target
}

// flag returns the argument after name in args, or "".
func flag(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// fakeEnv gives every variable a config references a value of the right
// shape, so the loader can run without real secrets.
func fakeEnv(names []string) map[string]string {
	env := map[string]string{}
	for _, n := range names {
		switch {
		case strings.HasSuffix(n, "SHA256"):
			env[n] = strings.Repeat("ab", 32)
		case strings.HasSuffix(n, "_URL"):
			env[n] = "redis://:fake@redis.invalid:6379/0"
		default:
			env[n] = "fake-" + strings.ToLower(n)
		}
	}
	return env
}

func TestComposePublishesBridlesDefaultPortsOnLoopbackOnly(t *testing.T) {
	c := loadCompose(t)
	p := defaultPorts(t)
	for _, tc := range []struct {
		service string
		port    uint16
	}{
		{"bridle", p.api},
		{"envoy", p.proxy},
		{"envoy", p.admin},
	} {
		want := fmt.Sprintf("127.0.0.1:%d:%d", tc.port, tc.port)
		if !slices.Contains(c.Services[tc.service].Ports, want) {
			t.Errorf("service %s publishes %v, want %q", tc.service, c.Services[tc.service].Ports, want)
		}
	}
	for name, s := range c.Services {
		for _, pub := range s.Ports {
			if !strings.HasPrefix(pub, "127.0.0.1:") {
				t.Errorf("service %s publishes %q on every interface of the host; bind it to 127.0.0.1", name, pub)
			}
		}
	}
	// xDS and ext_authz are for the envoy container only: on the compose
	// network, never on the host.
	bridle := c.Services["bridle"]
	if d := sameSet(bridle.Expose, []string{fmt.Sprint(p.xds), fmt.Sprint(p.authz)}); d != "" {
		t.Errorf("bridle exposes %v to the compose network: %s", bridle.Expose, d)
	}
}

func TestComposeRunsBridleServeEnvoy140AndPersistentRedis7(t *testing.T) {
	c := loadCompose(t)
	bridle, envoyS, redis := c.Services["bridle"], c.Services["envoy"], c.Services["redis"]
	if bridle.Build != "." || len(bridle.Command) == 0 || bridle.Command[0] != "serve" {
		t.Errorf("bridle service: build %q command %v, want the Dockerfile (build: .) running `bridle serve`", bridle.Build, bridle.Command)
	}
	checkEnvoyImage(t, "the envoy service", envoyS.Image)
	if !strings.HasPrefix(redis.Image, "redis:7") {
		t.Errorf("redis service runs %q, want redis:7", redis.Image)
	}
	if flag(redis.Command, "--appendonly") != "yes" {
		t.Errorf("redis runs %v without --appendonly yes: kill switches would not survive a restart", redis.Command)
	}
	if redis.mount("redis-data") != "/data" {
		t.Errorf("redis keeps /data on no named volume (volumes %v)", redis.Volumes)
	}
	for _, name := range []string{"bridle", "envoy"} {
		s := c.Services[name]
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
			t.Errorf("service %s: want read_only: true and cap_drop: [ALL]", name)
		}
	}
}

func TestComposeEnvoyRunsTheBootstrapBridlePrints(t *testing.T) {
	const configRel = "deploy/compose/bridle.yaml"
	c := loadCompose(t)
	bridle, envoyS := c.Services["bridle"], c.Services["envoy"]
	cmds := bootstrapCommands(string(read(t, "docker-compose.yml")))
	if len(cmds) == 0 {
		t.Fatal("docker-compose.yml does not say which `bridle envoy bootstrap` command makes Envoy's bootstrap")
	}
	var out string
	for _, cmd := range cmds {
		if !maps.Equal(cmd.flags, cmds[0].flags) {
			t.Errorf("docker-compose.yml gives two different bootstrap commands: %v and %v", cmds[0].flags, cmd.flags)
		}
		if cmd.out != "" {
			out = cmd.out
		}
	}
	cmd := cmds[0]
	if got, want := cmd.flags["--config"], flag(bridle.Command, "--config"); got != want {
		t.Errorf("the bootstrap command reads --config %q, the bridle service runs %q", got, want)
	}

	// Where the command's output goes is what Envoy runs, and git ignores it.
	vol, ok := envoyS.volume("./" + out)
	args := append(slices.Clone(envoyS.Entrypoint), envoyS.Command...)
	if out == "" || !ok || flag(args, "-c") != vol.Target {
		t.Errorf("the envoy service does not run the bootstrap written to %q (volumes %v, -c %q)", out, envoyS.Volumes, flag(args, "-c"))
	}
	if !vol.ReadOnly || vol.CreateHostPath == nil || *vol.CreateHostPath {
		t.Errorf("mount the bootstrap read-only with bind.create_host_path: false (a missing file must fail, not become a directory)")
	}
	ignore := strings.Fields(string(read(t, path.Join(path.Dir(out), ".gitignore"))))
	if !slices.Contains(ignore, path.Base(out)) {
		t.Errorf("%s is not git-ignored: it holds Envoy's client key", out)
	}

	cfg := validateConfig(t, configRel, fakeEnv(envRefs(t, configRel)))
	b := renderBootstrap(t, configRel, cmd.request(t, nil))
	eps, admin := checkBootstrap(t, "the bootstrap docker-compose.yml makes", b, cfg.Listen.ControlPlaneTLS())
	bridleIP := bridle.Networks["bridle"].IPv4Address
	for name, ep := range eps {
		if ep.host != bridleIP {
			t.Errorf("the bootstrap's cluster %s dials %s, but the bridle service is at %q", name, ep.host, bridleIP)
		}
	}
	ipam := c.Networks["bridle"].IPAM.Config
	ip, ipErr := netip.ParseAddr(bridleIP)
	if len(ipam) != 1 || ipErr != nil || !netip.MustParsePrefix(ipam[0].Subnet).Contains(ip) {
		t.Errorf("bridle's fixed address %q is not in the bridle network's subnet %v", bridleIP, ipam)
	}
	if cfg.Listen.EnvoyAdmin != admin.String() {
		t.Errorf("bridle.yaml says Envoy's admin is %s, the bootstrap binds %s", cfg.Listen.EnvoyAdmin, admin)
	}
}

func TestComposeBridleConfigValidatesWithTheEnvironmentComposeGives(t *testing.T) {
	const rel = "deploy/compose/bridle.yaml"
	c := loadCompose(t)
	bridle := c.Services["bridle"]
	dir := bridle.mount("./deploy/compose")
	if want := path.Join(dir, "bridle.yaml"); dir == "" || flag(bridle.Command, "--config") != want {
		t.Errorf("bridle service runs --config %q, want %s mounted from ./deploy/compose", flag(bridle.Command, "--config"), rel)
	}
	refs := envRefs(t, rel)
	for _, name := range refs {
		if _, ok := bridle.Environment[name]; !ok {
			t.Errorf("%s uses ${env:%s}, which the bridle service does not pass", rel, name)
		}
	}
	cfg := validateConfig(t, rel, fakeEnv(refs))
	if bridle.mount("bridle-state") != cfg.StateDir {
		t.Errorf("state_dir %s is not the bridle-state volume (mounted at %q): the CA would change on every restart",
			cfg.StateDir, bridle.mount("bridle-state"))
	}
	u, err := url.Parse(cfg.Redis.URL)
	if err != nil || u.Port() != "6379" {
		t.Fatalf("redis.url %q: want redis://<service>:6379/...", cfg.Redis.URL)
	}
	if _, ok := c.Services[u.Hostname()]; !ok || u.Hostname() != "redis" {
		t.Errorf("redis.url names host %q, want the compose service redis", u.Hostname())
	}
}
