#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from the Go modules pinned
# in this directory's go.mod, into a cache outside the clone keyed by the Kubernetes
# version and the go.sum digest. A second run with the same pins builds nothing.
# Prints the directory holding the three binaries as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod

version=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' go.mod)
digest=$(cat go.mod go.sum | sha256sum | cut -c1-12)
cache=${METALLB_PY_CACHE:-$HOME/.cache/metallb-py}
bin="$cache/ktestenv/$version-$digest/bin"

if [[ -f "$bin/.complete" ]]; then
  echo "ktestenv: $version already built in $bin (nothing to do)" >&2
  echo "$bin"
  exit 0
fi

minor=${version#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
ld="-s -w"
for p in $vpkg $cpkg; do
  ld+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

mkdir -p "$bin"
build() {  # name package [ldflags]
  local start=$SECONDS
  echo "ktestenv: building $1 ($version) ..." >&2
  go build -p "$(nproc)" -trimpath -ldflags "$3" -o "$bin/$1.tmp" "$2"
  mv "$bin/$1.tmp" "$bin/$1"
  echo "ktestenv: built $1 in $((SECONDS - start)) s" >&2
}
build etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$ld"
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$ld"
echo "$version" > "$bin/.complete"
echo "$bin"
