"""ARP responder throughput and latency, ours beside the kernel's, in one run.

Method. A LAN of a node and a client (network namespaces, veth pairs, a bridge). The
node runs ``python -m bench.demo_announcer`` announcing 192.0.2.100 and has its
own address 192.0.2.1, which its kernel answers. A load generator inside the client
namespace (this file re-run with ``--load``; iputils arping cannot pace faster than one
probe a second) sends broadcast ARP requests at a fixed rate on an AF_PACKET socket and
timestamps each reply as it is read. Requests carry one of 100 sender IPs
(192.0.2.128-227) so a reply (whose target IP is the request's sender IP) is matched to
its request; a reply later than the slot's reuse (100 requests) counts as lost.
The same generator measures the node's kernel (192.0.2.1) and our responder
(192.0.2.100) at each rate, so the ratio compares like with like; both include the
generator's own Python overhead, which is why the kernel is the reference.

Output: JSON lines ``{"bench", "metric", "value", "unit", ...params}``; nothing is
asserted. Run as root: ``.venv/bin/python bench/arp_responder.py``.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import statistics
import subprocess
import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

from metallb.codec import arp
from metallb.codec.ethernet import MacAddress
from metallb.lab.netlab import Host, Netlab

BENCH = "arp_responder"
NODE_IP, VIP, CLIENT_IP = "192.0.2.1", "192.0.2.100", "192.0.2.10"
CLIENT_MAC = "02:00:00:00:00:0c"
SLOTS = 100
FIRST_SLOT = 128


def load(target: str, rate: float, seconds: float) -> dict[str, float]:
    """Inside the client namespace: paced requests, per-reply latency (ms)."""
    mac = MacAddress.parse(CLIENT_MAC)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    sock.bind(("eth0", 0x0806))
    sock.setblocking(False)
    frames = [
        arp.request_frame(mac, IPv4Address(f"192.0.2.{FIRST_SLOT + i}"), IPv4Address(target))
        for i in range(SLOTS)
    ]
    sent_at: list[float | None] = [None] * SLOTS
    latencies: list[float] = []
    total = int(rate * seconds)
    start = time.perf_counter()
    sent = 0
    deadline = start + seconds + 1.0  # a last second for stragglers; bounded either way
    while time.perf_counter() < deadline:
        now = time.perf_counter()
        due = start + sent / rate
        if sent < total and now >= due:
            slot = sent % SLOTS
            sock.send(frames[slot])
            sent_at[slot] = time.perf_counter()
            sent += 1
            continue
        wait = max(0.0, due - now) if sent < total else 0.05
        readable, _, _ = select.select([sock], [], [], wait)
        if not readable:
            if sent >= total and all(t is None for t in sent_at):
                break
            continue
        while True:
            try:
                frame = sock.recv(2048)
            except BlockingIOError:
                break
            received = time.perf_counter()
            try:
                packet = arp.decode_arp_frame(frame).packet
            except ValueError:
                continue
            if packet.operation != arp.ArpOperation.REPLY or str(packet.sender_ip) != target:
                continue
            slot = int(packet.target_ip) - int(IPv4Address(f"192.0.2.{FIRST_SLOT}"))
            if 0 <= slot < SLOTS and sent_at[slot] is not None:
                latencies.append((received - sent_at[slot]) * 1000)  # type: ignore[operator]
                sent_at[slot] = None
    elapsed = time.perf_counter() - start
    latencies.sort()
    result = {"sent": sent, "replies": len(latencies), "elapsed": elapsed}
    if latencies:
        result |= {
            "p50": statistics.median(latencies),
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
            "max": latencies[-1],
        }
    return result


def start_announcer(node: Host, log: Path, vip: str) -> subprocess.Popen[bytes]:
    """``python -m bench.demo_announcer --ip vip`` in ``node``, once it is ready."""
    proc = node.start(sys.executable, "-m", "bench.demo_announcer", "--ip", vip, log=log)
    for _ in range(200):  # bounded: 10 s
        if '"ready"' in log.read_text():
            return proc
        time.sleep(0.05)
    raise SystemExit(f"announcer not ready:\n{log.read_text()}")


def run(rates: list[float], seconds: float) -> None:
    def emit(metric: str, value: float, unit: str, **params: object) -> None:
        line = {"bench": BENCH, "metric": metric, "value": round(value, 4), "unit": unit}
        print(json.dumps(line | params), flush=True)

    with Netlab() as lab:
        node, client = lab.add_host("node"), lab.add_host("client")
        seg = lab.add_lan("lan")
        lab.connect(node, seg, "eth0", [f"{NODE_IP}/24"], mac="02:00:00:00:00:0a")
        lab.connect(client, seg, "eth0", [f"{CLIENT_IP}/24"], mac=CLIENT_MAC)
        log = Path(f"/tmp/{lab.tag}-announcer.log")
        start_announcer(node, log, VIP)
        for rate in rates:
            measured = {}
            for who, target in (("kernel", NODE_IP), ("metallb-py", VIP)):
                out = client.run(
                    sys.executable,
                    __file__,
                    "--load",
                    target,
                    "--rate",
                    str(rate),
                    "--seconds",
                    str(seconds),
                    timeout=seconds + 30,
                )
                r = json.loads(out)
                measured[who] = r
                params = {"responder": who, "offered_rps": rate, "seconds": seconds}
                emit("replies_per_second", r["replies"] / r["elapsed"], "1/s", **params)
                emit("reply_loss", 1 - r["replies"] / max(1, r["sent"]), "fraction", **params)
                for q in ("p50", "p99", "max"):
                    if q in r:
                        emit(f"latency_{q}", r[q], "ms", **params)
            ours, kernel = measured["metallb-py"], measured["kernel"]
            if "p99" in ours and "p99" in kernel:
                emit(
                    "latency_p99_ratio_vs_kernel",
                    ours["p99"] / kernel["p99"],
                    "x",
                    offered_rps=rate,
                )
            emit(
                "replies_ratio_vs_kernel",
                ours["replies"] / max(1, kernel["replies"]),
                "x",
                offered_rps=rate,
            )
        log.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--load", metavar="TARGET", help="(internal) run the load generator")
    parser.add_argument("--rate", type=float, action="append")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.load:
        (rate,) = args.rate
        print(json.dumps(load(args.load, rate, args.seconds)))
        return
    run(args.rate or [1000.0, 5000.0, 20000.0], args.seconds)


if __name__ == "__main__":
    main()
