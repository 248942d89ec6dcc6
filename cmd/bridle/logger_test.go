package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// The log format: JSON lines by default when stderr is not a terminal (a
// log collector), $BRIDLE_LOG_FORMAT or --log-format otherwise.
func TestLogFormat(t *testing.T) {
	tests := []struct {
		flag, env string
		json      bool
		err       string
	}{
		{"", "", true, ""}, // auto, and a pipe is not a terminal
		{"auto", "text", true, ""},
		{"", "text", false, ""},
		{"text", "json", false, ""},
		{"json", "", true, ""},
		{"yaml", "", false, `--log-format "yaml": want auto, text or json`},
	}
	for _, tt := range tests {
		t.Run(tt.flag+"/"+tt.env, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			log, err := newLogger(w, "info", tt.flag, func(k string) string {
				if k == "BRIDLE_LOG_FORMAT" {
					return tt.env
				}
				return ""
			})
			if tt.err != "" {
				w.Close()
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Info("decision", "agent", "a1")
			w.Close()
			out, _ := io.ReadAll(r)
			if isJSON := strings.HasPrefix(string(out), `{"time":`); isJSON != tt.json {
				t.Errorf("line %q: JSON %v, want %v", out, isJSON, tt.json)
			}
		})
	}
}
