package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bridle-gw/bridle/internal/config"
)

func testEnv(name string) (string, bool) {
	if name == "TEST_TOKEN" {
		return "secret-value", true
	}
	return "", false
}

// Every file under testdata/invalid lists the errors it must produce in
// "# want:" lines: each must be reported (with file:line:col) and nothing
// else, all in one run.
func TestInvalidConfigsReportEveryError(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 20 {
		t.Fatalf("only %d invalid configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, line := range strings.Split(string(src), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			dir := t.TempDir()
			p := filepath.Join(dir, filepath.Base(f))
			if err := os.WriteFile(p, src, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Load(p, testEnv)
			if err == nil {
				t.Fatal("loaded without error")
			}
			got := errStrings(err)
			for _, w := range wants {
				if !containsAny(got, w) {
					t.Errorf("missing error %q", w)
				}
			}
			if len(got) != len(wants) {
				t.Errorf("got %d errors, want %d:\n%s", len(got), len(wants), strings.Join(got, "\n"))
			}
		})
	}
}

func errStrings(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errStrings(e)...)
		}
		return out
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		return []string{"(not a *config.Error) " + err.Error()}
	}
	return []string{err.Error()}
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
