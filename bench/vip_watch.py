"""Who answers ARP for a VIP, probe by probe: a client on the LAN asking every 100 ms.

``python bench/vip_watch.py --vip IP [--vip IP ...] [--iface eth0 --interval 0.1]``, run
inside a client namespace, broadcasts an ARP request for each VIP every ``--interval``
seconds until
SIGTERM (bounded by ``--max-seconds``) on an AF_PACKET socket and reads every reply. Each
request carries one of 100 sender IPs (192.0.2.128-227, the probe's slot), and a reply's
target IP is its request's sender IP, so every reply is matched to its probe: two MACs
replying to one probe are two nodes answering at once. (iputils arping stops at the
first reply and paces in whole seconds, so it cannot see a second answer.)

Prints JSON lines: ``{"type": "probe", "seq", "vip", "mono"}`` per request and
``{"type": "reply", "seq", "vip", "mac", "mono"}`` per reply (one probe per VIP per
interval, all VIPs of one interval share ``seq``). :func:`answers` reads them back.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address
from typing import Any

from metallb.codec import arp
from metallb.codec.ethernet import MacAddress

SLOTS = 100
FIRST_SLOT = IPv4Address("192.0.2.128")


def _line(kind: str, **fields: object) -> None:
    sys.stdout.write(json.dumps({"type": kind, "mono": time.monotonic(), **fields}) + "\n")
    sys.stdout.flush()


def watch(iface: str, vips: list[str], interval: float, max_seconds: float) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    sock.bind((iface, 0x0806))
    mac = MacAddress(sock.getsockname()[4])
    targets = {IPv4Address(v) for v in vips}
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    slot_seq = [-1] * SLOTS  # the probe each slot last carried
    start = time.monotonic()
    seq = 0
    _line("ready", mac=str(mac))
    while not stop and time.monotonic() - start < max_seconds:
        slot = seq % SLOTS
        slot_seq[slot] = seq
        for target in sorted(targets):
            sock.send(arp.request_frame(mac, FIRST_SLOT + slot, target))
            _line("probe", seq=seq, vip=str(target))
        due = start + (seq + 1) * interval
        seq += 1
        while not stop and (left := due - time.monotonic()) > 0:
            readable, _, _ = select.select([sock], [], [], left)
            if not readable:
                continue
            try:
                packet = arp.decode_arp_frame(sock.recv(2048)).packet
            except (ValueError, InterruptedError):
                continue
            if packet.operation != arp.ArpOperation.REPLY or packet.sender_ip not in targets:
                continue
            index = int(packet.target_ip) - int(FIRST_SLOT)
            if 0 <= index < SLOTS and slot_seq[index] >= 0:
                seq_of = slot_seq[index]
                _line("reply", seq=seq_of, vip=str(packet.sender_ip), mac=str(packet.sender_mac))


def answers(lines: Iterable[Mapping[str, Any]], vip: str | None = None) -> dict[int, set[str]]:
    """Probe sequence number -> the MACs that answered it (empty: nobody did), for the
    probes of ``vip`` (default: every line, for a watcher of one VIP)."""
    out: dict[int, set[str]] = {}
    for line in lines:
        if vip is not None and line.get("vip") != vip:
            continue
        if line["type"] == "probe":
            out.setdefault(int(line["seq"]), set())
        elif line["type"] == "reply":
            out.setdefault(int(line["seq"]), set()).add(str(line["mac"]).lower())
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--vip", action="append", required=True)
    p.add_argument("--iface", default="eth0")
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--max-seconds", type=float, default=600.0)
    args = p.parse_args()
    watch(args.iface, args.vip, args.interval, args.max_seconds)


if __name__ == "__main__":
    main()
