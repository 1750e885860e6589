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
# No installed service may start: a docker.io started by its postinst with Debian's
# defaults would add a bridge and iptables rules to the host, and the lab starts FRR and
# the others itself. Without a policy-rc.d of the host's, one that denies every start
# is in place for the install (invoke-rc.d and deb-systemd-invoke honour it).
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
