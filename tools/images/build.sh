#!/usr/bin/env bash
# Usage: tools/images/build.sh   (`make images`; IMAGE_TAG, IMAGE_REPO, LAB_IMAGE_REPO
# override the references, see lib.sh)
# Builds, on this machine and with no container registry, metallb-py's images
# (controller, speaker, speaker-frr from images/Dockerfile) and the lab's two (lab-pause,
# the Pods' sandbox, and lab-web, a backend), and writes each as a `docker save` tarball.
#   - bases: Debian's packages through mmdebstrap (base.sh), `docker import`ed;
#   - Python packages: wheels built on the host (wheels.sh), installed with --no-index;
#   - engine: a private dockerd (engine.sh) that leaves the host's network alone, started
#     only when something must be built and always stopped on exit; builds run with
#     --network none, so nothing inside them can reach a network;
#   - incremental: each image is keyed by its inputs (stamp files next to its tarball);
#     with nothing changed no engine starts and the run takes about a second.
# Prints "REFERENCE TARBALL" per image as its last lines (also in the out/ directory's
# images-TAG.txt), for `ctr -n k8s.io images import TARBALL`.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
export DOCKER_BUILDKIT=0 # Debian's docker.io has no buildx: the legacy builder.

out="$images_cache/out"
mkdir -p "$out"
# One build (or test using the engine) at a time: they share the engine and its socket.
exec 9> "$images_cache/lock"
flock 9

wheels_out=$("$here/wheels.sh")
read -r wheels_key wheels_dir <<< "$wheels_out"
bases_out=$("$here/base.sh")
declare -A base_key base_tar
while read -r name key tarball; do
  base_key[$name]=$key
  base_tar[$name]=$tarball
done <<< "$bases_out"
base_ref() { echo "$LAB_IMAGE_REPO/$1:${base_key[$1]}"; }

gcc_version=$(gcc -dumpfullversion)
names=(controller speaker speaker-frr lab-pause lab-web)
declare -A ref key
for t in controller speaker speaker-frr; do
  ref[$t]="$IMAGE_REPO/$t:$IMAGE_TAG"
  key[$t]=$(inputs_key images/Dockerfile tools/images/build.sh \
    -- "$wheels_key" "${base_key[base]}" "${base_key[base-frr]}" "${ref[$t]}")
done
ref[lab-pause]="$LAB_IMAGE_REPO/lab-pause:$IMAGE_TAG"
key[lab-pause]=$(inputs_key images/lab/pause.c tools/images/build.sh -- "$gcc_version" "${ref[lab-pause]}")
ref[lab-web]="$LAB_IMAGE_REPO/lab-web:$IMAGE_TAG"
key[lab-web]=$(inputs_key images/lab tools/images/build.sh -- "${base_key[base]}" "${ref[lab-web]}")

tarball() { echo "$out/$1-$IMAGE_TAG.tar"; }
stamp() { echo "$out/$1-$IMAGE_TAG.stamp"; }
fresh() { [[ -s $(tarball "$1") && $(cat "$(stamp "$1")" 2> /dev/null) == "${key[$1]}" ]]; }

# What the engine could leave on the host if it were misconfigured: its bridge, its
# firewall chains. Checked after every run that started it.
host_traces() {
  { ip -o link show type bridge | grep -o 'docker[0-9a-z_]*' || true; } | sed 's/^/link /'
  { iptables-save 2> /dev/null; ip6tables-save 2> /dev/null; nft list ruleset 2> /dev/null; } \
    | grep -i -m 5 docker | sed 's/^/rule /' || true
}

engine_started=
finish() {
  local rc=$?
  if [[ -n $engine_started ]]; then
    "$here/engine.sh" stop
    local traces
    traces=$(host_traces)
    if [[ -n $traces ]]; then
      log "the engine left traces on the host:"$'\n'"$traces"
      rc=1
    fi
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_engine() {
  [[ -n $engine_started ]] && return
  engine_started=1
  "$here/engine.sh" start > /dev/null
}

ensure_base() {
  local r
  r=$(base_ref "$1")
  dk image inspect "$r" > /dev/null 2>&1 && return
  log "importing ${base_tar[$1]} as $r"
  dk import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "${base_tar[$1]}" "$r" > /dev/null
}

# The install stage is tagged too: untagged, the prune below would drop it and a new
# IMAGE_TAG would install the wheels again instead of reusing the layer.
install_ref="$LAB_IMAGE_REPO/install:$wheels_key"

build_app() { # target, reference; the context: this Dockerfile and the wheels, as wheels/
  tar -c --owner=0 --group=0 --numeric-owner -C "$repo_root" images/Dockerfile \
    -C "$(dirname "$wheels_dir")" --transform "s,^$(basename "$wheels_dir"),wheels," \
    "$(basename "$wheels_dir")" \
    | dk build --quiet --network none -f images/Dockerfile --target "$1" \
      --build-arg BASE="$(base_ref base)" --build-arg BASE_FRR="$(base_ref base-frr)" \
      --build-arg WHEELS=context -t "$2" - > /dev/null
}

build_pause() { # one static binary, imported as the image's only file
  local dir
  dir=$(mktemp -d)
  gcc -static -Os -s -Wall -Wextra -Werror -o "$dir/pause" "$repo_root/images/lab/pause.c"
  tar -c --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$dir" pause \
    | dk import --change 'ENTRYPOINT ["/pause"]' --change 'USER 65535:65535' - "${ref[lab-pause]}" > /dev/null
  rm -rf "$dir"
}

build_web() {
  tar -c --owner=0 --group=0 --numeric-owner -C "$repo_root/images/lab" Dockerfile web.py \
    | dk build --quiet --network none --build-arg BASE="$(base_ref base)" \
      -t "${ref[lab-web]}" - > /dev/null
}

built=()
for n in "${names[@]}"; do
  fresh "$n" && continue
  ensure_engine
  start=$SECONDS
  case $n in
    controller | speaker | speaker-frr)
      ensure_base base
      ensure_base base-frr
      build_app install "$install_ref"
      build_app "$n" "${ref[$n]}"
      ;;
    lab-pause) build_pause ;;
    lab-web) ensure_base base; build_web ;;
  esac
  dk save -o "$(tarball "$n").tmp" "${ref[$n]}"
  chmod 644 "$(tarball "$n").tmp"
  mv "$(tarball "$n").tmp" "$(tarball "$n")"
  echo "${key[$n]}" > "$(stamp "$n")"
  built+=("$n")
  log "built ${ref[$n]} in $((SECONDS - start)) s"
done

if ((${#built[@]})); then
  # Bases and install stages of earlier keys, then untagged leftovers (a replaced tag):
  # the data root keeps what the current images are made of.
  { dk images --format '{{.Repository}}:{{.Tag}}' "$LAB_IMAGE_REPO/base*"
    dk images --format '{{.Repository}}:{{.Tag}}' "$LAB_IMAGE_REPO/install"; } \
    | { grep -v -x -e "$(base_ref base)" -e "$(base_ref base-frr)" -e "$install_ref" || true; } \
    | xargs -r "$docker_bin" -H "unix://$engine_sock" rmi > /dev/null
  dk image prune -f > /dev/null
  dk images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E "$IMAGE_REPO|$LAB_IMAGE_REPO" >&2 || true
else
  log "all images up to date (nothing to build)"
fi
manifest="$out/images-$IMAGE_TAG.txt"
for n in "${names[@]}"; do
  echo "${ref[$n]} $(tarball "$n")"
done > "$manifest"
cat "$manifest"
