package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/vault"
)

const (
	rekeyOldHex = "4f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f10"
	rekeyNewHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// writeRekeyConfig writes a config with one enc: secret under the old key,
// one ${env:} secret whose variable this shell lacks, and comments.
func writeRekeyConfig(t *testing.T) (path, original string) {
	t.Helper()
	key, _ := vault.ParseKey(rekeyOldHex)
	enc, err := vault.Encrypt(key, []byte("ghp_plain"))
	if err != nil {
		t.Fatal(err)
	}
	original = "# comment kept\nversion: 1\nsecrets:\n  github:   " + enc + "   # PAT\n  openai: ${env:BRIDLE_TEST_REKEY_UNSET}\n"
	path = filepath.Join(t.TempDir(), "bridle.yaml")
	if err := os.WriteFile(path, []byte(original), 0o640); err != nil {
		t.Fatal(err)
	}
	return path, original
}

func TestVaultRekeyRewritesTheConfigForTheNewKey(t *testing.T) {
	path, original := writeRekeyConfig(t)
	t.Setenv(envEncryptionKey, rekeyOldHex)
	t.Setenv(envNewEncryptionKey, rekeyNewHex)
	out, stderr, err := runCLI(t, nil, "vault", "rekey", "--config", path)
	if err != nil {
		t.Fatalf("rekey: %v\n%s", err, stderr)
	}
	for _, want := range []string{
		"Re-encrypted 1 secret(s)", "github", "Not encrypted, left unchanged: openai",
		path + ".bak", "1 problem(s) unrelated", "set BRIDLE_ENCRYPTION_KEY to the new key", "restart",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"ghp_plain", rekeyOldHex, rekeyNewHex} {
		if strings.Contains(out+stderr, secret) {
			t.Errorf("output holds a secret:\n%s", out)
		}
	}
	data, _ := os.ReadFile(path)
	cfg, _ := config.Parse(path, data, func(string) (string, bool) { return "x", true })
	newKey, _ := vault.ParseKey(rekeyNewHex)
	if plain, err := vault.Decrypt(newKey, cfg.Secrets["github"].Value); err != nil || string(plain) != "ghp_plain" {
		t.Errorf("the new file does not open with the new key: %q, %v", plain, err)
	}
	if bak, _ := os.ReadFile(path + ".bak"); string(bak) != original {
		t.Error("the backup is not the original file")
	}
}

func TestVaultRekeyRefuses(t *testing.T) {
	tests := []struct {
		name, old, new string
		args           []string
		want           string
	}{
		{"refuses equal keys", rekeyOldHex, rekeyOldHex, nil, "same as the current one"},
		{"refuses a missing new key", rekeyOldHex, "", nil, envNewEncryptionKey},
		{"refuses a missing current key", "", rekeyNewHex, nil, envEncryptionKey},
		{"refuses a wrong current key, naming the secret and its line", rekeyNewHex, rekeyOldHex, nil, "bridle.yaml:4:13: secrets.github: secret github: wrong key"},
		{"refuses a key given as an argument", rekeyOldHex, rekeyNewHex, []string{rekeyNewHex}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, original := writeRekeyConfig(t)
			t.Setenv(envEncryptionKey, tt.old)
			t.Setenv(envNewEncryptionKey, tt.new)
			out, _, err := runCLI(t, nil, append([]string{"vault", "rekey", "--config", path}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error()+out, "ghp_plain") {
				t.Errorf("the secret leaked: %v", err)
			}
			if data, _ := os.ReadFile(path); string(data) != original {
				t.Error("the config changed")
			}
			if _, err := os.Stat(path + ".bak"); err == nil {
				t.Error("a backup was written")
			}
		})
	}
}
