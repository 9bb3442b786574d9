#!/usr/bin/env bash
# Benchmarks the whole rule catalogue over synthetic clusters of N = 25000, 50000 and
# 100000 objects per kind (pkg/rules/catalog/bench_test.go) and prints a table that shows
# whether the evaluation grows linearly: time and allocated memory per run, and the time
# ratio to N=25000 next to what linear growth would give.
#
#   hack/bench-rules.sh            # all rules together (BenchmarkAllRules)
#   hack/bench-rules.sh --rules    # also each rule alone at N=100000, slowest first
#
# BENCHTIME (default 3x) is passed to -benchtime. The raw `go test -bench` output is kept
# in $OUT (default: a temporary file) for benchstat; FROM=<file> prints the table of such a
# saved output without running anything. Nothing here judges the numbers: the machines
# are shared, so read them as a trend, not a pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."

per_rule=false
case "${1:-}" in
  --rules) per_rule=true ;;
  "") ;;
  *) echo "usage: $0 [--rules]" >&2; exit 2 ;;
esac

bench='^BenchmarkAllRules$'
$per_rule && bench='^BenchmarkAllRules$|^BenchmarkRule$'
if [ -n "${FROM:-}" ]; then
  out=$FROM
else
  out=${OUT:-$(mktemp -t bench-rules.XXXXXX)}
  echo "go test ./pkg/rules/catalog -run '^\$' -bench '$bench' -benchtime ${BENCHTIME:-3x} -benchmem  (raw output: $out)" >&2
  go test ./pkg/rules/catalog -run '^$' -bench "$bench" -benchtime "${BENCHTIME:-3x}" -benchmem -timeout 60m | tee "$out" >&2
fi

# Lines look like:
#   BenchmarkAllRules/N=25000-2   3   412345678 ns/op   7032 findings   31234567 B/op   345678 allocs/op
# Fields are found by their unit, so extra metrics do not shift them.
awk '
  function field(unit,   i) { for (i = 3; i <= NF; i++) if ($i == unit) return $(i - 1); return "" }
  $1 ~ /^BenchmarkAllRules\/N=/ {
    n = $1; sub(/^BenchmarkAllRules\/N=/, "", n); sub(/-[0-9]+$/, "", n)
    rows[++nrows] = n
    secs[n] = field("ns/op") / 1e9
    mb[n] = field("B/op") / 1048576
    allocs[n] = field("allocs/op")
    found[n] = field("findings")
  }
  $1 ~ /^BenchmarkRule\// {
    id = $1; sub(/^BenchmarkRule\//, "", id); sub(/-[0-9]+$/, "", id)
    rule[++nrules] = id
    rsecs[id] = field("ns/op") / 1e9
    rmb[id] = field("B/op") / 1048576
    rfound[id] = field("findings")
  }
  END {
    if (nrows == 0) { print "no BenchmarkAllRules results (did the benchmark fail?)" > "/dev/stderr"; exit 1 }
    base = rows[1]
    printf "\n%-8s %10s %12s %12s %10s %14s %8s\n", "N", "seconds", "alloc MB", "allocs", "findings", "time ratio", "linear"
    for (i = 1; i <= nrows; i++) {
      n = rows[i]
      ratio = secs[base] > 0 ? secs[n] / secs[base] : 0
      printf "%-8s %10.3f %12.1f %12d %10d %13.2fx %7.2fx\n", n, secs[n], mb[n], allocs[n], found[n], ratio, n / base
    }
    if (nrules > 0) {
      # Slowest first (insertion sort: 21 rules).
      for (i = 2; i <= nrules; i++)
        for (j = i; j > 1 && rsecs[rule[j]] > rsecs[rule[j - 1]]; j--) { t = rule[j]; rule[j] = rule[j - 1]; rule[j - 1] = t }
      printf "\n%-28s %10s %12s %10s\n", "rule (N=100000)", "seconds", "alloc MB", "findings"
      for (i = 1; i <= nrules; i++)
        printf "%-28s %10.3f %12.1f %10d\n", rule[i], rsecs[rule[i]], rmb[rule[i]], rfound[rule[i]]
    }
  }
' "$out"
