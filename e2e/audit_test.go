package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/audit"
)

// Every decision lands in the audit log, joined with Envoy's access log
// (status of the upstream's answer), and no secret the agent sent or the
// gateway injected is stored anywhere in the database files.
func TestDecisionsAreRecordedWithoutSecrets(t *testing.T) {
	g, _ := githubGateway(t)
	const canary = "CANARY7f3e"
	_, _, allowHdr := g.curl("-x", g.agentProxy().String(), "-H", "Authorization: Bearer "+canary+"-auth", "-H", "Cookie: s="+canary+"-cookie",
		"-d", `{"body":"`+canary+`-body"}`, "https://api.github.com/repos/acme/api/issues?token="+canary+"-query&state=open")
	_, _, denyHdr := g.curl("-x", g.proxyURL(nil).String(), "http://api.github.com/user?access_token="+canary+"-query2")
	allowID, denyID := allowHdr.Get("x-bridle-decision-id"), denyHdr.Get("x-bridle-decision-id")
	time.Sleep(2500 * time.Millisecond) // Envoy flushes access logs every second
	g.stop()

	dbPath := filepath.Join(g.dir, ".bridle", "audit.db")
	store, err := audit.Open(context.Background(), dbPath, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	page, err := store.Query(context.Background(), audit.Filter{Limit: 100})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]audit.Record{}
	for _, r := range page.Records {
		byID[r.DecisionID] = r
	}
	a, ok := byID[allowID]
	if !ok || a.Decision != "allow" || a.Action != "github.issue.create" || a.Agent != g.agent {
		t.Errorf("allow record %+v (found %v)", a, ok)
	}
	if !a.Responded || a.Status != 200 {
		t.Errorf("allow record not joined with the access log: responded=%v status=%d", a.Responded, a.Status)
	}
	if d, ok := byID[denyID]; !ok || d.Decision != "deny" || d.Reason != "unauthenticated" || d.Status != 407 {
		t.Errorf("deny record %+v (found %v)", d, ok)
	}
	if len(page.Records) < 3 { // the CONNECT's own decision is recorded too
		t.Errorf("%d records, want the CONNECT, the request and the plain deny", len(page.Records))
	}
	logs := []byte(g.out.String())
	for _, id := range []string{allowID, denyID} { // written by the stop, if held back
		if !bytes.Contains(logs, []byte("decision_id="+id)) {
			t.Errorf("no decision line %s in bridle's log, so the check below proves nothing", id)
		}
	}
	if envoyLog, err := os.ReadFile(filepath.Join(g.dir, ".bridle", "envoy.log")); err == nil {
		logs = append(logs, envoyLog...)
	}
	for _, secret := range []string{canary, g.token, secretCredential} {
		if bytes.Contains(logs, []byte(secret)) {
			t.Errorf("bridle's or Envoy's log contains a secret (%.12s…)", secret)
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(dbPath + suffix)
		if err != nil {
			continue
		}
		for _, secret := range [][]byte{[]byte(canary), []byte(g.token), []byte(secretCredential)} {
			if bytes.Contains(b, secret) {
				t.Errorf("audit.db%s contains a secret (%.12s…)", suffix, secret)
			}
		}
	}
}

// Without a format chosen, bridle writes its canonical decision lines as
// JSON objects when stderr is not a terminal (here a pipe, as under a
// container runtime or journald), one per line, with the documented fields.
func TestDecisionLinesAreJSONByDefault(t *testing.T) {
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up}},
		env:        []string{"BRIDLE_LOG_FORMAT="}, // unset: the default
	})
	if s, body, _ := g.curl("-x", g.agentProxy().String(), "https://api.github.com/repos/acme/api"); s != 200 {
		t.Fatalf("request: %d %s", s, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(g.out.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "decision" || m["phase"] != "request" {
				continue
			}
			for _, k := range []string{"time", "level", "decision_id", "decision", "reason", "agent", "connector", "action", "rule", "method", "host", "path"} {
				if _, ok := m[k]; !ok {
					t.Errorf("decision line without %q: %s", k, line)
				}
			}
			if m["decision"] != "allow" || m["level"] != "INFO" || m["action"] != "github.repo.get" {
				t.Errorf("decision line %s", line)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no JSON decision line in:\n%s", g.out.String())
}
