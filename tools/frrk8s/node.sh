#!/usr/bin/env bash
# Runs frr-k8s for one lab node, as its DaemonSet's pod does on a real node: the
# reloader (frr-k8s's own frr-reloader.sh, which applies /etc/frr_reloader/frr.conf to
# FRR with frr-reload.py), the status daemon (BGPSessionState objects) and the
# controller (FRRConfigurations selecting the node -> frr.conf, then SIGHUP).
# Must run inside the node's network namespace: `ip netns exec` gives it a mount
# namespace of its own, where frr-k8s's fixed paths are made per node without touching
# the machine: /etc gets an overlay whose upper layer is in WORKDIR (/etc/frr_reloader
# lives there), and the node's FRR path space is bound onto /var/run/frr so that vtysh
# and frr-reload.py, which know no path space, reach this node's FRR.
# usage: node.sh BIN_DIR WORKDIR PATHSPACE NODE NAMESPACE KUBECONFIG
set -euo pipefail
bin=$1 work=$2 pathspace=$3 node=$4 ns=$5 kubeconfig=$6
mkdir -p "$work/etc-upper" "$work/etc-work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$work/etc-upper,workdir=$work/etc-work" /etc
mkdir -p /etc/frr_reloader
mount --bind "/var/run/frr/$pathspace" /var/run/frr
export KUBECONFIG=$kubeconfig
SHARED_VOLUME=/etc/frr_reloader bash "$bin/frr-reloader.sh" &
for _ in $(seq 100); do [[ -s /etc/frr_reloader/reloader.pid ]] && break; sleep 0.1; done
"$bin/status" --node-name="$node" --namespace="$ns" --pod-name="frr-k8s-$node" \
  --poll-interval=1s &
exec "$bin/frr-k8s-controller" --node-name="$node" --namespace="$ns" \
  --pod-name="frr-k8s-$node" --metrics-bind-address=0 --health-probe-bind-address=0 \
  --log-level=debug
