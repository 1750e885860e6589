#!/usr/bin/env bash
# Builds what a real lab node runs, from published Go modules, into a cache outside the
# clone keyed by the pins: kubelet, kube-proxy and kube-scheduler at the control plane's Kubernetes
# version (this directory's go.mod, as tools/ktestenv builds the apiserver), and
# containerd 2 with its runc shim and ctr (kubelet 1.36 no longer supports containerd
# 1.x, which is all Debian bookworm ships). runc and the CNI plugins come from Debian.
# A second run with the same pins builds nothing. Prints the bin directory last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

containerd_version=v2.4.2
version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit } $1 == "require" && $2 == "k8s.io/kubernetes" { print $3; exit }' go.mod)
[[ -n "$version" ]] || { echo "knode: no k8s.io/kubernetes version in go.mod" >&2; exit 1; }
digest=$( (cat go.mod go.sum; echo "$containerd_version") | sha256sum | cut -c1-12)
cache=${METALLB_PY_CACHE:-$HOME/.cache/metallb-py}
bin="$cache/knode/$version-$digest/bin"

if [[ -f "$bin/.complete" ]]; then
  echo "knode: $version and containerd $containerd_version already built in $bin (nothing to do)" >&2
  echo "$bin"
  exit 0
fi

minor=${version#v1.}; minor=${minor%%.*}
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$bin"
build() {  # name package ldflags
  local start=$SECONDS
  echo "knode: building $1 ($version) ..." >&2
  go build -p "$(nproc)" -trimpath -ldflags "$3" -o "$bin/$1.tmp" "$2"
  mv "$bin/$1.tmp" "$bin/$1"
  echo "knode: built $1 in $((SECONDS - start)) s" >&2
}
build kubelet k8s.io/kubernetes/cmd/kubelet "$ld"
build kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$ld"
build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$ld"

start=$SECONDS
echo "knode: building containerd $containerd_version ..." >&2
cdld="-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version"
# No btrfs/devmapper/zfs snapshotters: the lab uses overlayfs (or native) only, and the
# btrfs one needs C headers Debian would have to provide.
GOBIN="$bin.tmp" GOFLAGS= go install -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags "$cdld" \
  "github.com/containerd/containerd/v2/cmd/containerd@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd_version" \
  "github.com/containerd/containerd/v2/cmd/ctr@$containerd_version"
mv "$bin.tmp"/* "$bin/"
rmdir "$bin.tmp"
echo "knode: built containerd in $((SECONDS - start)) s" >&2
echo "$version containerd $containerd_version" > "$bin/.complete"
echo "$bin"
