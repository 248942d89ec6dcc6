package e2e

// Faults of the audit store (issue #10): decisions go on, losses are counted.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the audit store's driver, to hold its lock from the test
)

// holdAuditLock takes SQLite's write lock on the audit database and keeps
// it until release is called, as another process (a backup tool, a stuck
// sqlite3 shell) could.
func holdAuditLock(t *testing.T, path string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("locking %s: %v", path, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// auditFaultTraffic sends allowed and unauthenticated requests while the
// audit store cannot be written: every decision is made as usual and fast.
func auditFaultTraffic(t *testing.T, g *gateway, up *upstream, n int) {
	t.Helper()
	up.Reset()
	client := g.client(g.agentProxy())
	var slowest time.Duration
	for i := range n {
		a, err := do(client, "GET", fmt.Sprintf("https://api.github.com/repos/acme/api?i=%d", i))
		if err != nil || a.status != 200 || a.decisionID == "" {
			t.Fatalf("allowed request %d with the audit store failing: %v %v", i, a, err)
		}
		d, err := do(g.client(g.proxyURL(nil)), "GET", "http://api.github.com/repos/acme/api")
		if err != nil || d.status != 407 || d.reason != "unauthenticated" {
			t.Fatalf("unauthenticated request %d with the audit store failing: %v %v", i, d, err)
		}
		slowest = max(slowest, a.took, d.took)
	}
	t.Logf("%d allowed + %d denied decisions with the audit store failing; slowest %s", n, n, slowest.Round(time.Millisecond))
	if slowest > time.Second {
		t.Errorf("a decision took %s: the audit store is on the decision path", slowest)
	}
	if got := len(up.Seen()); got != n {
		t.Errorf("upstream saw %d requests, want %d", got, n)
	}
}

// assertAuditLossCounted waits for the writer to give up on a batch, then
// checks the loss is logged and visible in /metrics.
func assertAuditLossCounted(t *testing.T, g *gateway) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second) // busy_timeout is 5 s
	for g.countLines("audit batch lost") == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if g.countLines("audit batch lost") == 0 {
		t.Fatalf("no \"audit batch lost\" log line; output:\n%s", g.out.String())
	}
	t.Logf("logged: %s", g.waitLog(t, "audit batch lost"))
	_, metrics := g.apiGet(t, "", "/metrics")
	var counted []string
	for _, name := range []string{"bridle_audit_dropped_total", "bridle_audit_failed_total", "bridle_audit_lost_total", "bridle_audit_write_errors_total"} {
		if v := metricSum(metrics, name); v > 0 {
			counted = append(counted, fmt.Sprintf("%s=%v", name, v))
		}
	}
	if len(counted) == 0 {
		t.Errorf("records lost to a failing audit store are not counted in /metrics: bridle_audit_dropped_total = %v",
			metricSum(metrics, "bridle_audit_dropped_total"))
	} else {
		t.Logf("counted: %s", strings.Join(counted, ", "))
	}
}

// With the audit database locked by another process, decisions continue at
// full speed (writing is off the decision path), the lost batch is logged
// and counted, and records are written again once the lock is gone.
func TestFaultAuditDBLockedDecisionsContinue(t *testing.T) {
	g, up := faultGateway(t, "")
	release := holdAuditLock(t, filepath.Join(g.dir, ".bridle", "audit.db"))
	auditFaultTraffic(t, g, up, 20)
	assertAuditLossCounted(t, g)
	release()
	_, _, hdr := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/after-unlock")
	id := hdr.Get("x-bridle-decision-id")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := g.apiGet(t, g.operatorToken(t), "/api/v1/traffic?limit=50")
		if strings.Contains(body, id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decision %s never reached the audit log after the lock was released", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// With the audit database on a full filesystem (a 1 MiB tmpfs filled up
// after start), decisions continue, and the lost records are logged and
// counted. Needs root (mount); skipped otherwise.
func TestFaultAuditDiskFullDecisionsContinue(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs for the audit database")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { // registered first, so it runs after the gateway stopped
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	g, up := faultGateway(t, "audit: {path: "+filepath.Join(mnt, "audit.db")+"}")
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := filler.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	filler.Close()
	auditFaultTraffic(t, g, up, 300) // enough records to need new WAL pages
	assertAuditLossCounted(t, g)
	os.Remove(filler.Name()) // let the shutdown checkpoint succeed
}
