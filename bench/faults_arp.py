"""Fault: an ARP flood for unrelated IPs on the LAN while a real client asks for an owned IP.

Method. A LAN (network namespaces, veth pairs, a bridge) of a node running the real
announcer (``python -m bench.demo_announcer``, :mod:`metallb.net.announcer`)
owning 192.0.2.100, a flooder and a client. The client runs iputils ``arping -c 1`` for
the owned IP every 100 ms (a new process each time: this arping paces in whole seconds)
and we keep the latency arping itself prints; beside each, one for the node's own
address 192.0.2.1, answered by the node's kernel, as the reference under the same
load. First ``--seconds`` without flood, then as long with the flooder writing
broadcast ARP requests for 192.0.2.128-255 (nobody's) from ``--procs`` processes on
AF_PACKET sockets, paced to ``--rate`` in total and capped at ``rate * seconds``
frames. The announcer's CPU comes from ``/proc/<pid>/stat`` over the flood window
(which starts some 0.3 s early, while the flooders' interpreters start); its own
counters (SIGUSR1) say how many flood frames it read (the rest overflowed its socket).

Output: JSON lines (see :mod:`bench.faults`); nothing asserted here
(``tests/integration/net/test_faults_arp.py`` asserts on :func:`scenario`'s result).
Run as root: ``.venv/bin/python -m bench.faults_arp [--rate 50000 --seconds 5]``.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from bench.arp_responder import start_announcer
from bench.faults import CpuMeter, emit, paced, percentile
from metallb.codec import arp
from metallb.codec.ethernet import MacAddress
from metallb.lab.netlab import Host, Netlab

BENCH = "fault_arp_flood"
NODE_IP, VIP, CLIENT_IP, FLOODER_IP = "192.0.2.1", "192.0.2.100", "192.0.2.10", "192.0.2.20"
NODE_MAC, CLIENT_MAC, FLOODER_MAC = "02:00:00:00:00:0a", "02:00:00:00:00:0c", "02:00:00:00:00:0f"
MAX_SECONDS = 5.0  # the machine is shared: no flood lasts longer
_REPLY = re.compile(r"reply from \S+ \[([0-9A-Fa-f:]+)\]\s+([\d.]+)ms")


def flood(rate: float, seconds: float) -> dict[str, float]:
    """Inside the flooder namespace: paced who-has requests for unrelated IPs."""
    mac = MacAddress.parse(FLOODER_MAC)
    frames = [
        arp.request_frame(mac, IPv4Address(FLOODER_IP), IPv4Address(f"192.0.2.{128 + i}"))
        for i in range(128)
    ]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    sock.bind(("eth0", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 2**20)
    dropped = 0

    def send(i: int) -> None:
        nonlocal dropped
        try:
            sock.send(frames[i % len(frames)])
        except (BlockingIOError, OSError):  # a full queue: counted, not retried
            dropped += 1

    start = time.monotonic()
    sent = paced(send, rate, min(seconds, MAX_SECONDS))
    return {"sent": sent - dropped, "elapsed": time.monotonic() - start}


def probe_series(client: Host, seconds: float, interval: float = 0.1) -> dict[str, dict[str, Any]]:
    """Every ``interval`` s, one ``arping -c 1`` for the VIP (our announcer) and one for
    the node's own IP (its kernel: the reference under the same load); per target, the
    replies' MACs and latencies."""
    procs: dict[str, list[subprocess.Popen[str]]] = {VIP: [], NODE_IP: []}
    start = time.monotonic()
    n = int(seconds / interval)
    for i in range(n):
        delay = start + i * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for target, started in procs.items():
            argv = ["arping", "-b", "-c", "1", "-w", "1", "-I", "eth0", target]
            started.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", client.netns, *argv],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
    out: dict[str, dict[str, Any]] = {}
    for target, started in procs.items():
        latencies: list[float] = []
        macs: list[str] = []
        for proc in started:
            text, _ = proc.communicate(timeout=10)
            for m in _REPLY.finditer(text):
                macs.append(m.group(1).lower())
                latencies.append(float(m.group(2)))
        out[target] = {"probes": n, "macs": macs, "latencies": latencies}
    return out


def _start_flood(host: Host, rate: float, seconds: float, procs: int) -> list[Any]:
    return [
        subprocess.Popen(
            [
                *("ip", "netns", "exec", host.netns, sys.executable, "-m", "bench.faults_arp"),
                *("--flood", "--rate", str(rate / procs), "--seconds", str(seconds)),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
        for _ in range(procs)
    ]


def scenario(workdir: Path, rate: float, seconds: float, procs: int = 1) -> dict[str, Any]:
    """Baseline series, then the same series under the flood; every figure in one dict."""
    seconds = min(seconds, MAX_SECONDS)
    with Netlab() as lab:
        seg = lab.add_lan("lan")
        node, client, flooder = (lab.add_host(n) for n in ("node", "client", "flooder"))
        lab.connect(node, seg, "eth0", [f"{NODE_IP}/24"], mac=NODE_MAC)
        lab.connect(client, seg, "eth0", [f"{CLIENT_IP}/24"], mac=CLIENT_MAC)
        lab.connect(flooder, seg, "eth0", [f"{FLOODER_IP}/24"], mac=FLOODER_MAC)
        log = workdir / "announcer.log"
        announcer = start_announcer(node, log, VIP)
        baseline = probe_series(client, seconds)
        meter = CpuMeter([announcer.pid])
        flooders = _start_flood(flooder, rate, seconds, procs)
        time.sleep(0.3)  # the flooders' interpreters start before the series does
        loaded = probe_series(client, seconds - 0.5)
        floods = [json.loads(p.communicate(timeout=seconds + 30)[0]) for p in flooders]
        (cpu,) = meter.shares()
        stats = _announcer_stats(announcer, log)
    sent = sum(f["sent"] for f in floods)
    elapsed = max(f["elapsed"] for f in floods)
    return {
        "baseline": baseline[VIP],
        "flood": loaded[VIP],
        "kernel_baseline": baseline[NODE_IP],
        "kernel_flood": loaded[NODE_IP],
        "flood_sent": sent,
        "flood_rate": sent / elapsed,
        "announcer_cpu": cpu,
        "announcer_drops": stats.get("drops", {}),
        "announcer_responses": stats.get("responses_sent", {}),
    }


def _announcer_stats(proc: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    """SIGUSR1 makes the demo announcer print its counters as a ``stats`` line."""
    before = log.read_text().count('"stats"')
    proc.send_signal(signal.SIGUSR1)
    for _ in range(200):  # bounded: 10 s
        lines = [ln for ln in log.read_text().splitlines() if '"stats"' in ln]
        if len(lines) > before:
            return dict(json.loads(lines[-1]))
        time.sleep(0.05)
    return {}


def report(result: dict[str, Any], rate: float, seconds: float, procs: int) -> None:
    params = {"offered_rps": rate, "seconds": seconds, "flood_procs": procs}
    emit(BENCH, "flood_achieved_rps", round(result["flood_rate"]), "1/s", **params)
    emit(BENCH, "flood_frames_sent", result["flood_sent"], "count", **params)
    for key, phase, responder in (
        ("baseline", "baseline", "metallb-py"),
        ("flood", "flood", "metallb-py"),
        ("kernel_baseline", "baseline", "kernel"),
        ("kernel_flood", "flood", "kernel"),
    ):
        series = result[key]
        lat = series["latencies"]
        answered = len(lat) / max(1, series["probes"])
        emit(
            BENCH,
            f"{phase}_answered",
            round(answered, 4),
            "fraction",
            responder=responder,
            probes=series["probes"],
        )
        for q in (50, 99):
            value = percentile(lat, q)
            rounded = value and round(value, 3)
            emit(BENCH, f"{phase}_latency_p{q}", rounded, "ms", responder=responder, **params)
    emit(BENCH, "announcer_cpu_during_flood", round(result["announcer_cpu"], 3), "cores", **params)
    drops = result["announcer_drops"].get("announceIP", 0)
    emit(BENCH, "flood_requests_read_by_announcer", drops, "count", **params)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--flood", action="store_true", help="(internal) be one flooder process")
    p.add_argument("--rate", type=float, default=50000.0)
    p.add_argument("--seconds", type=float, default=MAX_SECONDS)
    p.add_argument("--procs", type=int, default=2)
    args = p.parse_args()
    if args.flood:
        print(json.dumps(flood(args.rate, args.seconds)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = scenario(Path(tmp), args.rate, args.seconds, args.procs)
    report(result, args.rate, args.seconds, args.procs)


if __name__ == "__main__":
    main()
