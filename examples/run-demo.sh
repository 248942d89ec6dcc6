#!/usr/bin/env bash
# Starts the demo upstream and `bridle up` with examples/bridle.yaml (used by
# `make run`). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")"
bin=../bin
state=.bridle
mkdir -p "$state" && chmod 700 "$state"

rm -f "$state/demo-upstream-ca.pem"
"$bin/bridle-demo-upstream" -listen 127.0.0.1:9443 -host api.demo.bridle.test -ca-out "$state/demo-upstream-ca.pem" &
upstream=$!
trap 'kill "$upstream" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$state/demo-upstream-ca.pem" ] && break; sleep 0.1; done
if ! kill -0 "$upstream" 2>/dev/null || [ ! -s "$state/demo-upstream-ca.pem" ]; then
  echo "the demo upstream did not start (is 127.0.0.1:9443 in use?)" >&2
  exit 1
fi

if [ ! -f "$state/agents/demo.token" ]; then
  "$bin/bridle" agent add demo --config bridle.yaml >/dev/null
  echo "created agent 'demo' (token in $state/agents/demo.token)"
fi
BRIDLE_DEMO_TOKEN_SHA256=$(tr -d '\n' < "$state/agents/demo.token" | sha256sum | cut -d' ' -f1)
export BRIDLE_DEMO_TOKEN_SHA256
# The demo upstream echoes what it receives, so you will see this value
# arrive there: it is a stand-in, not a secret.
export BRIDLE_DEMO_CREDENTIAL="${BRIDLE_DEMO_CREDENTIAL:-demo-credential-injected-by-bridle}"

echo "Try it: ./bin/bridle run --config examples/bridle.yaml -- curl -s https://api.demo.bridle.test/hello"
echo "  (a DELETE or POST is denied by examples/policies/demo.yaml)"
"$bin/bridle" up --config bridle.yaml
