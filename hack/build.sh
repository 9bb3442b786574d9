#!/usr/bin/env bash
# Builds the auditor binary the way every release artefact is built — the Dockerfile,
# hack/test.sh (CI) and the kubectl plugin archives all call this script, so they all
# get the same flags: static (CGO_ENABLED=0), reproducible paths (-trimpath), stripped
# (-s -w), and the version stamped into internal/version.
#
#   hack/build.sh [output]          # default bin/auditor; prints the output path
#   VERSION=v0.2.0 COMMIT=abc123 hack/build.sh /out/auditor
#
# VERSION defaults to `git describe --tags --always --dirty`, COMMIT to `git rev-parse
# HEAD`; without git (a Docker build context has no .git) pass them, or they read "dev"
# and "unknown". GOOS and GOARCH from the environment cross-compile.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-bin/auditor}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
pkg=github.com/storage-auditor/auditor/internal/version

CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X ${pkg}.Version=${version} -X ${pkg}.Commit=${commit}" \
  -o "$out" ./cmd/auditor
echo "$out"
