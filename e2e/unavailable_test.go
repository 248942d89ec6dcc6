package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// With the decision service gone, Envoy answers 503 and never forwards:
// `bridle serve` feeds an Envoy the test runs itself, then the test kills
// bridle while that Envoy keeps running on its last config.
func TestDecisionServiceUnreachableIs503(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{serve: true, connectors: []connector{
		{name: "github", typ: "github", host: "api.github.com", up: up, credHeader: "Authorization", credValue: "Bearer x"},
	}})
	envoy := startEnvoy(t, filepath.Join(g.dir, ".bridle", "envoy-bootstrap.json"))
	if status, body, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/"); status != 200 {
		t.Fatalf("before the kill: status %d: %s", status, body)
	}
	g.kill()
	up.Reset()
	for _, target := range []string{"https://api.github.com/", "http://api.github.com/"} {
		status, body, _ := g.curl("-x", g.agentProxy().String(), target)
		if status != 503 {
			t.Errorf("%s: status %d, want 503: %s", target, status, body)
		}
	}
	if len(up.Seen()) != 0 {
		t.Errorf("upstream reached while the decision service was down")
	}
	if envoy.ProcessState != nil {
		t.Errorf("envoy exited when the control plane went away")
	}
}

// A decision service that hangs past the ext_authz timeout is a 503 too,
// inside an already-open tunnel as well as for new ones.
func TestDecisionServiceTimeoutIs503(t *testing.T) {
	g, up := githubGateway(t)
	client := g.client(g.agentProxy())
	resp, err := client.Get("https://api.github.com/warm")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	up.Reset()
	if err := syscall.Kill(g.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(g.cmd.Process.Pid, syscall.SIGCONT)
	waitStopped(t, g.cmd.Process.Pid)
	start := time.Now()
	resp, err = client.Get("https://api.github.com/in-open-tunnel")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("in an open tunnel: status %d, want 503", resp.StatusCode)
	}
	if status, body, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/new-tunnel"); status != 503 {
		t.Errorf("new tunnel: status %d, want 503: %s", status, body)
	}
	t.Logf("503 after %s with the decision service stopped", time.Since(start).Round(time.Millisecond))
	if len(up.Seen()) != 0 {
		t.Errorf("upstream reached while the decision service hung")
	}
}

// startEnvoy runs an Envoy the test owns from a bootstrap file and waits
// for its listeners.
func startEnvoy(t *testing.T, bootstrap string) *exec.Cmd {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "envoy.log"))
	if err != nil {
		t.Fatal(err)
	}
	addrFile := filepath.Join(t.TempDir(), "admin.addr")
	cmd := exec.Command(envoyBin, "-c", bootstrap, "--use-dynamic-base-id", "--admin-address-path", addrFile, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile.Name())
			t.Logf("envoy log:\n%s", b)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			if resp, err := http.Get("http://" + string(b) + "/ready"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return cmd
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("envoy did not become ready")
	return nil
}

// waitStopped waits until every thread of pid is stopped: SIGSTOP is
// delivered asynchronously, and a thread still running could answer one
// more Check.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		stopped := len(tasks) > 0
		for _, task := range tasks {
			b, err := os.ReadFile(task)
			// The state follows the parenthesised command name.
			if i := strings.LastIndexByte(string(b), ')'); err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
			}
		}
		if stopped {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("bridle did not stop")
}
