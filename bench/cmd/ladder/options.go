//go:build bench

package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// options are the ladder's knobs. Binaries come from flags (bench/run.sh
// passes them); sizes and rates from BENCH_* environment variables, so
// `make bench` can be tuned without editing anything.
type options struct {
	bridle, upstream, noop, envoy, fortio, wrk, ghz string

	out        string        // results directory (raw outputs, logs, table)
	duration   time.Duration // each fixed-rate and each saturation run
	rate       int           // fixed rate of the end-to-end latency runs
	freshRate  int           // fixed rate of the fresh-connection runs
	latConns   int           // connections of the fixed-rate runs
	satConns   int           // connections (streams) of the saturation runs
	checks     int           // Checks of each CPU-per-Check run
	ghzRates   []int         // fixed rates of the Check-only runs
	rules      int           // policy size
	unique     bool          // a different repo on every request (no policy cache hits)
	cpuLoad    string        // taskset CPU list of load generators and upstream
	cpuGateway string        // taskset CPU list of Envoy, decision service, Redis
	rungs      map[string]bool

	// Another ext_authz v3 server to put in the ladder beside Bridle.
	authzAddr, authzName string
	authzPIDs            []int
}

func parseOptions(args []string, getenv func(string) string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("ladder", flag.ContinueOnError)
	fs.StringVar(&o.bridle, "bridle", "bin/bridle", "bridle binary")
	fs.StringVar(&o.upstream, "upstream", "bin/bridle-demo-upstream", "TLS echo upstream binary")
	fs.StringVar(&o.noop, "noop", "bin/noop-authz", "no-op ext_authz server binary")
	fs.StringVar(&o.envoy, "envoy", firstNonEmpty(getenv("BRIDLE_ENVOY"), ".tools/bin/envoy"), "Envoy binary")
	fs.StringVar(&o.fortio, "fortio", ".tools/bin/fortio", "fortio binary")
	fs.StringVar(&o.wrk, "wrk", "wrk", "wrk binary")
	fs.StringVar(&o.ghz, "ghz", ".tools/bin/ghz", "ghz binary")
	fs.StringVar(&o.out, "out", firstNonEmpty(getenv("BENCH_OUT"), filepath.Join("bench", "results", time.Now().Format("20060102-150405"))), "results directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var errs []string
	num := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s=%q: want a positive integer", name, v))
			return def
		}
		return n
	}
	o.duration = 10 * time.Second
	if v := getenv("BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			errs = append(errs, fmt.Sprintf("BENCH_DURATION=%q: want a duration of at least 1s", v))
		} else {
			o.duration = d
		}
	}
	o.rate = num("BENCH_RATE", 1000)
	o.freshRate = num("BENCH_FRESH_RATE", 200)
	o.latConns = num("BENCH_LAT_CONNS", 16)
	o.satConns = num("BENCH_SAT_CONNS", 50)
	o.checks = num("BENCH_CHECKS", 50000)
	o.rules = num("BENCH_RULES", 200)
	o.unique = getenv("BENCH_UNIQUE") != "0"
	o.cpuLoad = firstNonEmpty(getenv("BENCH_CPU_LOAD"), "0")
	o.cpuGateway = firstNonEmpty(getenv("BENCH_CPU_GATEWAY"), "1")
	for _, f := range strings.Fields(firstNonEmpty(getenv("BENCH_GHZ_RATES"), "100 1000 5000")) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("BENCH_GHZ_RATES: %q is not a positive integer", f))
			continue
		}
		o.ghzRates = append(o.ghzRates, n)
	}
	o.rungs = map[string]bool{}
	for _, r := range strings.FieldsFunc(firstNonEmpty(getenv("BENCH_RUNGS"), "1,2,3,4,5,check"), func(r rune) bool { return r == ',' || r == ' ' }) {
		switch r {
		case "1", "2", "3", "4", "5", "check":
			o.rungs[r] = true
		default:
			errs = append(errs, fmt.Sprintf("BENCH_RUNGS: unknown rung %q (want 1,2,3,4,5,check)", r))
		}
	}
	o.authzAddr = getenv("BENCH_AUTHZ_ADDR")
	o.authzName = firstNonEmpty(getenv("BENCH_AUTHZ_NAME"), "other ext_authz")
	for _, f := range strings.Fields(getenv("BENCH_AUTHZ_PIDS")) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			errs = append(errs, fmt.Sprintf("BENCH_AUTHZ_PIDS: %q is not a pid", f))
			continue
		}
		o.authzPIDs = append(o.authzPIDs, pid)
	}
	for _, b := range []*string{&o.bridle, &o.upstream, &o.noop, &o.envoy, &o.fortio, &o.ghz} {
		if _, err := os.Stat(*b); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v (bench/run.sh builds and installs it)", *b, err))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return o, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
