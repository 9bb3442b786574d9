#!/usr/bin/env bash
# Installs what the integration tests need and is not in the Go toolchain:
#   - etcd, from Debian's etcd-server package (the package's service is not used)
#   - kube-apiserver and kube-controller-manager, built from the Go module proxy into a
#     cache directory (hack/k8s-binaries.sh)
#   - chromium, from Debian's chromium package, for the HTML report's browser test
#     (test/browser drives /usr/bin/chromium headless)
# Prints the binaries' directory on stdout. Safe to run again: a warm run takes a second.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: etcd is missing; install it with: sudo apt-get install -y etcd-server" >&2
    exit 1
  fi
  echo "ensure-deps: installing etcd-server (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends etcd-server >&2
  # The package may start its own etcd on the default ports; the tests start their own.
  (systemctl stop etcd || service etcd stop || pkill -x etcd) >/dev/null 2>&1 || true
fi

# Only the browser test needs chromium, and it fails with the same hint when chromium is
# missing: without root, say how to install it and go on with the rest.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "ensure-deps: chromium is missing (the HTML report's browser test needs it); install it with: sudo apt-get install -y --no-install-recommends chromium" >&2
  else
    echo "ensure-deps: installing chromium (Debian package)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends chromium >&2
  fi
fi
"$here/k8s-binaries.sh"
