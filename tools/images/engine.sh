#!/usr/bin/env bash
# Usage: tools/images/engine.sh start|stop|status
# A private Docker engine (Debian's dockerd) that changes nothing on the host's network:
# no iptables/nftables rules, no bridge, no forwarding or masquerading sysctl, no
# userland proxy; its own socket, pidfile, exec root and data root. Containers (and
# builds) get --network none or host. `start` prints the DOCKER_HOST to use.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pidfile="$engine_run/docker.pid"

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  if running; then echo "unix://$engine_sock"; return; fi
  command -v dockerd >/dev/null || { log "dockerd missing: run make setup-debs"; exit 1; }
  mkdir -p "$engine_run" "$engine_data"
  # An empty configuration file: /etc/docker/daemon.json, if the host has one, is not ours.
  echo '{}' > "$engine_run/daemon.json"
  setsid dockerd \
    --config-file "$engine_run/daemon.json" \
    --host "unix://$engine_sock" \
    --pidfile "$pidfile" \
    --exec-root "$engine_run/exec" \
    --data-root "$engine_data" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --bridge=none --userland-proxy=false \
    --cgroup-parent metallb-py-docker \
    --log-level warn \
    > "$engine_run/dockerd.log" 2>&1 < /dev/null &
  local i
  for ((i = 0; i < 300; i++)); do
    if dk version >/dev/null 2>&1; then echo "unix://$engine_sock"; return; fi
    sleep 0.1
  done
  log "dockerd did not answer on $engine_sock within 30 s; its log:"
  tail -n 30 "$engine_run/dockerd.log" >&2
  stop
  exit 1
}

stop() {
  running || return 0
  local pid i
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for ((i = 0; i < 200; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "dockerd $pid still running after 20 s: killing it"
    kill -KILL "$pid"
  fi
  rm -f "$pidfile"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running: unix://$engine_sock"; else echo stopped; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
