package vault

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const testKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	k, err := ParseKey(s)
	if err != nil {
		t.Fatalf("ParseKey: %v", err)
	}
	return k
}

func mustEncrypt(t *testing.T, k Key, plain string) string {
	t.Helper()
	v, err := Encrypt(k, []byte(plain))
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	k := mustKey(t, testKeyHex)
	for _, plain := range []string{"", "ghp_secret", strings.Repeat("x", 10000), "\x00\xff binary"} {
		v := mustEncrypt(t, k, plain)
		if !strings.HasPrefix(v, Prefix) {
			t.Fatalf("got %q, want prefix %q", v, Prefix)
		}
		got, err := Decrypt(k, v)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if string(got) != plain {
			t.Fatalf("got %q, want %q", got, plain)
		}
	}
}

func TestValueLayoutIsNonceCiphertextTag(t *testing.T) {
	k := mustKey(t, testKeyHex)
	v := mustEncrypt(t, k, "abc")
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, Prefix))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(raw), nonceSize+3+tagSize; got != want {
		t.Fatalf("got %d bytes, want %d", got, want)
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"accepts 64 lower-case hex characters", testKeyHex, true},
		{"accepts upper case and a trailing newline", strings.ToUpper(testKeyHex) + "\n", true},
		{"rejects a short key", testKeyHex[:62], false},
		{"rejects a long key", testKeyHex + "00", false},
		{"rejects non-hex characters", "zz" + testKeyHex[2:], false},
		{"rejects an empty key", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKey(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("got err %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadKey) {
					t.Fatalf("got %v, want ErrBadKey", err)
				}
				if len(tt.in) > 4 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)[2:]) {
					t.Fatalf("error %q repeats the key", err)
				}
			}
		})
	}
}

func TestGenerateKeyParses(t *testing.T) {
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("got %q, want 64 lower-case hex characters", s)
	}
	if _, err := ParseKey(s); err != nil {
		t.Fatal(err)
	}
	s2, _ := GenerateKey()
	if s == s2 {
		t.Fatal("two generated keys are equal")
	}
}

func TestDecryptFailures(t *testing.T) {
	k := mustKey(t, testKeyHex)
	other := mustKey(t, strings.Repeat("ab", 32))
	const plain = "sk_live_supersecret"
	v := mustEncrypt(t, k, plain)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, Prefix))
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return Prefix + base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name  string
		key   Key
		value string
		want  error
	}{
		{"rejects a wrong key", other, v, ErrAuthentication},
		{"rejects a flipped nonce bit", k, flip(0), ErrAuthentication},
		{"rejects a flipped ciphertext bit", k, flip(nonceSize + 1), ErrAuthentication},
		{"rejects a flipped tag bit", k, flip(len(raw) - 1), ErrAuthentication},
		{"rejects a value cut by one byte", k, Prefix + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), ErrAuthentication},
		{"rejects a value shorter than nonce and tag", k, Prefix + base64.StdEncoding.EncodeToString(raw[:nonceSize+tagSize-1]), ErrMalformed},
		{"rejects an empty value", k, Prefix, ErrMalformed},
		{"rejects bad base64", k, Prefix + "!!!!", ErrMalformed},
		{"rejects truncated base64 text", k, v[:len(v)-3], ErrMalformed},
		{"rejects a value without the enc: prefix", k, strings.TrimPrefix(v, Prefix), ErrMalformed},
		{"rejects the zero key", Key{}, v, ErrBadKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decrypt(tt.key, tt.value)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("got plaintext %q on error", got)
			}
			if strings.Contains(err.Error(), plain) || strings.Contains(err.Error(), testKeyHex) {
				t.Fatalf("error %q leaks a secret", err)
			}
		})
	}
}

func TestDecryptAllTellsWrongKeyFromTampering(t *testing.T) {
	k := mustKey(t, testKeyHex)
	other := mustKey(t, strings.Repeat("cd", 32))
	good := map[string]string{"github": mustEncrypt(t, k, "ghp_1"), "stripe": mustEncrypt(t, k, "sk_2")}

	got, err := DecryptAll(k, good)
	if err != nil {
		t.Fatalf("DecryptAll: %v", err)
	}
	if string(got["github"]) != "ghp_1" || string(got["stripe"]) != "sk_2" {
		t.Fatalf("got %q", got)
	}

	_, err = DecryptAll(other, good)
	if !errors.Is(err, ErrWrongKey) || errors.Is(err, ErrTampered) {
		t.Fatalf("wrong key: got %v, want ErrWrongKey only", err)
	}

	tampered := map[string]string{"github": good["github"], "stripe": good["stripe"][:len(Prefix)] + "A" + good["stripe"][len(Prefix)+1:]}
	if tampered["stripe"] == good["stripe"] {
		tampered["stripe"] = good["stripe"][:len(Prefix)] + "B" + good["stripe"][len(Prefix)+1:]
	}
	_, err = DecryptAll(k, tampered)
	if !errors.Is(err, ErrTampered) || errors.Is(err, ErrWrongKey) {
		t.Fatalf("tampered: got %v, want ErrTampered only", err)
	}
	if !strings.Contains(err.Error(), "secret stripe") || strings.Contains(err.Error(), "github") {
		t.Fatalf("got %q, want only the stripe secret named", err)
	}
}

func TestNonceIsUniqueOver10kEncryptions(t *testing.T) {
	k := mustKey(t, testKeyHex)
	seen := make(map[[nonceSize]byte]bool, 10000)
	for range 10000 {
		v := mustEncrypt(t, k, "same plaintext")
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, Prefix))
		if err != nil {
			t.Fatal(err)
		}
		n := [nonceSize]byte(raw[:nonceSize])
		if seen[n] {
			t.Fatalf("nonce %x repeated", n)
		}
		seen[n] = true
	}
}

func TestKeyFormattingRedacts(t *testing.T) {
	k := mustKey(t, testKeyHex)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", k)
	outs := []string{logs.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		outs = append(outs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, struct{ K Key }{k}), fmt.Sprintf(verb, &k))
	}
	rawHex := hex.EncodeToString(k.b[:])
	for _, out := range outs {
		if strings.Contains(strings.ToLower(out), rawHex[:16]) || strings.Contains(out, "[0 1 2 3") || strings.Contains(out, "\\x00\\x01") {
			t.Fatalf("formatting leaks the key: %s", out)
		}
	}
}
