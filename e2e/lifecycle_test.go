package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGINT stops bridle and its Envoy cleanly and removes endpoints.json, so
// `bridle run` no longer points at a dead proxy.
func TestSIGINTStopsEverything(t *testing.T) {
	g, _ := githubGateway(t)
	envoy := g.envoyPID()
	if envoy == 0 {
		t.Fatal("no envoy child found")
	}
	g.stopped = true // this test does the stopping
	if err := g.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		g.cmd.Process.Kill()
		t.Fatal("bridle did not stop within 10 s of SIGINT")
	}
	waitGone(t, envoy)
	if _, err := os.Stat(filepath.Join(g.dir, ".bridle", "endpoints.json")); !os.IsNotExist(err) {
		t.Errorf("endpoints.json left behind (%v)", err)
	}
}

// Even a SIGKILLed bridle leaves no Envoy behind (the kernel kills it via
// the parent-death signal), so a crash cannot leave an unsupervised proxy.
func TestKilledBridleLeavesNoEnvoy(t *testing.T) {
	g, _ := githubGateway(t)
	envoy := g.envoyPID()
	if envoy == 0 {
		t.Fatal("no envoy child found")
	}
	g.kill()
	waitGone(t, envoy)
}

// If Envoy dies, the supervisor restarts it and traffic flows again.
func TestEnvoyIsRestartedBySupervisor(t *testing.T) {
	g, _ := githubGateway(t)
	old := g.envoyPID()
	if old <= 0 {
		t.Fatal("no envoy child found") // never kill(0): that is our own process group
	}
	syscall.Kill(old, syscall.SIGKILL)
	// The supervisor waits 1 s before the restart: meanwhile /readyz says
	// the gateway cannot serve.
	sawNotReady := false
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if status, body := g.apiGet(t, "", "/readyz"); status == 503 && strings.Contains(body, "envoy is not running") {
			sawNotReady = true
		}
		if pid := g.envoyPID(); pid != 0 && pid != old {
			if resp, err := g.client(g.agentProxy()).Get("https://api.github.com/again"); err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				if !strings.Contains(g.out.String(), "envoy exited; restarting") {
					t.Error("restart not logged")
				}
				if !sawNotReady {
					t.Error("/readyz never reported the dead Envoy")
				}
				if status, _ := g.apiGet(t, "", "/readyz"); status != 200 {
					t.Errorf("/readyz %d after the restart", status)
				}
				if _, metrics := g.apiGet(t, "", "/metrics"); !strings.Contains(metrics, "bridle_envoy_restarts_total 1\n") {
					t.Errorf("bridle_envoy_restarts_total is not 1:\n%s", metrics)
				}
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("envoy was not restarted, or traffic did not resume")
}

// Envoy's access log entries reach bridle's sink carrying the decision id
// of the Check that let the request through.
func TestAccessLogCarriesDecisionID(t *testing.T) {
	g, _ := githubGateway(t)
	_, _, hdr := g.curl("-x", g.agentProxy().String(), "https://api.github.com/logged")
	id := hdr.Get("x-bridle-decision-id")
	if len(id) != 32 {
		t.Fatalf("no decision id: %v", hdr)
	}
	re := regexp.MustCompile(`msg=access log=mitm decision_id=` + id + `.* status=200`)
	deadline := time.Now().Add(10 * time.Second) // Envoy flushes access logs every second
	for time.Now().Before(deadline) {
		if re.MatchString(g.out.String()) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("no access log entry for decision %s in:\n%s", id, g.out.String())
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("envoy (pid %d) still running", pid)
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
