#!/usr/bin/env bash
# Extracts frr-k8s's CRDs (FRRConfiguration, BGPSessionState, FRRNodeState,
# FRRK8sConfiguration) from its Go module at the pinned release (common.sh) into a cache
# outside the clone, and prints that directory as its last line: no third-party YAML is
# kept in this repository. A second run downloads nothing.
set -euo pipefail
source "$(dirname "$0")/common.sh"
out="$cache/crds"
if [[ ! -f "$out/.complete" ]]; then
  dir=$(module_dir)
  mkdir -p "$out"
  cp "$dir"/config/crd/bases/frrk8s.metallb.io_*.yaml "$out/"
  chmod u+w "$out"/*.yaml
  echo "$version" > "$out/.complete"
  echo "frrk8s: CRDs of $module@$version in $out" >&2
fi
echo "$out"
