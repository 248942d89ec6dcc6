package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/vault"
)

func runVault(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newVaultCmd()
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestVaultKeygenPrintsAUsableKey(t *testing.T) {
	out, err := runVault(t, "", "keygen")
	if err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if _, err := vault.ParseKey(out); err != nil {
		t.Fatalf("keygen printed %q: %v", out, err)
	}
}

func TestVaultEncryptReadsStdinAndRoundTrips(t *testing.T) {
	const keyHex = "4f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f10"
	t.Setenv(envEncryptionKey, keyHex)
	out, err := runVault(t, "ghp_token\n", "encrypt")
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	if strings.Contains(out, "ghp_token") {
		t.Fatalf("output %q contains the secret", out)
	}
	key, _ := vault.ParseKey(keyHex)
	plain, err := vault.Decrypt(key, strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("decrypting %q: %v", out, err)
	}
	if string(plain) != "ghp_token" {
		t.Fatalf("got %q, want %q (trailing newline dropped)", plain, "ghp_token")
	}
}

func TestVaultEncryptRefusesBadInput(t *testing.T) {
	const keyHex = "4f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f10"
	tests := []struct {
		name, key, stdin string
		args             []string
		want             string
	}{
		{"refuses a secret given as an argument", keyHex, "", []string{"encrypt", "ghp_argv"}, "never from arguments"},
		{"refuses a missing key", "", "ghp_x", []string{"encrypt"}, envEncryptionKey},
		{"refuses a malformed key", "abc", "ghp_x", []string{"encrypt"}, "64 hex"},
		{"refuses an empty secret", keyHex, "\n", []string{"encrypt"}, "empty secret"},
		{"refuses an oversized secret", keyHex, strings.Repeat("x", maxSecretBytes+1), []string{"encrypt"}, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envEncryptionKey, tt.key)
			out, err := runVault(t, tt.stdin, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "ghp_") || strings.Contains(out, "ghp_") {
				t.Fatalf("the secret leaked: err %v, out %q", err, out)
			}
		})
	}
}
