package statedir

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestNewTokenFormatAndHash(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, sum := NewToken()
		if !regexp.MustCompile(`^brd_[a-z2-7]{52}$`).MatchString(tok) {
			t.Fatalf("token %q: want brd_ + 52 base32 characters (32 random bytes)", tok)
		}
		h := sha256.Sum256([]byte(tok))
		if sum != hex.EncodeToString(h[:]) {
			t.Fatal("hash does not match token")
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestEnsureTightensPermissions(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "state"))
	if err := os.MkdirAll(string(d), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(string(d))
	if info.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", info.Mode().Perm())
	}
}

func TestEndpointsRoundTrip(t *testing.T) {
	d := Dir(t.TempDir())
	if _, err := d.ReadEndpoints(); err == nil {
		t.Error("read endpoints that were never written")
	}
	want := Endpoints{Proxy: "127.0.0.1:3128", API: "127.0.0.1:3180", PID: 42}
	if err := d.WriteEndpoints(want); err != nil {
		t.Fatal(err)
	}
	got, err := d.ReadEndpoints()
	if err != nil || got != want {
		t.Errorf("got %+v, %v", got, err)
	}
	d.RemoveEndpoints()
	if _, err := d.ReadEndpoints(); err == nil {
		t.Error("endpoints still readable after removal")
	}
}

func TestDevTokens(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "s"))
	if agents, err := d.DevAgents(); err != nil || len(agents) != 0 {
		t.Errorf("%v %v", agents, err)
	}
	for _, a := range []string{"b", "a"} {
		if err := d.StoreDevToken(a, "brd_"+a); err != nil {
			t.Fatal(err)
		}
	}
	agents, _ := d.DevAgents()
	if len(agents) != 2 || agents[0] != "a" {
		t.Errorf("agents %v", agents)
	}
	if tok, err := d.DevToken("a"); tok != "brd_a" || err != nil {
		t.Errorf("%q %v", tok, err)
	}
	info, _ := os.Stat(filepath.Join(string(d), "agents", "a.token"))
	if info.Mode().Perm() != 0o600 {
		t.Errorf("token mode %v", info.Mode().Perm())
	}
}

func TestSchemes(t *testing.T) {
	tests := []struct {
		e            Endpoints
		proxy, apiSc string
	}{
		{Endpoints{}, "http", "http"},
		{Endpoints{APITLS: true}, "http", "https"},
		{Endpoints{ProxyTLS: true}, "https", "http"},
		{Endpoints{APITLS: true, ProxyTLS: true}, "https", "https"},
	}
	for _, tt := range tests {
		if got := tt.e.ProxyScheme(); got != tt.proxy {
			t.Errorf("%+v: proxy scheme %s, want %s", tt.e, got, tt.proxy)
		}
		if got := tt.e.APIScheme(); got != tt.apiSc {
			t.Errorf("%+v: API scheme %s, want %s", tt.e, got, tt.apiSc)
		}
	}
}
