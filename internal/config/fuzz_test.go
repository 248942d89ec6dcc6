package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: arbitrary bytes give a config or errors, never a panic, and
// every error is a positioned *Error.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../gateway/testdata/invalid/*.yaml")
	files = append(files, "testdata/valid.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("version: 1\nagents: [{name: a, token_sha256: &x '00'}, *x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse("fuzz.yaml", data, testEnv)
		if err == nil {
			return
		}
		for _, msg := range unjoin(err) {
			if len(msg) > 22 && msg[:22] == "(not a *config.Error) " {
				t.Errorf("unpositioned error: %s", msg)
			}
		}
	})
}

func unjoin(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, unjoin(e)...)
		}
		return out
	}
	var ce *Error
	if !errors.As(err, &ce) {
		return []string{"(not a *config.Error) " + err.Error()}
	}
	return []string{err.Error()}
}
