#!/usr/bin/env bash
# Builds frr-k8s's daemons (frr-k8s-controller: FRRConfigurations -> the node's FRR;
# status: BGPSessionState objects) and takes its reloader script, from its Go module at
# the pinned release (common.sh), into a cache outside the clone. A second run builds
# nothing. Prints the directory holding them as its last line.
set -euo pipefail
source "$(dirname "$0")/common.sh"
bin="$cache/bin"
if [[ ! -f "$bin/.complete" ]]; then
  mkdir -p "$bin"
  for cmd in frr-k8s-controller status; do
    start=$SECONDS
    echo "frrk8s: building $cmd ($version) ..." >&2
    GOBIN="$bin" go install -trimpath -ldflags "-s -w" "$module/cmd/$cmd@$version"
    echo "frrk8s: built $cmd in $((SECONDS - start)) s" >&2
  done
  # The reloader is a script of the module (frr-k8s's image runs it beside FRR).
  install -m 0755 "$(module_dir)/cmd/reloader/frr-reloader.sh" "$bin/frr-reloader.sh"
  echo "$version" > "$bin/.complete"
fi
echo "$bin"
