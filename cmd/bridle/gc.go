package main

import "runtime/debug"

// serverGCPercent is the garbage collector's target for the long-running
// commands (up, serve) when the operator has not set GOGC. A decision
// allocates ~10 KB in OPA alone while the live heap stays small (tens of MB,
// ~115 MB at 10,000 rules), so Go's default of 100 spends 15–20 % of
// Bridle's CPU per Check collecting; at 400 the heap may grow to five times
// the live set instead (BENCHMARKS.md, "GC target"). GOGC, and GOMEMLIMIT for
// a hard ceiling, still win when set.
const serverGCPercent = 400

// tuneGC applies serverGCPercent unless GOGC is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
}
