#!/usr/bin/env bash
# The project's test command, as the README gives it and CI runs it:
#   1. installs what the tests need (etcd, the Kubernetes control-plane binaries)
#   2. checks formatting and go vet
#   3. runs every unit test and every integration test against a real control plane
# `go test ./...` alone runs the unit tests only (integration tests skip themselves unless
# AUDITOR_INTEGRATION=1, which this script sets).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

echo "== dependencies"
KUBE_BIN_DIR=$(hack/ensure-deps.sh)
export KUBE_BIN_DIR AUDITOR_INTEGRATION=1
echo "control-plane binaries: $KUBE_BIN_DIR ($("$KUBE_BIN_DIR/kube-apiserver" --version))"

echo "== gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './hack/tools/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...

echo "== build"
# The release flags (static, -trimpath, stripped, version stamped): the Dockerfile builds
# the image's binary with the same script.
hack/build.sh bin/auditor >/dev/null
bin/auditor version | grep -q 'client-go: v0.36' || { echo "auditor version does not report client-go v0.36" >&2; exit 1; }

echo "== tests (unit + integration)"
go test -count=1 -timeout 30m ./...

echo "== no control-plane process left behind"
if pgrep -af 'storage-auditor-cp-' >/dev/null; then
  pgrep -af 'storage-auditor-cp-' >&2
  echo "control-plane processes remain after the tests" >&2
  exit 1
fi
echo "hack/test.sh: all checks passed in $(( $(date +%s) - start ))s"
