#!/usr/bin/env bash
# Go micro-benchmarks of the decision path, in benchstat's format: policy
# evaluation at 20/200/2,000/10,000 rules, connector parsing, the Redis
# limiter and kill switch, decision-token sign/verify (when
# internal/tokens has benchmarks), the audit writer and extauthz.Check
# without gRPC. Compare two runs with
#   go run golang.org/x/perf/cmd/benchstat@latest old.txt new.txt
#
# GOBENCH_COUNT (default 5) runs of each; GOBENCH_TIME (default 1s) each;
# GOBENCH_FILTER is passed to -bench (default: every benchmark, but only the
# writer's in internal/audit: its query benchmarks, of the API's reads, take
# ~9 minutes at -count 5); GOBENCH_OUT is the file
# to write (default bench/results/gobench-<time>.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

count=${GOBENCH_COUNT:-5}
benchtime=${GOBENCH_TIME:-1s}
filter=${GOBENCH_FILTER:-}
out=${GOBENCH_OUT:-bench/results/gobench-$(date -u +%Y%m%d-%H%M%S).txt}
mkdir -p "$(dirname "$out")"

pkgs=()
for p in ./policies ./internal/connectors ./redis ./internal/tokens ./internal/audit ./extauthz; do
  # Skip a package that has no benchmarks (yet).
  if [ -d "$p" ] && grep -qs '^func Benchmark' "$p"/*_test.go; then
    pkgs+=("$p")
  else
    echo "gobench: no benchmarks in $p, skipped" >&2
  fi
done

command -v redis-server >/dev/null || echo "gobench: redis-server not on PATH: redis benchmarks of the real server will fail (make redis)" >&2

: > "$out"
for p in "${pkgs[@]}"; do
  f=$filter
  if [ -z "$f" ]; then
    f=.
    [ "$p" = ./internal/audit ] && f='^BenchmarkWrite'
  fi
  echo "gobench: go test -run '^\$' -bench '$f' -benchmem -count $count -benchtime $benchtime $p" >&2
  go test -run '^$' -bench "$f" -benchmem -count "$count" -benchtime "$benchtime" -timeout 60m "$p" | tee -a "$out"
done
echo "gobench: wrote $out" >&2
