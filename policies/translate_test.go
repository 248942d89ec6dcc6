package policies

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/format"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenFixtures cover every operator (operators), precedence and action
// globs (precedence), agent scopes and nested combinators (scoping), and
// quoting of hostile names and values (quoting).
var goldenFixtures = []string{"operators", "precedence", "scoping", "quoting"}

func TestTranslateGolden(t *testing.T) {
	cases := map[string][]string{"empty": nil}
	for _, name := range goldenFixtures {
		cases[name] = []string{filepath.Join("testdata", name+".yaml")}
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Load(files)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Rego()
			golden := filepath.Join("testdata", "golden", name+".rego")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestTranslateGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the translation (run go test -run TestTranslateGolden -update and review the diff):\n%s",
					golden, firstDiff(got, string(want)))
			}
		})
	}
}

// The generated module is already in opa fmt's canonical style, so what
// authors read is exactly what OPA compiles.
func TestTranslationIsOPAFormatted(t *testing.T) {
	for _, name := range append(goldenFixtures[:3:3], "empty") {
		t.Run(name, func(t *testing.T) {
			var files []string
			if name != "empty" {
				files = []string{filepath.Join("testdata", name+".yaml")}
			}
			s, err := Load(files)
			if err != nil {
				t.Fatal(err)
			}
			formatted, err := format.SourceWithOpts("bridle.rego", []byte(s.Rego()), format.Opts{})
			if err != nil {
				t.Fatal(err)
			}
			if string(formatted) != s.Rego() {
				t.Errorf("opa fmt changes the module:\n%s", firstDiff(string(formatted), s.Rego()))
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return "line " + strconv.Itoa(i+1) + ":\n  got:  " + gl + "\n  want: " + wl
		}
	}
	return "(no difference)"
}
