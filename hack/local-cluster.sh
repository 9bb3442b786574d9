#!/usr/bin/env bash
# Starts or stops a local control plane (etcd, kube-apiserver, kube-controller-manager;
# no Docker, no nodes) that outlives this script, for trying the auditor by hand.
#
#   eval "$(hack/local-cluster.sh up)"   # progress on stderr; last stdout line: export KUBECONFIG=...
#   kubectl get ns
#   hack/local-cluster.sh down           # stops it and removes its state
#
# State (etcd data, logs, kubeconfig): ${XDG_CACHE_HOME:-$HOME/.cache}/storage-auditor/local-cluster.
# Needs etcd (apt-get install -y etcd-server); builds kube-apiserver and
# kube-controller-manager on first use (hack/k8s-binaries.sh, ~10 min) unless KUBE_BIN_DIR is set.
set -euo pipefail

case "${1:-}" in
  up|down) ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
exec go run ./test/cmd/local-cluster "$1"
