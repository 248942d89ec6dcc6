package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const newKeyHex = "f0e0d0c0b0a090807060504030201000f1e1d1c1b1a191817161514131211101"

// plaintexts are the secrets of rekeyFixture, by name.
var plaintexts = map[string]string{
	"github": "ghp_plain_github", "slack": "xoxb-plain-slack", "stripe": "sk_plain_stripe", "anchored": "plain-anchored",
}

// rekeyFixture is a config with comments, odd spacing, every quoting style
// and an ${env:} secret. {name} is replaced by name's enc: value.
const rekeyFixture = `# Bridle config: comments, blank lines and spacing must survive.
version: 1

secrets:   # encrypted with BRIDLE_ENCRYPTION_KEY
  github:     {github}   # the PAT
  slack: "{slack}"
  'stripe':  '{stripe}'
  openai: ${env:OPENAI_KEY}
  anchored: &a {anchored}
connectors:
  - {name: gh, hosts: [api.github.com], credential: {value: "Bearer ${secret:github}"}}  # enc:not-a-secret
`

// sealFixture returns rekeyFixture with every secret encrypted under k, and
// the enc: values by name.
func sealFixture(t *testing.T, k Key) (string, map[string]string) {
	t.Helper()
	text := rekeyFixture
	values := map[string]string{}
	for name, plain := range plaintexts {
		values[name] = mustEncrypt(t, k, plain)
		text = strings.Replace(text, "{"+name+"}", values[name], 1)
	}
	return text, values
}

func TestRekeyReencryptsEveryValueAndKeepsEveryOtherByte(t *testing.T) {
	oldKey, newKey := mustKey(t, testKeyHex), mustKey(t, newKeyHex)
	in, values := sealFixture(t, oldKey)
	out, res, err := Rekey("bridle.yaml", []byte(in), oldKey, newKey)
	if err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	if got, want := strings.Join(res.Reencrypted, ","), "github,slack,stripe,anchored"; got != want {
		t.Errorf("re-encrypted %s, want %s (file order)", got, want)
	}
	if got := strings.Join(res.Unchanged, ","); got != "openai" {
		t.Errorf("unchanged %s, want openai", got)
	}
	if len(out) != len(in) {
		t.Fatalf("length %d, want %d", len(out), len(in))
	}
	// Every differing byte lies inside one of the values, and each new value
	// opens with the new key only.
	spans := map[string]int{}
	for name, v := range values {
		spans[name] = strings.Index(in, v)
	}
	for i := range in {
		if in[i] == out[i] {
			continue
		}
		inside := false
		for name, off := range spans {
			inside = inside || (i >= off && i < off+len(values[name]))
		}
		if !inside {
			t.Fatalf("byte %d changed outside the enc: values:\n%s", i, out)
		}
	}
	for name, off := range spans {
		v := string(out[off : off+len(values[name])])
		if v == values[name] {
			t.Errorf("secret %s kept its old value", name)
		}
		if plain, err := Decrypt(newKey, v); err != nil || string(plain) != plaintexts[name] {
			t.Errorf("secret %s: new value opens to %q, %v with the new key", name, plain, err)
		}
		if _, err := Decrypt(oldKey, v); err == nil {
			t.Errorf("secret %s: new value still opens with the old key", name)
		}
	}
}

func TestRekeyRefuses(t *testing.T) {
	oldKey, newKey := mustKey(t, testKeyHex), mustKey(t, newKeyHex)
	in, values := sealFixture(t, oldKey)
	tamper := func(v string) string { // flips one base64 digit of the ciphertext
		i := len(Prefix) + 20
		c := byte('A')
		if v[i] == 'A' {
			c = 'B'
		}
		return v[:i] + string(c) + v[i+1:]
	}
	tests := []struct {
		name     string
		data     string
		old, new Key
		want     error
		places   []string // file:line:col: path, for each secret named
	}{
		{"refuses a wrong current key, naming every secret with its place", in, newKey, oldKey, ErrWrongKey,
			[]string{"bridle.yaml:5:15: secrets.github", "bridle.yaml:6:10: secrets.slack", "bridle.yaml:7:14: secrets.stripe", "bridle.yaml:9:13: secrets.anchored"}},
		{"refuses a tampered value, naming that secret only", strings.Replace(in, values["slack"], tamper(values["slack"]), 1), oldKey, newKey, ErrTampered,
			[]string{"bridle.yaml:6:10: secrets.slack"}},
		{"refuses a truncated value", strings.Replace(in, values["stripe"], "enc:AAAA", 1), oldKey, newKey, ErrMalformed,
			[]string{"bridle.yaml:7:14: secrets.stripe"}},
		{"refuses the same key twice", in, oldKey, oldKey, ErrSameKey, nil},
		{"refuses a zero key", in, oldKey, Key{}, ErrBadKey, nil},
		{"refuses a value folded over two lines", "secrets:\n  a: >-\n    " + values["github"] + "\n", oldKey, newKey, nil,
			[]string{"bridle.yaml:2:6: secrets.a: secret a: the enc: value must be written on one line"}},
		{"refuses a double-quoted value with escapes", "secrets:\n  a: \"enc:\\x41" + values["github"][5:] + "\"\n", oldKey, newKey, nil,
			[]string{"bridle.yaml:2:6: secrets.a"}},
		{"refuses a file that is not YAML", "secrets: [\n", oldKey, newKey, nil, []string{"bridle.yaml: not valid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := Rekey("bridle.yaml", []byte(tt.data), tt.old, tt.new)
			if err == nil || out != nil {
				t.Fatalf("got %d bytes, err %v; want an error and nothing", len(out), err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
			for _, p := range tt.places {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error does not name %q:\n%v", p, err)
				}
			}
			assertNoSecret(t, err.Error(), values)
		})
	}
}

func TestRekeyLeavesEnvOnlySecretsAlone(t *testing.T) {
	in := "version: 1\nsecrets:\n  a: ${env:A}   # from the environment\n  b: \"${env:B}\"\n"
	out, res, err := Rekey("bridle.yaml", []byte(in), mustKey(t, testKeyHex), mustKey(t, newKeyHex))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in || len(res.Reencrypted) != 0 || strings.Join(res.Unchanged, ",") != "a,b" {
		t.Errorf("got %q, %+v; want the input unchanged and a, b listed as unchanged", out, res)
	}
}

// assertNoSecret fails if s holds a plaintext or an enc: value.
func assertNoSecret(t *testing.T, s string, values map[string]string) {
	t.Helper()
	for name, plain := range plaintexts {
		if strings.Contains(s, plain) || strings.Contains(s, values[name][len(Prefix):len(Prefix)+16]) {
			t.Errorf("secret %s leaked into %q", name, s)
		}
	}
}

func TestRekeyFile(t *testing.T) {
	oldKey, newKey := mustKey(t, testKeyHex), mustKey(t, newKeyHex)
	errVerify := errors.New("does not load")
	tests := []struct {
		name       string
		old        Key
		opts       RekeyOptions
		wantErr    error
		wantBackup bool
	}{
		{"rewrites the file keeping its mode and a 0600 backup", oldKey, RekeyOptions{}, nil, true},
		{"writes no backup when asked not to", oldKey, RekeyOptions{NoBackup: true}, nil, false},
		{"writes nothing when the new file does not verify", oldKey, RekeyOptions{Verify: func(string) error { return errVerify }}, errVerify, false},
		{"writes nothing when the current key is wrong", mustKey(t, strings.Repeat("ab", 32)), RekeyOptions{}, ErrWrongKey, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "bridle.yaml")
			in, _ := sealFixture(t, oldKey)
			if err := os.WriteFile(path, []byte(in), 0o640); err != nil {
				t.Fatal(err)
			}
			var verified string
			if tt.opts.Verify == nil {
				tt.opts.Verify = func(p string) error {
					b, err := os.ReadFile(p)
					verified = string(b)
					return err
				}
			}
			res, err := RekeyFile(path, tt.old, newKey, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			got, _ := os.ReadFile(path)
			fi, _ := os.Stat(path)
			if fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %04o, want 0640 kept", fi.Mode().Perm())
			}
			if tt.wantErr != nil {
				if string(got) != in {
					t.Error("the file changed although the re-key failed")
				}
			} else {
				if string(got) == in || string(got) != verified || len(res.Reencrypted) != 4 {
					t.Errorf("file not re-keyed, or not the verified bytes (re-encrypted %v)", res.Reencrypted)
				}
			}
			bak, err := os.ReadFile(path + BackupSuffix)
			if tt.wantBackup {
				bfi, _ := os.Stat(path + BackupSuffix)
				if err != nil || string(bak) != in || bfi.Mode().Perm() != 0o600 {
					t.Errorf("backup: %v, same as the original: %v, mode %v; want the original, 0600", err, string(bak) == in, bfi.Mode())
				}
			} else if err == nil {
				t.Error("a backup was written")
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if e.Name() != "bridle.yaml" && e.Name() != "bridle.yaml"+BackupSuffix {
					t.Errorf("left behind %s", e.Name())
				}
			}
		})
	}
}

func TestRekeyFileWithoutEncValuesWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bridle.yaml")
	in := "version: 1\nsecrets: {a: \"${env:A}\"}\n"
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := RekeyFile(path, mustKey(t, testKeyHex), mustKey(t, newKeyHex), RekeyOptions{})
	if err != nil || len(res.Reencrypted) != 0 {
		t.Fatalf("got %+v, %v", res, err)
	}
	if _, err := os.Stat(path + BackupSuffix); err == nil {
		t.Error("a backup was written for a file left unchanged")
	}
}
