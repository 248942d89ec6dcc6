//go:build pprof

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// With the build tag pprof (go build -tags pprof ./cmd/bridle), setting
// BRIDLE_CPUPROFILE=FILE writes a CPU profile of the whole run to FILE when
// bridle exits (SIGINT or SIGTERM): how BENCHMARKS.md's profiles are taken.
// Release builds carry none of this.
func init() {
	path := os.Getenv("BRIDLE_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridle: BRIDLE_CPUPROFILE:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "bridle: BRIDLE_CPUPROFILE:", err)
		os.Exit(1)
	}
	atExit = func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
