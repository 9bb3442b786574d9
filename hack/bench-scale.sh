#!/usr/bin/env bash
# Scale benchmark: `auditor run -o json` against a real control plane loaded with N objects,
# next to the floor (hack/bench-scale/floor: a minimal program that only LISTs the same
# kinds, protobuf, 500 per page, 4 at a time, results discarded). Not part of hack/test.sh.
#
#   hack/bench-scale.sh                         # N = 5000,10000,20000
#   hack/bench-scale.sh -n 5000                 # one size
#   hack/bench-scale.sh -n 5000 -auditor-args "--qps 500 --burst 1000"
#   hack/bench-scale.sh -n 20000 -load-only     # only load (to tune -workers/-conns)
#
# For each N it starts a fresh etcd + kube-apiserver (no controller-manager, so the load
# stays as created), loads N PVs, N PVCs (Bound), N pods (Running, two realistic
# containers each), N VolumeAttachments, N/10 nodes (large kubelet-like status) with their
# CSINodes, 5N events (1/5 about storage) and a few StorageClasses in N/100 namespaces,
# then runs the floor and the auditor 3 times each (alternating) and stops the control
# plane. It prints, per N: floor and auditor wall time (medians), their ratio, the
# auditor's own load/rules split (--debug-timings), both peak RSS (wait4 rusage), the
# findings count, and the load time/rate. Progress and per-run lines go to stderr, the
# table to stdout. It judges no number; it fails only if something breaks (load error,
# auditor exit code other than 0/1, no findings, control plane processes left behind).
#
# How long: loading is bound by kube-apiserver CPU (server-side managedFields on every
# create and status update; 13 requests per volume): 420-530 requests/s on 2 shared cores,
# i.e. ~2 min for N=5000, ~5 min for 10000, ~10 min for 20000; the six measured runs add
# ~1, ~1.5 and ~3 min. The full default run takes about 25 minutes; kube-apiserver grows
# to ~5 GB RSS at N=20000. Findings: node-attach-limit on every 50th node (N/500), plus
# va-orphaned for the VolumeAttachments with an attach error (N/500) once they are older
# than the rule's 10 min grace, so the count can grow between runs of a large N.
#
# Extra flags: -runs, -workers, -conns, -auditor-args, -apiserver-args (e.g.
# "--profiling=true"), -keep-reports, -hold DURATION (keep each control plane up after
# measuring, to poke at it), -load-only.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBE_BIN_DIR=$(hack/ensure-deps.sh)
export KUBE_BIN_DIR

has_n=false
for a in "$@"; do
  case "$a" in -n|-n=*|--n|--n=*) has_n=true ;; esac
done
if $has_n; then
  exec go run ./hack/bench-scale "$@"
fi
exec go run ./hack/bench-scale -n 5000,10000,20000 "$@"
