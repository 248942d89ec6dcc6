package deploycheck

import (
	"bytes"
	"errors"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// deploy/k8s is read the way kustomize reads it (the resources of
// kustomization.yaml, plus example-agent.yaml), into the subset of
// Kubernetes objects the checks look at.

type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec yaml.Node `yaml:"spec"`
	file string
}

type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []yaml.Node       `yaml:"matchExpressions"`
}

// matches reports whether the selector selects labels (matchLabels only:
// the manifests use no expressions, and a check that met one fails).
func (s labelSelector) matches(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return len(s.MatchExpressions) == 0
}

type workloadSpec struct {
	Replicas int           `yaml:"replicas"`
	Selector labelSelector `yaml:"selector"`
	Template struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec podSpec `yaml:"spec"`
	} `yaml:"template"`
	VolumeClaimTemplates []struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	} `yaml:"volumeClaimTemplates"`
}

type podSpec struct {
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
	SecurityContext              struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string `yaml:"name"`
			Items []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []envVar `yaml:"env"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path   string    `yaml:"path"`
		Port   yaml.Node `yaml:"port"`
		Scheme string    `yaml:"scheme"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port yaml.Node `yaml:"port"`
	} `yaml:"tcpSocket"`
}

// port resolves a port given by number or by name against c's ports.
func (c container) port(n yaml.Node) int {
	if p, err := strconv.Atoi(n.Value); err == nil {
		return p
	}
	for _, p := range c.Ports {
		if p.Name == n.Value {
			return p.ContainerPort
		}
	}
	return 0
}

// listens reports whether c declares containerPort port.
func (c container) listens(port int) bool {
	for _, p := range c.Ports {
		if p.ContainerPort == port {
			return true
		}
	}
	return false
}

// env returns the plain value of an environment variable, or "".
func (c container) env(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

type serviceSpec struct {
	ClusterIP string            `yaml:"clusterIP"`
	Selector  map[string]string `yaml:"selector"`
	Ports     []struct {
		Name       string    `yaml:"name"`
		Port       int       `yaml:"port"`
		TargetPort yaml.Node `yaml:"targetPort"`
	} `yaml:"ports"`
}

type policyPeer struct {
	PodSelector       *labelSelector `yaml:"podSelector"`
	NamespaceSelector *labelSelector `yaml:"namespaceSelector"`
	IPBlock           *yaml.Node     `yaml:"ipBlock"`
}

type policyPort struct {
	Protocol string    `yaml:"protocol"`
	Port     yaml.Node `yaml:"port"`
}

type policyRule struct {
	From  []policyPeer `yaml:"from"`
	To    []policyPeer `yaml:"to"`
	Ports []policyPort `yaml:"ports"`
}

type networkPolicySpec struct {
	PodSelector labelSelector `yaml:"podSelector"`
	PolicyTypes []string      `yaml:"policyTypes"`
	Ingress     []policyRule  `yaml:"ingress"`
	Egress      []policyRule  `yaml:"egress"`
}

type kustomization struct {
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name      string   `yaml:"name"`
		Namespace string   `yaml:"namespace"`
		Files     []string `yaml:"files"`
	} `yaml:"configMapGenerator"`
	Images []struct {
		Name string `yaml:"name"`
	} `yaml:"images"`
}

// sets reports whether the kustomization sets the tag of image name.
func (k kustomization) sets(name string) bool {
	for _, i := range k.Images {
		if i.Name == name {
			return true
		}
	}
	return false
}

// cluster is deploy/k8s as kustomize would see it.
type cluster struct {
	objects []object
	kust    kustomization
}

const k8sDir = "deploy/k8s"

func loadCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{}
	decodeYAML(t, k8sDir+"/kustomization.yaml", &c.kust)
	files := append(slices.Clone(c.kust.Resources), "example-agent.yaml")
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader(read(t, k8sDir+"/"+f)))
		for {
			var o object
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s/%s: %v", k8sDir, f, err)
			}
			if o.Kind == "" {
				continue
			}
			if o.Kind == "Secret" {
				t.Errorf("%s/%s commits a Secret (%s): secrets are created by the operator, never kept in the repo", k8sDir, f, o.Metadata.Name)
			}
			o.file = f
			c.objects = append(c.objects, o)
		}
	}
	return c
}

func (c *cluster) find(t *testing.T, kind, namespace, name string) object {
	t.Helper()
	for _, o := range c.objects {
		if o.Kind == kind && o.Metadata.Namespace == namespace && o.Metadata.Name == name {
			return o
		}
	}
	t.Fatalf("%s has no %s %s/%s", k8sDir, kind, namespace, name)
	return object{}
}

func spec[T any](t *testing.T, o object) T {
	t.Helper()
	var s T
	if err := o.Spec.Decode(&s); err != nil {
		t.Fatalf("%s %s/%s (%s): %v", o.Kind, o.Metadata.Namespace, o.Metadata.Name, o.file, err)
	}
	return s
}

// workload returns a Deployment or StatefulSet's spec and its only
// container.
func (c *cluster) workload(t *testing.T, kind, namespace, name string) (workloadSpec, container) {
	t.Helper()
	w := spec[workloadSpec](t, c.find(t, kind, namespace, name))
	if len(w.Template.Spec.Containers) != 1 {
		t.Fatalf("%s %s has %d containers, want 1", kind, name, len(w.Template.Spec.Containers))
	}
	return w, w.Template.Spec.Containers[0]
}

// generated returns the repository path of the file with the given base name
// from which kustomize generates ConfigMap name in namespace, if it does.
func (c *cluster) generated(namespace, name, file string) (string, bool) {
	for _, g := range c.kust.ConfigMapGenerator {
		if g.Name == name && g.Namespace == namespace {
			for _, f := range g.Files {
				if path.Base(f) == file {
					return k8sDir + "/" + f, true
				}
			}
		}
	}
	return "", false
}

// dnsName is the in-cluster name of a Service.
func dnsName(namespace, service string) string {
	return service + "." + namespace + ".svc.cluster.local"
}

// checkService finds the Service a cluster-local host:port names and checks
// it selects the pods with podLabels and forwards the port to containerPort
// of ctr.
func (c *cluster) checkService(t *testing.T, host string, port int, podLabels map[string]string, ctr container, containerPort int) serviceSpec {
	t.Helper()
	name, rest, ok := strings.Cut(host, ".")
	namespace, suffix, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || suffix != "svc.cluster.local" {
		t.Fatalf("%q is not a Service's cluster DNS name (<service>.<namespace>.svc.cluster.local)", host)
	}
	s := spec[serviceSpec](t, c.find(t, "Service", namespace, name))
	if !(labelSelector{MatchLabels: s.Selector}).matches(podLabels) || len(s.Selector) == 0 {
		t.Errorf("Service %s selects %v, which are not the labels %v of the pods behind it", name, s.Selector, podLabels)
	}
	for _, p := range s.Ports {
		if p.Port == port {
			if got := ctr.port(p.TargetPort); got != containerPort {
				t.Errorf("Service %s port %d goes to container port %d, want %d", name, port, got, containerPort)
			}
			return s
		}
	}
	t.Errorf("Service %s has no port %d", name, port)
	return s
}
