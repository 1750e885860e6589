#!/usr/bin/env bash
# Builds mlpeer (main.go: a hashicorp/memberlist member configured as upstream MetalLB's
# speaker configures it, for the interop tests) at the pins of this directory's go.mod
# (memberlist v0.5.1, upstream MetalLB's) into a cache outside the clone keyed by the
# sources. A second run with nothing changed builds nothing. Prints the bin directory last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

version=$(awk '$1 == "github.com/hashicorp/memberlist" { print $2; exit }' go.mod)
[[ -n "$version" ]] || { echo "mlpeer: no github.com/hashicorp/memberlist version in go.mod" >&2; exit 1; }
digest=$(cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
cache=${METALLB_PY_CACHE:-$HOME/.cache/metallb-py}
bin="$cache/mlpeer/$version-$digest/bin"

if [[ -f "$bin/.complete" ]]; then
  echo "mlpeer: memberlist $version already built in $bin (nothing to do)" >&2
  echo "$bin"
  exit 0
fi
mkdir -p "$bin"
start=$SECONDS
echo "mlpeer: building with memberlist $version ..." >&2
go build -trimpath -ldflags "-s -w" -o "$bin/mlpeer.tmp" .
mv "$bin/mlpeer.tmp" "$bin/mlpeer"
echo "mlpeer: built in $((SECONDS - start)) s" >&2
echo "$version" > "$bin/.complete"
echo "$bin"
