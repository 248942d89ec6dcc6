package connectors

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"reflect"
	"strconv"
	"testing"
)

// P is a params map in golden rows.
type P = map[string]any

// golden is one row of a connector's golden table: request → action.
type golden struct {
	name   string
	method string
	path   string
	body   string
	action string
	params P
}

// goldenTables lists every golden table by connector type, so one test can
// check that each built-in action has a row.
var goldenTables = map[string][]golden{}

// newTestConnector builds a registry with one connector and returns it.
func newTestConnector(t testing.TB, spec Spec) *Connector {
	t.Helper()
	reg, err := New([]Spec{spec})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return reg.Connectors()[0]
}

// testRequest builds a request with Content-Length and Content-Type set.
func testRequest(c *Connector, method, path, body, contentType string) Request {
	h := http.Header{}
	if body != "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
		h.Set("Content-Type", contentType)
	}
	return Request{Agent: "agent-1", Method: method, Host: c.Hosts()[0], Path: path, Header: h, Body: []byte(body), BodyBuffered: true}
}

func runGolden(t *testing.T, spec Spec, contentType string, rows []golden) {
	t.Helper()
	c := newTestConnector(t, spec)
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Parse(testRequest(c, tt.method, tt.path, tt.body, contentType))
			if err != nil {
				t.Fatalf("Parse(%s %s): %v", tt.method, tt.path, err)
			}
			if got.Type != tt.action {
				t.Errorf("action: got %q, want %q", got.Type, tt.action)
			}
			if sum, ok := got.Params["body_sha256"]; ok {
				want := sha256.Sum256([]byte(tt.body))
				if sum != hex.EncodeToString(want[:]) {
					t.Errorf("body_sha256: got %v, want the body's hash", sum)
				}
				delete(got.Params, "body_sha256")
			}
			want := tt.params
			if want == nil {
				want = P{}
			}
			if !reflect.DeepEqual(got.Params, want) {
				t.Errorf("params:\n got %#v\nwant %#v", got.Params, want)
			}
			if got.Connector != c.Name() || got.Agent != "agent-1" || got.Method != tt.method {
				t.Errorf("got connector %q agent %q method %q", got.Connector, got.Agent, got.Method)
			}
			if _, err := got.SpecHash(); err != nil {
				t.Errorf("SpecHash: %v", err)
			}
		})
	}
}

func TestEveryBuiltinActionHasAGoldenRow(t *testing.T) {
	tables, err := compiledTables()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for typ, routes := range tables {
		seen := map[string]bool{}
		for _, row := range goldenTables[typ] {
			seen[row.action] = true
		}
		total += len(goldenTables[typ])
		for _, r := range routes {
			if !r.graphql && !seen[r.action] {
				t.Errorf("%s: no golden row for %s %s", typ, r.method, r.action)
			}
		}
	}
	if total < 150 {
		t.Errorf("got %d golden rows, want at least 150", total)
	}
}
