package connectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestCredentialsNeverPrint covers DESIGN invariant 2 for this package: no
// fmt verb, slog handler or JSON encoding of a credential-bearing type shows
// the value.
func TestCredentialsNeverPrint(t *testing.T) {
	const secret = "ghp_TOPSECRET"
	spec := Spec{
		Name: "gh", Type: TypeGitHub,
		Credential:       &CredentialSpec{Value: "Bearer " + secret},
		AgentCredentials: map[string]CredentialSpec{"alice": {Value: "Bearer " + secret + "_alice"}},
	}
	reg, err := New([]Spec{spec})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := reg.Lookup("api.github.com")
	cred, _ := c.CredentialFor("alice")
	credSpec := *spec.Credential
	values := map[string]any{
		"Spec": spec, "*Spec": &spec, "CredentialSpec": credSpec, "*CredentialSpec": &credSpec,
		"Credential": cred, "*Credential": &cred, "*Connector": c, "*Registry": reg,
		"[]Spec": []Spec{spec}, "struct": struct{ C Credential }{cred},
		"unexported fields": struct {
			c *Connector
			r *Registry
		}{c, reg},
	}
	for name, v := range values {
		var outs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			outs = append(outs, fmt.Sprintf(verb, v))
		}
		var text, js bytes.Buffer
		slog.New(slog.NewTextHandler(&text, nil)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&js, nil)).Info("m", "v", v)
		outs = append(outs, text.String(), js.String())
		if b, err := json.Marshal(v); err == nil {
			outs = append(outs, string(b))
		}
		for _, out := range outs {
			if strings.Contains(out, "TOPSECRET") || strings.Contains(strings.ToLower(out), "544f50534543524554") {
				t.Errorf("%s prints the credential: %s", name, out)
			}
		}
	}
	if cred.Value() != "Bearer "+secret+"_alice" {
		t.Fatalf("Value: got %q", cred.Value())
	}
	if got := fmt.Sprint(cred); got != "Credential{authorization: [redacted]}" {
		t.Fatalf("String: got %q", got)
	}
}
