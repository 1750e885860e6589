# Sourced by crds.sh and build.sh: the pinned frr-k8s release, the cache outside the
# clone, and the module's directory (downloaded through the Go module proxy, checked
# against the Go checksum database). The pin is upstream MetalLB's (its go.mod);
# v0.0.21's CRDs are refused by Kubernetes 1.36 (ASNs declared int32 with a maximum of
# 4294967295: every object fails validation).
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
module=github.com/metallb/frr-k8s
version=${FRRK8S_VERSION:-v0.0.25}
cache=${METALLB_PY_CACHE:-$HOME/.cache/metallb-py}/frrk8s/$version

module_dir() {
  local work
  work=$(mktemp -d)
  (cd "$work" && go mod download -json "$module@$version") |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
  rm -rf "$work"
}
