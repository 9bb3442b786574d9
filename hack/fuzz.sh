#!/usr/bin/env bash
# Fuzzes every fuzz target of the module for a short while, one after the other.
#
#   hack/fuzz.sh            # 30s per target
#   hack/fuzz.sh 10m        # longer, e.g. before a release
#
# A plain `go test ./...` already runs each target over its seeds and committed corpus;
# this looks for new inputs. A failing input is written to the target's testdata/fuzz/
# directory: fix the bug and commit the input with the fix, so that `go test` keeps
# running it. Exits non-zero if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-30s}
if [[ $# -gt 1 || ! $fuzztime =~ ^[0-9]+(s|m|h|x)$ ]]; then
	echo "usage: hack/fuzz.sh [DURATION]   (e.g. 30s, 5m, 1h, or 1000x for a count of inputs)" >&2
	exit 2
fi

failed=()
ran=0
# Every `func FuzzXxx(f *testing.F)` in a _test.go file, with its package directory.
while IFS=: read -r file name; do
	dir=./$(dirname "$file")
	echo "== $name in $dir for $fuzztime"
	ran=$((ran + 1))
	# -parallel 2: the CI machines have 2 cores; more workers only add memory.
	if ! go test "$dir" -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -parallel 2; then
		failed+=("$name ($dir)")
	fi
done < <(git ls-files '*_test.go' | xargs grep -oE '^func Fuzz[A-Za-z0-9_]+' /dev/null | sed 's/:func /:/' | sort)

if [[ $ran -eq 0 ]]; then
	echo "hack/fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "hack/fuzz.sh: ${#failed[@]} of $ran targets failed: ${failed[*]}" >&2
	echo "the failing inputs are in each package's testdata/fuzz/ directory; see git status" >&2
	exit 1
fi
echo "hack/fuzz.sh: $ran targets fuzzed for $fuzztime each, no failure"
