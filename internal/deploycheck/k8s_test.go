package deploycheck

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/config"
)

func TestK8sKustomizationNamesFilesThatExist(t *testing.T) {
	c := loadCluster(t)
	for _, g := range c.kust.ConfigMapGenerator {
		for _, f := range g.Files {
			read(t, k8sDir+"/"+f)
		}
	}
	_, bridle := c.workload(t, "Deployment", "bridle", "bridle")
	image, _, _ := strings.Cut(bridle.Image, ":")
	if !c.kust.sets(image) {
		t.Errorf("kustomization.yaml sets no tag for image %q: say which Bridle build runs", image)
	}
}

func TestK8sBridleRunsTwoServeReplicasReadyOnReadyz(t *testing.T) {
	c := loadCluster(t)
	p := defaultPorts(t)
	w, bridle := c.workload(t, "Deployment", "bridle", "bridle")
	_, cfg := c.bridleConfig(t)
	if w.Replicas != 2 {
		t.Errorf("Deployment bridle has %d replicas, want 2", w.Replicas)
	}
	if len(bridle.Args) == 0 || bridle.Args[0] != "serve" {
		t.Errorf("bridle container runs %v, want `bridle serve`", bridle.Args)
	}
	for _, want := range []int{int(p.api), int(p.xds), int(p.authz)} {
		if !bridle.listens(want) {
			t.Errorf("bridle container does not declare port %d (Bridle's default)", want)
		}
	}
	for _, tc := range []struct {
		name string
		pr   *probe
		path string
	}{
		{"readiness", bridle.ReadinessProbe, "/readyz"},
		{"liveness", bridle.LivenessProbe, "/healthz"},
	} {
		if tc.pr == nil || tc.pr.HTTPGet == nil {
			t.Errorf("bridle has no HTTP %s probe", tc.name)
			continue
		}
		if tc.pr.HTTPGet.Path != tc.path || bridle.port(tc.pr.HTTPGet.Port) != int(p.api) {
			t.Errorf("bridle %s probe gets %s on port %d, want %s on the API port %d",
				tc.name, tc.pr.HTTPGet.Path, bridle.port(tc.pr.HTTPGet.Port), tc.path, p.api)
		}
		if scheme := tc.pr.HTTPGet.Scheme; (scheme == "HTTPS") != cfg.Listen.ControlPlaneTLS() {
			t.Errorf("bridle %s probe uses scheme %q, but the API serves TLS: %v (listen.tls %s, API on %s)",
				tc.name, scheme, cfg.Listen.ControlPlaneTLS(), cfg.Listen.TLS, cfg.Listen.API)
		}
	}
	c.checkService(t, dnsName("bridle", "bridle-api"), int(p.api), w.Template.Metadata.Labels, bridle, int(p.api))
}

// bridleConfig finds the config the bridle Deployment runs (--config, in a
// generated ConfigMap) and validates it with stand-ins for the variables it
// reads.
func (c *cluster) bridleConfig(t *testing.T) (string, *config.Config) {
	t.Helper()
	w, bridle := c.workload(t, "Deployment", "bridle", "bridle")
	cfgPath := flag(bridle.Args, "--config")
	var volume string
	for _, m := range bridle.VolumeMounts {
		if m.MountPath == path.Dir(cfgPath) {
			volume = m.Name
		}
	}
	for _, v := range w.Template.Spec.Volumes {
		if v.Name == volume && v.ConfigMap != nil {
			rel, ok := c.generated("bridle", v.ConfigMap.Name, path.Base(cfgPath))
			if !ok {
				t.Fatalf("--config %s is not a file of the generated ConfigMap %s", cfgPath, v.ConfigMap.Name)
			}
			return rel, validateConfig(t, rel, fakeEnv(envRefs(t, rel)))
		}
	}
	t.Fatalf("--config %q is not mounted from a ConfigMap", cfgPath)
	return "", nil
}

func TestK8sBridleConfigComesFromTheConfigMapAndSecretsFromASecret(t *testing.T) {
	c := loadCluster(t)
	_, bridle := c.workload(t, "Deployment", "bridle", "bridle")
	rel, _ := c.bridleConfig(t)
	for _, name := range envRefs(t, rel) {
		i := slices.IndexFunc(bridle.Env, func(e envVar) bool { return e.Name == name })
		switch {
		case i < 0:
			t.Errorf("%s uses ${env:%s}, which the bridle container does not set", rel, name)
		case bridle.Env[i].ValueFrom == nil && !strings.Contains(bridle.Env[i].Value, "$("):
			t.Errorf("bridle container sets %s inline; secrets come from a Secret", name)
		}
	}

	// The Redis URL is assembled from the in-cluster StatefulSet's Service.
	u, err := url.Parse(bridle.env("BRIDLE_REDIS_URL"))
	if err != nil || u.Hostname() == "" {
		t.Fatalf("BRIDLE_REDIS_URL %q: %v", bridle.env("BRIDLE_REDIS_URL"), err)
	}
	rw, redis := c.workload(t, "StatefulSet", "bridle", "bridle-redis")
	redisPort, _ := strconv.Atoi(u.Port())
	c.checkService(t, u.Hostname(), redisPort, rw.Template.Metadata.Labels, redis, 6379)
	if !strings.HasPrefix(redis.Image, "redis:7") || flag(redis.Args, "--appendonly") != "yes" || len(rw.VolumeClaimTemplates) == 0 {
		t.Errorf("Redis runs %s %v with %d volume claims, want redis:7 --appendonly yes on a persistent volume",
			redis.Image, redis.Args, len(rw.VolumeClaimTemplates))
	}
}

var (
	serviceIPRE  = regexp.MustCompile(`(\w+)=\$\(kubectl -n "\$ns" get service (\S+) -o jsonpath='\{\.spec\.clusterIP\}'\)`)
	secretRE     = regexp.MustCompile(`create secret generic (\S+)`)
	secretFileRE = regexp.MustCompile(`--from-file=([^=\s]+)=/dev/stdin`)
)

func TestK8sEnvoyRunsTheBootstrapBridlePrintsAndReachesBridleThroughServices(t *testing.T) {
	const script = k8sDir + "/envoy-bootstrap.sh"
	c := loadCluster(t)
	p := defaultPorts(t)
	ew, envoyC := c.workload(t, "Deployment", "bridle", "bridle-envoy")
	bw, bridle := c.workload(t, "Deployment", "bridle", "bridle")
	checkEnvoyImage(t, "Deployment bridle-envoy", envoyC.Image)

	text := string(read(t, script))
	cmds := bootstrapCommands(text)
	if len(cmds) != 1 {
		t.Fatalf("%s runs %d `bridle envoy bootstrap` commands, want 1", script, len(cmds))
	}
	cmd := cmds[0]
	if got, want := cmd.flags["--config"], flag(bridle.Args, "--config"); got != want {
		t.Errorf("%s: the bootstrap command reads --config %q, the bridle Deployment runs %q", script, got, want)
	}

	// The script stores the output in a Secret; Envoy runs that file.
	secret, file := secretRE.FindStringSubmatch(text), secretFileRE.FindStringSubmatch(text)
	if secret == nil || file == nil {
		t.Fatalf("%s does not store the bootstrap in a Secret from stdin", script)
	}
	cPath := flag(append(slices.Clone(envoyC.Command), envoyC.Args...), "-c")
	var mounted bool
	for _, m := range envoyC.VolumeMounts {
		for _, v := range ew.Template.Spec.Volumes {
			if v.Name != m.Name || v.Secret == nil || v.Secret.SecretName != secret[1] {
				continue
			}
			for _, it := range v.Secret.Items {
				mounted = mounted || (it.Key == file[1] && path.Join(m.MountPath, it.Path) == cPath)
			}
		}
	}
	if !mounted {
		t.Errorf("Envoy runs -c %q, which is not key %s of the Secret %s the script writes", cPath, file[1], secret[1])
	}

	// The clusters dial the ClusterIPs of Services that lead to Bridle.
	vars, services := map[string]string{}, map[string]string{}
	for i, m := range serviceIPRE.FindAllStringSubmatch(text, -1) {
		ip := fmt.Sprintf("10.96.0.%d", 10+i) // stands in for the ClusterIP
		vars[m[1]], services[ip] = ip, m[2]
	}
	rel, cfg := c.bridleConfig(t)
	b := renderBootstrap(t, rel, cmd.request(t, vars))
	eps, admin := checkBootstrap(t, "the bootstrap "+script+" makes", b, cfg.Listen.ControlPlaneTLS())
	for name, ep := range eps {
		svc, ok := services[ep.host]
		if !ok {
			t.Errorf("the bootstrap's cluster %s dials %s, not a Service's ClusterIP", name, ep.host)
			continue
		}
		s := c.checkService(t, dnsName("bridle", svc), int(ep.port), bw.Template.Metadata.Labels, bridle, int(ep.port))
		if s.ClusterIP == "None" {
			t.Errorf("Service %s is headless: it has no ClusterIP for the bootstrap to dial", svc)
		}
	}
	if !admin.Addr().IsLoopback() || cfg.Listen.EnvoyAdmin != admin.String() {
		t.Errorf("the bootstrap binds Envoy's admin on %s, bridle.yaml says %s; keep it on the pod's loopback", admin, cfg.Listen.EnvoyAdmin)
	}

	if envoyC.ReadinessProbe == nil || envoyC.ReadinessProbe.TCPSocket == nil ||
		envoyC.port(envoyC.ReadinessProbe.TCPSocket.Port) != int(p.proxy) {
		t.Errorf("Envoy is not ready on its proxy port %d (the listener exists only once Bridle served it)", p.proxy)
	}
	c.checkService(t, dnsName("bridle", "bridle-proxy"), int(p.proxy), ew.Template.Metadata.Labels, envoyC, int(p.proxy))
}

func TestK8sPodsRunNonRootOnReadOnlyRootFilesystemsWithLimits(t *testing.T) {
	c := loadCluster(t)
	for _, o := range c.objects {
		if o.Kind != "Deployment" && o.Kind != "StatefulSet" {
			continue
		}
		w := spec[workloadSpec](t, o)
		where := fmt.Sprintf("%s %s/%s", o.Kind, o.Metadata.Namespace, o.Metadata.Name)
		if !w.Selector.matches(w.Template.Metadata.Labels) || len(w.Selector.MatchLabels) == 0 {
			t.Errorf("%s: selector %v does not select its own pods %v", where, w.Selector.MatchLabels, w.Template.Metadata.Labels)
		}
		ps := w.Template.Spec
		if ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod securityContext.runAsNonRoot is not true", where)
		}
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("%s: mounts a service account token it has no use for", where)
		}
		for _, ctr := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
			sc := ctr.SecurityContext
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
				t.Errorf("%s container %s: want readOnlyRootFilesystem, no privilege escalation, all capabilities dropped", where, ctr.Name)
			}
			for _, res := range []string{"cpu", "memory"} {
				if ctr.Resources.Requests[res] == "" || ctr.Resources.Limits[res] == "" {
					t.Errorf("%s container %s: no %s request and limit", where, ctr.Name, res)
				}
			}
		}
	}
	for _, o := range c.objects {
		if o.Kind == "PodDisruptionBudget" {
			sel := spec[struct {
				Selector labelSelector `yaml:"selector"`
			}](t, o).Selector
			w := spec[workloadSpec](t, c.find(t, "Deployment", o.Metadata.Namespace, o.Metadata.Name))
			if !sel.matches(w.Template.Metadata.Labels) {
				t.Errorf("PodDisruptionBudget %s selects %v, not its Deployment's pods", o.Metadata.Name, sel.MatchLabels)
			}
		}
	}
}
