package extauthz

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func basic(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseProxyAuthorization(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Credentials
		err  error
	}{
		{"basic with agent and token", basic("demo:brd_tok"), Credentials{User: "demo", Token: "brd_tok"}, nil},
		{"basic with empty user", basic(":brd_tok"), Credentials{Token: "brd_tok"}, nil},
		{"basic with the token as user", basic("brd_tok:"), Credentials{Token: "brd_tok"}, nil},
		{"basic scheme in any case", "bAsIc " + base64.StdEncoding.EncodeToString([]byte("a:b")), Credentials{User: "a", Token: "b"}, nil},
		{"bearer token", "Bearer brd_tok", Credentials{Token: "brd_tok"}, nil},
		{"bearer with extra spaces", "Bearer   brd_tok  ", Credentials{Token: "brd_tok"}, nil},
		{"password containing a colon", basic("demo:a:b"), Credentials{User: "demo", Token: "a:b"}, nil},
		{"missing header", "", Credentials{}, ErrNoCredentials},
		{"only spaces", "   ", Credentials{}, ErrNoCredentials},
		{"scheme without value", "Basic", Credentials{}, ErrMalformed},
		{"unknown scheme", "Digest abc", Credentials{}, ErrBadScheme},
		{"bad base64", "Basic !!!", Credentials{}, ErrMalformed},
		{"base64 without colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), Credentials{}, ErrMalformed},
		{"empty user and password", basic(":"), Credentials{}, ErrMalformed},
		{"token with a space", "Bearer a b", Credentials{}, ErrMalformed},
		{"token with control bytes", basic("demo:a\x01b"), Credentials{}, ErrMalformed},
		{"user with a newline", basic("de\nmo:tok"), Credentials{}, ErrMalformed},
		{"non-ASCII token", basic("demo:tøk"), Credentials{}, ErrMalformed},
		{"huge header", "Bearer " + strings.Repeat("a", 5000), Credentials{}, ErrMalformed},
		{"empty bearer", "Bearer ", Credentials{}, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProxyAuthorization(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseProxyAuthorization: never panics, never returns an empty token
// without an error, and no error text echoes the input (it may be a
// secret).
func FuzzParseProxyAuthorization(f *testing.F) {
	for _, s := range []string{basic("demo:brd_x"), basic(":x"), basic("x:"), "Bearer x", "Basic", "", "Digest a", "Basic =="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := ParseProxyAuthorization(in)
		if err != nil {
			if len(in) > 8 && strings.Contains(err.Error(), in) {
				t.Errorf("error echoes the header: %v", err)
			}
			return
		}
		if c.Token == "" {
			t.Errorf("no error but empty token for %q", in)
		}
	})
}

func TestAgentsAuthenticate(t *testing.T) {
	sum := func(s string) [32]byte { return sha256.Sum256([]byte(s)) }
	a := NewAgents(map[string][][32]byte{
		"demo":    {sum("tok-demo"), sum("tok-demo-rotated")},
		"release": {sum("tok-release")},
	})
	cases := []struct {
		name  string
		creds Credentials
		agent string
		ok    bool
	}{
		{"token alone identifies the agent", Credentials{Token: "tok-demo"}, "demo", true},
		{"a rotated token works beside the old one", Credentials{Token: "tok-demo-rotated"}, "demo", true},
		{"matching user name", Credentials{User: "release", Token: "tok-release"}, "release", true},
		{"another agent's name with this token", Credentials{User: "demo", Token: "tok-release"}, "", false},
		{"unknown token", Credentials{Token: "nope"}, "", false},
		{"hash of a token is not a token", Credentials{Token: string(func() []byte { s := sum("tok-demo"); return s[:] }())}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			agent, ok := a.Authenticate(tc.creds)
			if agent != tc.agent || ok != tc.ok {
				t.Errorf("got %q, %v; want %q, %v", agent, ok, tc.agent, tc.ok)
			}
		})
	}
	if !a.Exists("demo") || a.Exists("nobody") {
		t.Error("Exists")
	}
}

func TestParseCarried(t *testing.T) {
	tests := []struct {
		in    string
		agent string
		kind  byte
		ok    bool
	}{
		{"demo#t:fb78d515fa3d5947", "demo", 't', true},
		{"demo#d:0123456789abcdef", "demo", 'd', true},
		{"a#b#t:0123456789abcdef", "a#b", 't', true}, // the last # separates
		{"demo", "", 0, false},
		{"-", "", 0, false},
		{"#t:0123456789abcdef", "", 0, false},
		{"demo#x:0123456789abcdef", "", 0, false},
		{"demo#t:0123456789ABCDEF", "", 0, false},
		{"demo#t:0123456789abcde", "", 0, false},
		{"demo#t:0123456789abcdefa", "", 0, false},
		{"demo#t-0123456789abcdef", "", 0, false},
	}
	for _, tt := range tests {
		agent, ref, ok := parseCarried(tt.in)
		if ok != tt.ok || agent != tt.agent || ref.kind() != tt.kind {
			t.Errorf("parseCarried(%q) = %q, %q, %v", tt.in, agent, ref, ok)
		}
		if ok && carried(agent, ref) != tt.in {
			t.Errorf("carried(parseCarried(%q)) = %q", tt.in, carried(agent, ref))
		}
	}
}
