package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of masters without replicas, each a Server.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n cluster-enabled redis-servers, splits the 16384 hash
// slots between them, and waits until every node reports the cluster ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	dir := t.TempDir()
	c := &Cluster{}
	for i := range n {
		c.Nodes = append(c.Nodes, start(t, "", "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(i)+".conf"),
			"--cluster-node-timeout", "5000", "--dir", dir))
	}
	const slots = 16384
	for i, s := range c.Nodes {
		from, to := i*slots/n, (i+1)*slots/n-1
		if _, err := command(s.Addr(), fmt.Sprintf("CLUSTER ADDSLOTSRANGE %d %d", from, to)); err != nil {
			t.Fatalf("assigning slots: %v", err)
		}
		if i > 0 {
			if _, err := command(s.Addr(), fmt.Sprintf("CLUSTER MEET 127.0.0.1 %d", c.Nodes[0].port)); err != nil {
				t.Fatalf("joining the cluster: %v", err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range c.Nodes {
		for {
			info, err := command(s.Addr(), "CLUSTER INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") &&
				strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)+"\r\n") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not ok after 20s: %q, %v", info, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

// Addrs lists the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		addrs[i] = s.Addr()
	}
	return addrs
}

// StartSentinel starts a Redis Sentinel that monitors primary under name,
// and waits until it names primary's address.
func StartSentinel(t testing.TB, primary *Server, name string) *Server {
	t.Helper()
	// Sentinel rewrites its config file, so each one gets its own.
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	rule := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", name, primary.port)
	if err := os.WriteFile(conf, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, conf, "--sentinel")
	want := "127.0.0.1 " + strconv.Itoa(primary.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		addr, err := command(s.Addr(), "SENTINEL GET-MASTER-ADDR-BY-NAME "+name)
		if err == nil && addr == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sentinel does not name the primary after 10s: %q, %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s
}
