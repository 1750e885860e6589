#!/usr/bin/env bash
# Usage: tools/images/base.sh   Prints "NAME KEY TARBALL" for the two bases.
# The images' bases, made from Debian's packages with mmdebstrap (no registry needed):
#   base      bookworm's Essential set + python3 (Debian's 3.11), for every image
#   base-frr  the same + frr + frr-pythontools, for speaker-frr
# Docs, man pages and translations are left out (copyright files kept). Each tarball is
# cached under a key of this script, the suite, the mirror and the package lists, so it
# is made once; delete ~/.cache/metallb-py/images/base to take Debian's latest updates.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

suite=bookworm
mirror=${METALLB_PY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# merged-usr hook: /usr merged by symlinks and usr-is-merged installed, so apt does not
# pull usrmerge and with it perl (47 MB).
opts=(--variant=essential --mode=root --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-include=/usr/share/locale/locale.alias'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/lintian/*')
declare -A packages=([base]=python3 [base-frr]=python3,frr,frr-pythontools)

mkdir -p "$images_cache/base"
for name in base base-frr; do
  key=$(inputs_key tools/images/base.sh -- "$suite" "$mirror" "${packages[$name]}")
  tarball="$images_cache/base/$name-$key.tar"
  if [[ ! -s $tarball ]]; then
    log "making $name ($suite: ${packages[$name]}) with mmdebstrap ..."
    start=$SECONDS
    # Its output goes to a log shown only on failure.
    mmdebstrap --format=tar "${opts[@]}" --include="${packages[$name]}" \
      "$suite" "$tarball.tmp" "$mirror" > "$tarball.log" 2>&1 \
      || { tail -n 40 "$tarball.log" >&2; log "mmdebstrap failed (log: $tarball.log)"; exit 1; }
    mv "$tarball.tmp" "$tarball"
    log "$name made in $((SECONDS - start)) s: $(du -h "$tarball" | cut -f1)"
  fi
  # An older base of this name (earlier packages or options) is not needed again.
  find "$images_cache/base" -regextype posix-extended -regex ".*/$name-[0-9a-f]{16}\.tar.*" \
    -not -name "$name-$key.tar*" -delete
  echo "$name $key $tarball"
done
