#!/usr/bin/env bash
# Run every fuzz target in the module for FUZZTIME (default 20s) each.
# Targets are discovered with `go test -list 'Fuzz.*'`, so new FuzzXxx
# functions are picked up without editing anything.
# usage: scripts/fuzz.sh [package pattern ...]   (default ./...)
set -euo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- ./...

targets=()
while read -r pkg; do
	while read -r name; do
		targets+=("$pkg $name")
	done < <("$GO" test -list '^Fuzz' "$pkg" | grep -E '^Fuzz[A-Za-z0-9_]*$' || true)
done < <("$GO" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "$@")

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found"
	exit 0
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"
failed=()
for t in "${targets[@]}"; do
	pkg=${t% *} name=${t#* }
	echo "== $pkg $name"
	if ! "$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		failed+=("$pkg $name")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}"
	echo "fuzz: failing inputs are saved under the package's testdata/fuzz/"
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
