package connectors

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"
)

// RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
func TestJCSNumbersMatchRFC8785AppendixB(t *testing.T) {
	vectors := []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"},
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
	}
	for _, v := range vectors {
		u, err := strconv.ParseUint(v.bits, 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJCSNumber(nil, math.Float64frombits(u))
		if err != nil || string(got) != v.want {
			t.Errorf("%s: got %q, %v, want %q", v.bits, got, err, v.want)
		}
	}
	for _, bits := range []string{"7fffffffffffffff", "7ff0000000000000", "fff0000000000000"} {
		u, _ := strconv.ParseUint(bits, 16, 64)
		if _, err := appendJCSNumber(nil, math.Float64frombits(u)); !errors.Is(err, errNotCanonical) {
			t.Errorf("%s: got %v, want an error (NaN and Infinity have no JSON form)", bits, err)
		}
	}
}

func TestJCSMatchesRFC8785Examples(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{
			"canonicalizes the example of section 3.2.2",
			`{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
			  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
			  "literals": [null, true, false]}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
		},
		{
			"sorts keys by UTF-16 code units (section 3.2.3)",
			`{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
			  "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",
			  "\u00f6": "Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}",
		},
		{
			"escapes controls with short forms and lower-case hex",
			`{"s":"\b\t\n\f\r\u0001\u001f\u007f\u2028<>&"}`,
			"{\"s\":\"\\b\\t\\n\\f\\r\\u0001\\u001f\u007f\u2028<>&\"}",
		},
		{"nests objects and arrays", `{"b":[{"z":1,"a":[]},{}],"a":{"y":-0,"x":1e-7}}`, `{"a":{"x":1e-7,"y":0},"b":[{"a":[],"z":1},{}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.in), &v); err != nil {
				t.Fatal(err)
			}
			got, err := appendJCS(nil, v)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v\nwant %s", got, err, tt.want)
			}
		})
	}
}

func TestJCSRefusesValuesWithoutACanonicalForm(t *testing.T) {
	for name, v := range map[string]any{
		"invalid UTF-8":       "\xff",
		"an invalid key":      map[string]any{"\xff": 1.0},
		"an unsupported type": []int{1},
		"an inexact int64":    int64(1<<53 + 1),
		"NaN in an array":     []any{math.NaN()},
	} {
		if _, err := appendJCS(nil, v); !errors.Is(err, errNotCanonical) {
			t.Errorf("%s: got %v, want errNotCanonical", name, err)
		}
	}
}

func TestSpecHash(t *testing.T) {
	a := Action{Agent: "bot", Connector: "gh", Type: "github.pr.merge", Method: "PUT", Host: "api.github.com",
		Path: "/repos/octo/hello/pulls/42/merge", Params: P{"owner": "octo", "repo": "octo/hello", "number": 42.0, "merge_method": "squash"}}
	b, err := a.CanonicalJSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"action":"github.pr.merge","agent":"bot","connector":"gh","host":"api.github.com","method":"PUT",` +
		`"params":{"merge_method":"squash","number":42,"owner":"octo","repo":"octo/hello"},"path":"/repos/octo/hello/pulls/42/merge"}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	h1, _ := a.SpecHash()
	if len(h1) != 64 {
		t.Fatalf("got %q, want 64 hex characters", h1)
	}
	// Integer params hash like their float64 form; nil and empty params alike.
	b2 := a
	b2.Params = P{"owner": "octo", "repo": "octo/hello", "number": 42, "merge_method": "squash"}
	if h2, _ := b2.SpecHash(); h2 != h1 {
		t.Errorf("int and float64 params hash differently")
	}
	e1, _ := Action{Type: "x.y.z"}.SpecHash()
	e2, _ := Action{Type: "x.y.z", Params: P{}}.SpecHash()
	if e1 != e2 {
		t.Errorf("nil and empty params hash differently")
	}
	c := a
	c.Params = P{"number": 43.0}
	if h3, _ := c.SpecHash(); h3 == h1 {
		t.Errorf("different params hash alike")
	}
	bad := a
	bad.Params = P{"x": math.Inf(1)}
	if h, err := bad.SpecHash(); err == nil || h != "" {
		t.Errorf("got %q, %v, want an error and no hash", h, err)
	}
}
