#!/usr/bin/env bash
# Builds kube-apiserver and kube-controller-manager from the Go module proxy into a cache
# directory keyed by Kubernetes version, and prints that directory. Reuses a complete cache.
#
#   hack/k8s-binaries.sh            # build (or reuse) the default version
#   K8S_VERSION=v1.36.3 hack/k8s-binaries.sh
#
# The version must match hack/tools/k8s/go.mod (k8s.io/kubernetes and the staging replaces).
# A cold build takes 7-10 minutes on 2 cores; a warm call returns at once.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tools="$here/tools/k8s"
want=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$tools/go.mod")
version=${K8S_VERSION:-$want}
if [ "$version" != "$want" ]; then
  echo "k8s-binaries: K8S_VERSION=$version but hack/tools/k8s/go.mod pins $want; edit go.mod (require and every replace) to change it" >&2
  exit 2
fi
cache=${STORAGE_AUDITOR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storage-auditor}/k8s-$version
if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/kube-controller-manager" ] && [ -f "$cache/.complete" ]; then
  echo "$cache"
  exit 0
fi
mkdir -p "$cache"
minor=${version#v}; major=${minor%%.*}; minor=${minor#*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
echo "k8s-binaries: building kube-apiserver and kube-controller-manager $version into $cache (cold build: 7-10 min)" >&2
cd "$tools"
# go.sum is committed; k8s.io/kubernetes is not in the checksum database, so verify against go.sum only.
export GONOSUMDB='k8s.io/*' GOFLAGS=-mod=mod CGO_ENABLED=0
for cmd in kube-apiserver kube-controller-manager; do
  go build -trimpath -ldflags "$ldflags" -o "$cache/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
  mv "$cache/$cmd.tmp" "$cache/$cmd"
done
touch "$cache/.complete"
echo "$cache"
