#!/usr/bin/env bash
# `make bench`: Bridle's benchmark ladder and the Go micro-benchmarks, in
# one invocation (bench/README.md). Installs what is missing: Envoy and
# redis-server through the Makefile, fortio and ghz into .tools/bin with
# `go install` (never into go.mod), wrk from Debian.
#
# Tuning (environment): BENCH_DURATION BENCH_RATE BENCH_FRESH_RATE
# BENCH_LAT_CONNS BENCH_SAT_CONNS BENCH_CHECKS BENCH_GHZ_RATES BENCH_RULES
# BENCH_UNIQUE BENCH_CPU_LOAD BENCH_CPU_GATEWAY BENCH_RUNGS, and another
# ext_authz server: BENCH_AUTHZ_ADDR BENCH_AUTHZ_NAME BENCH_AUTHZ_PIDS.
# BENCH_SKIP_GO=1 skips the Go micro-benchmarks (GOBENCH_* tune them).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/.tools/bin
mkdir -p "$tools" bin

export BRIDLE_ENVOY=${BRIDLE_ENVOY:-$tools/envoy}
[ -x "$BRIDLE_ENVOY" ] || make --no-print-directory envoy
command -v redis-server >/dev/null || make --no-print-directory redis
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk (apt-get)"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
[ -x "$tools/fortio" ] || { echo "bench: go install fortio.org/fortio@v1.68.2"; GOBIN=$tools go install fortio.org/fortio@v1.68.2; }
[ -x "$tools/ghz" ] || { echo "bench: go install github.com/bojand/ghz/cmd/ghz@v0.120.0"; GOBIN=$tools go install github.com/bojand/ghz/cmd/ghz@v0.120.0; }

go build -o bin/bridle ./cmd/bridle
go build -o bin/bridle-demo-upstream ./cmd/bridle-demo-upstream
# The bench tools carry the build tag "bench", so ./... (tests, vet, the
# dependency test) does not see them.
go build -tags bench -o bin/noop-authz ./bench/cmd/noop-authz
go build -tags bench -o bin/bench-ladder ./bench/cmd/ladder

out=${BENCH_OUT:-bench/results/$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
bin/bench-ladder -out "$out" -bridle bin/bridle -upstream bin/bridle-demo-upstream -noop bin/noop-authz \
  -envoy "$BRIDLE_ENVOY" -fortio "$tools/fortio" -ghz "$tools/ghz" -wrk "$(command -v wrk)"

if [ "${BENCH_SKIP_GO:-}" != 1 ]; then
  GOBENCH_OUT=$out/gobench.txt bench/gobench.sh >/dev/null
  echo
  echo "Go micro-benchmarks: $out/gobench.txt (benchstat format)"
fi
echo "Table: $out/table.md; raw outputs and logs: $out/work/"
