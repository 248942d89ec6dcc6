#!/usr/bin/env bash
# `make fuzz`: every Fuzz target of every package for FUZZTIME on top of its
# seed corpus (which plain `go test` already runs).
#
# Go's fuzzing engine sometimes reports "fuzzing process hung or terminated
# unexpectedly" with no input at fault (golang/go#56238, #52569): a worker
# is declared dead while the coordinator minimises. Such a report is
# accepted as spurious only if the input it names (if any) passes when run
# on its own; the target is then fuzzed once more. Any other failure, or a
# named input that fails, fails the run with the engine's full output.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
cd "$(dirname "$0")/.."

fuzz() { # pkg target → 0 ok, 1 failed, 2 spurious engine report
  local pkg=$1 target=$2 out
  if out=$($GO test -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
    return 0
  fi
  if grep -q 'fuzzing process hung or terminated unexpectedly' <<<"$out"; then
    local input
    input=$(grep -o "go test -run=$target/[0-9a-f]*" <<<"$out" | head -1 | sed "s|go test -run=||")
    if [ -z "$input" ] || $GO test -run "^${input%%/*}\$/^${input#*/}\$" "$pkg" >/dev/null 2>&1; then
      echo "fuzz $target: the engine reported a hung worker; its input passes on its own (golang/go#56238): retrying once" >&2
      [ -n "$input" ] && rm -f "$($GO list -f '{{.Dir}}' "$pkg")/testdata/fuzz/$input"
      return 2
    fi
  fi
  printf '%s\n' "$out" >&2
  return 1
}

for pkg in $($GO list ./...); do
  for target in $($GO test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz'); do
    echo "fuzz $pkg $target ($FUZZTIME)"
    fuzz "$pkg" "$target"
    rc=$?
    if [ $rc = 2 ]; then
      fuzz "$pkg" "$target"
      rc=$?
    fi
    if [ $rc != 0 ]; then
      echo "fuzz $target failed: rerun with $GO test -run '^\$' -fuzz '^$target\$' $pkg" >&2
      exit 1
    fi
  done
done
