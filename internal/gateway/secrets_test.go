package gateway

import (
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/vault"
)

func TestSecretsAreDecryptedIntoCredentials(t *testing.T) {
	hexKey, err := vault.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := vault.ParseKey(hexKey)
	enc, err := vault.Encrypt(key, []byte("ghp_from_vault"))
	if err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, `version: 1
agents: [{name: bot, token_sha256: "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"}]
secrets:
  github: "`+enc+`"
  stripe: "${env:STRIPE_KEY}"
connectors:
  - name: gh
    type: github
    credential: {value: "Bearer ${secret:github}"}
  - name: st
    type: stripe
    credential: {value: "Bearer ${secret:stripe}"}
    agent_credentials:
      bot: {value: "Bearer ${secret:stripe}-bot"}
`)
	env := func(k string) (string, bool) {
		v, ok := map[string]string{EncryptionKeyEnv: hexKey, "STRIPE_KEY": "sk_env"}[k]
		return v, ok
	}
	plan, err := Load(p, env)
	if err != nil {
		t.Fatal(err)
	}
	snap := plan.DecisionSnapshot(nil)
	if c, _ := snap.Connectors["gh"].CredentialFor("someone"); c.Header() != "authorization" || c.Value() != "Bearer ghp_from_vault" {
		t.Errorf("github credential %s", c.Header())
	}
	if c, _ := snap.Connectors["st"].CredentialFor("bot"); c.Value() != "Bearer sk_env-bot" {
		t.Error("per-agent credential not resolved")
	}

	// With another key the secret cannot be decrypted: the error names the
	// secret and never shows a value.
	otherKey, _ := vault.GenerateKey()
	_, err = Load(p, func(k string) (string, bool) {
		if k == EncryptionKeyEnv {
			return otherKey, true
		}
		return env(k)
	})
	if err == nil || !strings.Contains(err.Error(), "secrets.github") {
		t.Fatalf("wrong key: %v", err)
	}
	for _, leak := range []string{"ghp_from_vault", enc, otherKey} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error shows %q: %v", leak, err)
		}
	}
}
