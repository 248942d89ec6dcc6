#!/usr/bin/env bash
# Creates (or replaces) the Secret envoy-bootstrap that the Envoy pods start
# from. It runs `bridle envoy bootstrap` inside a running Bridle pod, where
# the shared CA is, so the bootstrap carries a client certificate for mutual
# TLS with Bridle; the output goes straight into the Secret and never
# touches this machine's disk. Run it after `kubectl apply -k deploy/k8s`
# once the Bridle pods are ready, and again when the CA changes, when the
# bridle-xds or bridle-authz Service is recreated (new ClusterIP), or within
# the client certificate's year. See docs/deploy.md.
#
# The bootstrap's clusters dial the Services' ClusterIPs: the command takes
# ip:port, not names.
set -euo pipefail
ns="${BRIDLE_NAMESPACE:-bridle}"

kubectl -n "$ns" rollout status deploy/bridle --timeout=5m
xds=$(kubectl -n "$ns" get service bridle-xds -o jsonpath='{.spec.clusterIP}')
authz=$(kubectl -n "$ns" get service bridle-authz -o jsonpath='{.spec.clusterIP}')

# Held in memory only; a failed command leaves the old Secret in place.
bootstrap=$(kubectl -n "$ns" exec deploy/bridle -c bridle -- \
  bridle envoy bootstrap --config /etc/bridle/bridle.yaml --node-id bridle-envoy \
    --xds "$xds:18000" --authz "$authz:18001" --admin 127.0.0.1:9901
)
printf '%s\n' "$bootstrap" |
  kubectl -n "$ns" create secret generic envoy-bootstrap \
    --from-file=envoy-bootstrap.json=/dev/stdin --dry-run=client -o yaml |
  kubectl -n "$ns" apply -f -
unset bootstrap

# Envoy reads its bootstrap at start only.
kubectl -n "$ns" rollout restart deploy/bridle-envoy
