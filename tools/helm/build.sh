#!/usr/bin/env bash
# Builds the real helm binary from its published Go module (pinned below) into a cache
# outside the clone; a second run with the same pin builds nothing. Prints the binary's
# path as its last line. Used by the chart tests (lint, template).
set -euo pipefail
version=v4.3.1
export GOTOOLCHAIN=local
cache=${METALLB_PY_CACHE:-$HOME/.cache/metallb-py}
bin="$cache/helm/$version/bin"
if [[ -x "$bin/helm" ]]; then
  echo "helm: $version already built in $bin (nothing to do)" >&2
  echo "$bin/helm"
  exit 0
fi
mkdir -p "$bin"
start=$SECONDS
echo "helm: building $version ..." >&2
GOBIN="$bin.tmp" go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$version" \
  "helm.sh/helm/v4/cmd/helm@$version"
mv "$bin.tmp/helm" "$bin/helm"
rmdir "$bin.tmp"
echo "helm: built $version in $((SECONDS - start)) s" >&2
echo "$bin/helm"
