#!/usr/bin/env bash
# Extracts frr-k8s's CRDs (FRRConfiguration, BGPSessionState, FRRNodeState) from its Go
# module at the pinned release into a cache outside the clone, and prints that
# directory as its last line. The module comes through the Go module proxy and is
# checked against the Go checksum database, so no third-party YAML is kept in this
# repository and the pin below is the one place to move to another release.
# A second run with the same pin downloads nothing. The pin is upstream MetalLB's (its
# go.mod); v0.0.21's CRDs are refused by Kubernetes 1.36 (ASNs declared int32 with a
# maximum of 4294967295: every object fails validation).
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
module=github.com/metallb/frr-k8s
version=${FRRK8S_VERSION:-v0.0.25}
cache=${METALLB_PY_CACHE:-$HOME/.cache/metallb-py}
out="$cache/frrk8s/$version/crds"

if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dir=$(cd "$work" && go mod download -json "$module@$version" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
mkdir -p "$out"
cp "$dir"/config/crd/bases/frrk8s.metallb.io_*.yaml "$out/"
chmod u+w "$out"/*.yaml
echo "$version" > "$out/.complete"
echo "frrk8s: CRDs of $module@$version in $out" >&2
echo "$out"
