package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/audit"
)

// A burst of 10,000 requests through the proxy loses no decision record:
// each one is in the audit log, counted after bridle has stopped (the
// writer drains its queue on the way out), and the drop counter says 0.
func TestBurstLosesNoAuditRecord(t *testing.T) {
	const requests, workers = 10000, 32
	up := newUpstream(t, "api.github.com")
	g := startGateway(t, gatewayOpts{agentYAML: "rate_limit: {requests: 1000000, per: 60s}", // the default 120/min would answer 429s
		connectors: []connector{{name: "github", typ: "github", host: "api.github.com", up: up}}})

	var next, allowed atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	others := map[string]int{} // status and reason of anything not allowed
	start := time.Now()
	for range workers {
		wg.Go(func() {
			c := g.client(g.agentProxy()) // one tunnel per worker, kept alive
			for next.Add(1) <= requests {
				resp, err := c.Get("https://api.github.com/repos/acme/api")
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					allowed.Add(1)
					continue
				}
				mu.Lock()
				others[fmt.Sprintf("%d %.80s", resp.StatusCode, body)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d requests in %v", requests, time.Since(start).Round(time.Millisecond))
	if allowed.Load() != requests {
		t.Fatalf("%d of %d requests allowed; the test needs every one decided the same way; the others: %v", allowed.Load(), requests, others)
	}
	_, metrics := g.apiGet(t, "", "/metrics")
	g.stop()

	store, err := audit.Open(context.Background(), filepath.Join(g.dir, ".bridle", "audit.db"), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	n, err := countRecords(store, audit.Filter{Agent: g.agent, Action: "github.repo.get", Decision: audit.DecisionAllow})
	if err != nil {
		t.Fatal(err)
	}
	if n != requests {
		t.Errorf("%d request records in the audit log, want %d", n, requests)
	}
	if !strings.Contains(metrics, "\nbridle_audit_dropped_total 0\n") {
		t.Errorf("records were dropped during the burst:\n%.3000s", metrics)
	}
}

// countRecords pages through every record matching f.
func countRecords(s *audit.Store, f audit.Filter) (int, error) {
	f.Limit = 1000
	n := 0
	for {
		page, err := s.Query(context.Background(), f)
		if err != nil {
			return n, err
		}
		n += len(page.Records)
		if page.NextCursor == "" {
			return n, nil
		}
		f.Cursor = page.NextCursor
	}
}
