# Shared by the scripts of tools/images (sourced, not run): where the cache lives, the
# private Docker engine's paths, and how an input's content becomes a cache key.
# shellcheck shell=bash

cache=${METALLB_PY_CACHE:-$HOME/.cache/metallb-py}
images_cache="$cache/images"
# The engine's state: its own data root in the cache (layers survive between runs) and its
# own runtime directory, socket and pidfile, so it shares nothing with a Docker the host
# may run.
engine_run=${METALLB_PY_ENGINE_RUN:-/run/metallb-py/docker}
engine_data="$cache/docker"
engine_sock="$engine_run/docker.sock"
# Debian's client, not whatever `docker` comes first in PATH: it matches dockerd's API.
docker_bin=${METALLB_PY_DOCKER:-/usr/bin/docker}
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

IMAGE_TAG=${IMAGE_TAG:-dev}
IMAGE_REPO=${IMAGE_REPO:-quay.io/metallb-py}
LAB_IMAGE_REPO=${LAB_IMAGE_REPO:-localhost/metallb-py}

dk() { DOCKER_HOST="unix://$engine_sock" "$docker_bin" "$@"; }

# sha256 of the given files' names and contents (directories walked, caches left out),
# then of any extra strings: the key under which a build's output is cached.
inputs_key() {
  local files=() extra=()
  while (($#)); do
    if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
    files+=("$1"); shift
  done
  {
    (cd "$repo_root" && find "${files[@]}" -type f -not -path '*/__pycache__/*' \
      -not -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    printf '%s\n' "${extra[@]}"
  } | sha256sum | cut -c1-16
}

log() { echo "images: $*" >&2; }
