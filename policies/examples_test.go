package policies

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every example policy ships with a cases file, and every case passes,
// through the same calls bridle policy test makes.
func TestExamplesPassTheirCases(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for _, policy := range files {
		if strings.HasSuffix(policy, ".cases.yaml") {
			continue
		}
		examples++
		t.Run(filepath.Base(policy), func(t *testing.T) {
			s, err := Load([]string{policy})
			if err != nil {
				t.Fatal(err)
			}
			cases, err := LoadCases(strings.TrimSuffix(policy, ".yaml")+".cases.yaml", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			failed, err := WriteCaseReport(&out, s.RunCases(t.Context(), cases))
			if err != nil || failed > 0 {
				t.Errorf("%d of %d cases failed (%v):\n%s", failed, len(cases), err, out.String())
			}
			if len(cases) < 10 {
				t.Errorf("got %d cases, want at least 10", len(cases))
			}
		})
	}
	if examples < 3 {
		t.Errorf("got %d example policies, want github, stripe and openai", examples)
	}
}
