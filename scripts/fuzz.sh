#!/usr/bin/env bash
# Runs every Go fuzz target of the tree for FUZZTIME (default 30s), one after
# another: go test fuzzes one target of one package per run. Targets are
# found in the packages whose tests define `func Fuzz…`; seeds live in each
# package's testdata/fuzz/FuzzXxx, where a failing input is also written.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
n=0
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
	# A package that does not compile must fail the run, not be skipped.
	names=$($GO test -list '^Fuzz' "$dir")
	for name in $(printf '%s\n' "$names" | grep '^Fuzz' || true); do
		echo "== fuzz $dir $name for $FUZZTIME"
		$GO test -run "^${name}\$" -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$dir"
		n=$((n + 1))
	done
done
echo "== fuzzed $n targets for $FUZZTIME each"
