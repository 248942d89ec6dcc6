package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bridle-gw/bridle/internal/tokens"
)

var rotateClaims = tokens.Claims{ActionRequestID: "act_1", ActionSpecHash: strings.Repeat("ab", 32), Agent: "ci-bot"}

// stateRing makes a config whose state dir holds a signing key, and a token
// that key signed.
func stateRing(t *testing.T) (configFile, stateDir string, k *tokens.Keyring, token string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	configFile = filepath.Join(dir, "bridle.yaml")
	if err := os.WriteFile(configFile, []byte("version: 1\nstate_dir: state\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	k, err := tokens.LoadOrCreate(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err = k.Issue(rotateClaims, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return configFile, stateDir, k, token
}

// checkRotated fails unless ring has a new active key and still verifies
// token, signed by the previous one.
func checkRotated(t *testing.T, ring *tokens.Keyring, oldKID, token string) {
	t.Helper()
	if ring.KeyID() == oldKID {
		t.Fatal("the active key did not change")
	}
	if _, err := ring.Verify(token, time.Now()); err != nil {
		t.Errorf("a token the previous key signed no longer verifies: %v", err)
	}
}

func TestSigningKeyRotateInTheStateDir(t *testing.T) {
	configFile, stateDir, old, _ := stateRing(t)
	// A key retired two rotations ago, long past its Valid-Until.
	if err := old.Rotate(time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	stale := old.Retired()[0].KID
	token, _, _ := old.Issue(rotateClaims, time.Now())

	out, stderr, err := runCLI(t, nil, "signing-key", "rotate", "--config", configFile)
	if err != nil {
		t.Fatalf("rotate: %v\n%s", err, stderr)
	}
	restarted, err := tokens.LoadOrCreate(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	checkRotated(t, restarted, old.KeyID(), token)
	fresh, _, err := restarted.Issue(rotateClaims, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Verify(fresh, time.Now()); err == nil {
		t.Error("a new token verifies under the old ring: not signed with the new key")
	}
	for _, want := range []string{
		"New signing key: kid " + restarted.KeyID(), "kid " + old.KeyID() + " (the previous key) until",
		"Dropped retired key(s) past their Valid-Until: " + stale, "restart bridle", "does not re-read",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "PRIVATE") {
		t.Errorf("output holds key material:\n%s", out)
	}
	if fi, _ := os.Stat(filepath.Join(stateDir, tokens.KeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
}

func TestSigningKeyRotateWithASuppliedRing(t *testing.T) {
	supplied, err := tokens.Generate()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src.pem")
	if err := supplied.WriteFile(src); err != nil {
		t.Fatal(err)
	}
	ringPEM, _ := os.ReadFile(src)
	token, _, _ := supplied.Issue(rotateClaims, time.Now())
	env := map[string]string{tokens.EnvSigningKey: string(ringPEM)}

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // "" for success
	}{
		{"refuses to rotate without --out and prints the procedure", env, nil, "bridle signing-key rotate --out ring.pem"},
		{"refuses --out without a supplied ring", nil, []string{"--out", "OUT"}, "--out is for a ring given in $" + tokens.EnvSigningKey},
		{"refuses to overwrite an existing file", env, []string{"--out", "EXISTING"}, "exists"},
		{"refuses a negative grace", env, []string{"--out", "OUT", "--grace", "-1m"}, "negative"},
		{"writes the rotated ring to --out", env, []string{"--out", "OUT"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			configFile, stateDir, stateKey, _ := stateRing(t)
			outFile := filepath.Join(t.TempDir(), "ring.pem")
			existing := filepath.Join(t.TempDir(), "existing.pem")
			os.WriteFile(existing, []byte("keep"), 0o600)
			args := []string{"signing-key", "rotate", "--config", configFile}
			for _, a := range tt.args {
				args = append(args, strings.NewReplacer("OUT", outFile, "EXISTING", existing).Replace(a))
			}
			out, _, err := runCLI(t, tt.env, args...)
			if again, _ := tokens.Load(stateDir); again.KeyID() != stateKey.KeyID() {
				t.Error("the state dir's key was rotated")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				if b, _ := os.ReadFile(existing); string(b) != "keep" {
					t.Error("an existing file was overwritten")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(outFile)
			rotated, err := tokens.FromPEM(data)
			if err != nil {
				t.Fatal(err)
			}
			checkRotated(t, rotated, supplied.KeyID(), token)
			if fi, _ := os.Stat(outFile); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
			}
			if !strings.Contains(out, "store the content of "+outFile+" as "+tokens.EnvSigningKey) || strings.Contains(out, "PRIVATE") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
}

func TestSigningKeyRotateWithoutAKeySaysSo(t *testing.T) {
	configFile := filepath.Join(t.TempDir(), "bridle.yaml")
	os.WriteFile(configFile, []byte("version: 1\n"), 0o644)
	_, _, err := runCLI(t, nil, "signing-key", "rotate", "--config", configFile)
	if err == nil || !strings.Contains(err.Error(), "nothing to rotate") {
		t.Fatalf("got %v, want nothing to rotate", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(configFile), ".bridle", tokens.KeyFile)); err == nil {
		t.Error("a key was created")
	}
}
