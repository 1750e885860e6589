"""``metallb lab up|down|status|fail-node|heal-node``: the local lab.

``up`` starts :mod:`metallb.lab.supervisor` in its own session (so the lab outlives
the command), shows its progress, and returns once MetalLB has given the demo Services
their IPs; it is idempotent. The other commands talk to the supervisor through
``<dir>/control.sock``; ``down`` stops it and waits until everything is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

UP_TIMEOUT = 600.0


def _state(labdir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads((labdir / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _running(labdir: Path) -> dict[str, Any]:
    state = _state(labdir)
    return state if state.get("pid") and _alive(int(state["pid"])) else {}


def _ask(labdir: Path, request: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(180)
        s.connect(str(labdir / "control.sock"))
        s.sendall((json.dumps(request) + "\n").encode())
        reply: dict[str, Any] = json.loads(s.makefile().readline())
        return reply


def _print_ready(labdir: Path, state: dict[str, Any]) -> None:
    kubeconfig = labdir / "kubeconfig"
    services = state.get("services") or {}
    client = "ip netns exec $(ip netns list | awk '/-client/{print $1}')"
    me = Path(sys.argv[0])
    metallb = os.path.relpath(me) if me.name == "metallb" else "metallb"
    print("lab: ready. MetalLB gave the demo Services these IPs:")
    answers = state.get("answers") or {}
    for name, ip in services.items():
        seen = (
            f"; the client fetched http://{ip}/ and node {answers[name]} answered"
            if (name in answers)
            else ""
        )
        print(f"lab:   demo/{name}: {ip}{seen}")
    bgp = state.get("bgp") or {}
    for name, ip in (bgp.get("services") or {}).items():
        hops = len((bgp.get("next_hops") or {}).get(name) or [])
        print(
            f"lab:   demo/{name}: {ip} (BGP); the router has {hops} ECMP next hops for it, "
            f"the remote client fetched http://{ip}/ through it and node "
            f"{(bgp.get('answers') or {}).get(name, '?')} answered"
        )
    v4 = next((ip for ip in services.values() if ":" not in ip), "")
    lines = [
        f"  kubectl --kubeconfig {kubeconfig} get pods,svc -A   # MetalLB and the demo as Pods",
        f"  {client} curl -s http://{v4}/          # the node that answered",
        f"  {client} arping -c2 -I eth0 {v4}       # one MAC: the elected node's",
    ]
    bgp_ip = next(iter((bgp.get("services") or {}).values()), "")
    if bgp_ip:
        remote = f"ip netns exec {bgp['remote']['netns']}"
        vtysh = " ".join(bgp["vtysh"])
        lines += [
            f"  {remote} curl -s http://{bgp_ip}/   # through the FRR router",
            f"  {vtysh} -c 'show ip route {bgp_ip}'   # ECMP: a next hop per node",
            f"  {vtysh} -c 'show bgp ipv4 summary'",
        ]
    ops = f"--kubeconfig {kubeconfig}"
    lines += [
        f"  {metallb} explain service demo/web {ops}   # its pool, election order, events",
        f'  {metallb} status {ops} --metrics-token "$(cat {labdir}/metrics-token)"'
        "   # pools, announcements per node, BGP sessions",
        f"  {metallb} doctor {ops}   # the usual misconfigurations, each with its fix",
        f"  {metallb} lab fail-node <node>   # then curl again: another node answers",
        f"  {metallb} lab status | heal-node <node> | down",
    ]
    print("lab: try:\n" + "\n".join(lines))


def up(args: argparse.Namespace) -> int:
    labdir = Path(args.dir).resolve()
    labdir.mkdir(parents=True, exist_ok=True)
    running = _running(labdir)
    if running.get("phase") == "ready":
        print(f"lab: already up (supervisor pid {running['pid']})")
        _print_ready(labdir, running)
        return 0
    if running:
        print(f"lab: a lab is still starting (pid {running['pid']}); wait or run lab down")
        return 1
    (labdir / "state.json").unlink(missing_ok=True)
    log = labdir / "lab.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "metallb.lab.supervisor",
                "--dir",
                str(labdir),
                *(["--no-bgp-router"] if getattr(args, "no_bgp_router", False) else []),
                f"--install={getattr(args, 'install', 'kustomize')}",
                f"--bgp-mode={getattr(args, 'bgp_mode', 'native')}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    shown = 0
    deadline = time.monotonic() + UP_TIMEOUT
    while True:
        lines = log.read_text(errors="replace").splitlines()
        for line in lines[shown:]:
            if line.startswith("lab: "):
                print(line, flush=True)
        shown = len(lines)
        state = _state(labdir)
        if state.get("phase") == "ready":
            _print_ready(labdir, state)
            return 0
        if proc.poll() is not None or state.get("phase") == "failed":
            print(
                f"lab: failed: {state.get('error', 'supervisor exited')}; log: {log}",
                file=sys.stderr,
            )
            print("\n".join(lines[-30:]), file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"lab: not ready after {UP_TIMEOUT:.0f} s; stopping it", file=sys.stderr)
            proc.terminate()
            return 1
        time.sleep(0.3)


def down(args: argparse.Namespace) -> int:
    labdir = Path(args.dir).resolve()
    running = _running(labdir)
    if not running:
        print("lab: not running")
        return 0
    pid = int(running["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 120
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        print(f"lab: supervisor {pid} did not stop; killing it", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
        return 1
    print("lab: down; nothing left running")
    return 0


def status(args: argparse.Namespace) -> int:
    labdir = Path(args.dir).resolve()
    running = _running(labdir)
    if not running:
        print("lab: not running")
        return 1
    if running.get("phase") != "ready":
        print(f"lab: {running.get('phase')} (pid {running['pid']})")
        return 1
    reply = _ask(labdir, {"cmd": "status"})
    for name, ip in (reply["state"].get("services") or {}).items():
        who = ", ".join(n or "?" for n in reply["answering"].get(name, [])) or "-"
        print(
            f"demo/{name:7} {ip:20} ARP answered by: {who:10} HTTP answered by: "
            f"{reply['http'].get(name) or 'no answer'}"
        )
    bgp_ips = (reply["state"].get("bgp") or {}).get("services") or {}
    for name, ip in bgp_ips.items():
        seen = reply.get("bgp", {}).get(name, {})
        hops = ", ".join(seen.get("next_hops") or []) or "none"
        print(
            f"demo/{name:7} {ip:20} router next hops: {hops}; HTTP from remote answered by: "
            f"{seen.get('http') or 'no answer'}"
        )
    for node, alive in sorted(reply["speakers"].items()):
        failed = " (failed by lab fail-node)" if node in reply["failed"] else ""
        print(f"speaker {node}: {'running' if alive else 'stopped'}{failed}")
    return 0


def node_command(args: argparse.Namespace) -> int:
    labdir = Path(args.dir).resolve()
    if _running(labdir).get("phase") != "ready":
        print("lab: not running (metallb lab up)", file=sys.stderr)
        return 1
    reply = _ask(labdir, {"cmd": args.lab_command, "node": args.node})
    if "error" in reply:
        print(f"lab: {reply['error']}", file=sys.stderr)
        return 1
    print(f"lab: {reply['ok']}")
    return 0
