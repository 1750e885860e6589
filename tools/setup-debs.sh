#!/usr/bin/env bash
# Installs the Debian packages given as arguments, but only those missing, so a warm
# setup costs one dpkg query per package and never touches the network.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "setup: Debian packages present"
  exit 0
fi
echo "setup: installing Debian packages: ${missing[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
