package deploycheck

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// namespaceLabel is the label Kubernetes puts on every Namespace with its
// name; the policies select namespaces by it.
const namespaceLabel = "kubernetes.io/metadata.name"

// policiesFor returns the specs of the NetworkPolicies in namespace that
// select pods with labels and govern direction (Ingress or Egress).
func (c *cluster) policiesFor(t *testing.T, namespace string, labels map[string]string, direction string) []networkPolicySpec {
	t.Helper()
	var out []networkPolicySpec
	for _, o := range c.objects {
		if o.Kind != "NetworkPolicy" || o.Metadata.Namespace != namespace {
			continue
		}
		s := spec[networkPolicySpec](t, o)
		if s.PodSelector.matches(labels) && slices.Contains(s.PolicyTypes, direction) {
			out = append(out, s)
		}
	}
	return out
}

// peerIs reports whether a policy peer selects exactly the pods with labels
// in namespace and nothing broader: both selectors set, no IP block.
func peerIs(p policyPeer, policyNS, namespace string, labels map[string]string) bool {
	if p.IPBlock != nil || p.PodSelector == nil || len(p.PodSelector.MatchLabels) == 0 || !p.PodSelector.matches(labels) {
		return false
	}
	if p.NamespaceSelector == nil {
		return policyNS == namespace
	}
	ns := p.NamespaceSelector.MatchLabels
	return len(ns) == 1 && ns[namespaceLabel] == namespace && len(p.NamespaceSelector.MatchExpressions) == 0
}

// portList writes a rule's ports as protocol/port ("TCP/3128").
func portList(ports []policyPort) []string {
	var out []string
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		out = append(out, proto+"/"+p.Port.Value)
	}
	return out
}

// portsAre reports whether a rule opens exactly the given ports; a rule
// without ports opens every port.
func portsAre(ports []policyPort, want ...string) bool {
	return len(ports) > 0 && sameSet(portList(ports), want) == ""
}

// describe writes a policy peer for error messages.
func (p policyPeer) describe() string {
	var parts []string
	if p.NamespaceSelector != nil {
		parts = append(parts, fmt.Sprintf("namespaces %v", p.NamespaceSelector.MatchLabels))
	}
	if p.PodSelector != nil {
		parts = append(parts, fmt.Sprintf("pods %v", p.PodSelector.MatchLabels))
	}
	if p.IPBlock != nil {
		parts = append(parts, "an IP block")
	}
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, " / ")
}

var kubeDNS = map[string]string{"k8s-app": "kube-dns"}

func TestK8sAgentPodsCanOnlyReachTheProxyAndDNS(t *testing.T) {
	c := loadCluster(t)
	p := defaultPorts(t)
	aw, _ := c.workload(t, "Deployment", "agents", "example-agent")
	agentLabels := aw.Template.Metadata.Labels
	ew, envoyC := c.workload(t, "Deployment", "bridle", "bridle-envoy")
	envoyLabels := ew.Template.Metadata.Labels
	c.find(t, "Namespace", "", "agents")
	c.find(t, "Namespace", "", "bridle")

	policies := c.policiesFor(t, "agents", agentLabels, "Egress")
	if len(policies) == 0 {
		t.Fatalf("no NetworkPolicy restricts the egress of agent pods (labels %v)", agentLabels)
	}
	proxy := fmt.Sprint("TCP/", p.proxy)
	if !envoyC.listens(int(p.proxy)) {
		t.Errorf("Envoy pods do not listen on the proxy port %d the policy opens", p.proxy)
	}
	var toProxy bool
	// Policies add up: every egress rule of every policy that selects agent
	// pods must lead to the proxy or to DNS, nowhere else.
	for _, s := range policies {
		for i, r := range s.Egress {
			if len(r.To) == 0 {
				t.Errorf("egress rule %d allows every destination", i)
			}
			for _, peer := range r.To {
				switch {
				case peerIs(peer, "agents", "bridle", envoyLabels):
					if !portsAre(r.Ports, proxy) {
						t.Errorf("egress rule %d to the Envoy pods opens %v, want only %s", i, portList(r.Ports), proxy)
					}
					toProxy = true
				case peerIs(peer, "agents", "kube-system", kubeDNS):
					if !portsAre(r.Ports, "UDP/53", "TCP/53") && !portsAre(r.Ports, "UDP/53") {
						t.Errorf("egress rule %d to cluster DNS opens %v, want only port 53", i, portList(r.Ports))
					}
				default:
					t.Errorf("egress rule %d lets agent pods reach %s: only the proxy and DNS are allowed", i, peer.describe())
				}
			}
		}
	}
	if !toProxy {
		t.Error("agent pods cannot reach the Envoy pods on the proxy port")
	}
}

func TestK8sOnlyEnvoyReachesXDSAndExtAuthz(t *testing.T) {
	c := loadCluster(t)
	p := defaultPorts(t)
	bw, _ := c.workload(t, "Deployment", "bridle", "bridle")
	ew, _ := c.workload(t, "Deployment", "bridle", "bridle-envoy")
	policies := c.policiesFor(t, "bridle", bw.Template.Metadata.Labels, "Ingress")
	if len(policies) == 0 {
		t.Fatal("no NetworkPolicy restricts who reaches the Bridle pods: xDS carries MITM keys, ext_authz answers with credentials")
	}
	control := []string{fmt.Sprint(p.xds), fmt.Sprint(p.authz)}
	for _, s := range policies {
		for i, r := range s.Ingress {
			var opensControl bool
			for _, port := range r.Ports {
				opensControl = opensControl || slices.Contains(control, port.Port.Value)
			}
			if len(r.Ports) == 0 || opensControl {
				for _, peer := range r.From {
					if !peerIs(peer, "bridle", "bridle", ew.Template.Metadata.Labels) {
						t.Errorf("ingress rule %d opens xDS/ext_authz to %s: only the Envoy pods may connect", i, peer.describe())
					}
				}
				if len(r.From) == 0 {
					t.Errorf("ingress rule %d opens xDS/ext_authz to every source", i)
				}
			}
		}
	}
}
