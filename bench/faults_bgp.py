"""Fault: BGP peers sending a malformed UPDATE and a malformed OPEN, beside a real router.

Method. One node runs our native speaker (``python -m bench.bgp_demo``, one
:class:`metallb.net.bgp.Session` per ``--peer``, all in one process as in the speaker)
with three peers on one LAN: FRR (:mod:`metallb.lab.routers`), which must keep our
route, and two hostile peers, each this file re-run with ``--hostile MODE`` in its own
namespace (:func:`hostile`, an asyncio TCP server on port 179):

* ``update``: answers our OPEN with a valid OPEN and KEEPALIVE, waits for our KEEPALIVE
  (we are Established) and sends an UPDATE whose Withdrawn Routes Length (200) overruns
  the message: RFC 4271 section 6.3 and RFC 7606 section 4 make that a session reset
  with UPDATE Message Error / Malformed Attribute List (3/1);
* ``open``: answers our OPEN with an OPEN of version 3: OPEN Message Error /
  Unsupported Version Number (2/1), data the version we speak (RFC 4271 section 6.2).

Each hostile peer serves ``--connections`` connections (then stops listening), logging
as JSON lines when each was accepted, which NOTIFICATION we sent (decoded with
:func:`metallb.codec.bgp.decode_notification`) and when; the delay from one
NOTIFICATION to the next connection is our reconnect backoff. Hostile peers start
acting only once FRR holds our route; FRR's route and its session counters are polled
until both hostile peers are done.

Output: JSON lines (see :mod:`bench.faults`); nothing asserted here
(``tests/integration/net/test_faults_bgp.py`` asserts on :func:`scenario`'s result).
Run as root: ``.venv/bin/python -m bench.faults_bgp``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import struct
import sys
import tempfile
import threading
import time
from functools import partial
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

from bench.faults import CpuMeter, emit
from metallb.codec.bgp import (
    KEEPALIVE,
    FourOctetAS,
    Multiprotocol,
    Open,
    decode_notification,
    encode_open,
)
from metallb.codec.bgp.header import HEADER_LEN, MARKER, MessageType
from metallb.codec.bgp.nlri import IPV4_UNICAST
from metallb.lab.netlab import Netlab
from metallb.lab.routers import FRR, Neighbor, remove_frr_rundirs, wait_for

BENCH = "fault_bgp_malformed"
ROUTER_ASN, NODE_ASN = 64512, 64513
ROUTER, NODE = "192.0.2.1", "192.0.2.11"
HOSTILE = {"update": "192.0.2.3", "open": "192.0.2.4"}
VIP = "198.51.100.7/32"
WAIT = 30.0
# The UPDATE of RFC 4271 section 6.3's first check: Withdrawn Routes Length 200 in a
# 23-byte message.
BAD_UPDATE = MARKER + struct.pack("!HB", 23, MessageType.UPDATE) + struct.pack("!H", 200) + b"\0\0"


def _bad_open(asn: int) -> bytes:
    caps = (Multiprotocol(IPV4_UNICAST), FourOctetAS(asn))
    return encode_open(Open(asn, 90, IPv4Address("192.0.2.250"), caps, version=3))


def _good_open(asn: int) -> bytes:
    caps = (Multiprotocol(IPV4_UNICAST), FourOctetAS(asn))
    return encode_open(Open(asn, 90, IPv4Address("192.0.2.250"), caps))


async def _message(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(HEADER_LEN)
    (length,) = struct.unpack("!H", head[16:18])
    return head + await reader.readexactly(max(0, length - HEADER_LEN))


async def hostile(mode: str, connections: int, seconds: float) -> None:
    """A BGP listener misbehaving as ``mode`` for ``connections`` connections; it holds
    every connection until SIGUSR1 says go."""

    def log(**fields: object) -> None:
        print(json.dumps({"mono": time.monotonic(), **fields}), flush=True)

    served = 0
    done, go = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, go.set)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        served += 1
        conn = served
        log(event="accept", conn=conn)
        try:
            async with asyncio.timeout(WAIT):
                await go.wait()  # hold our OPEN until FRR has the route
                await _message(reader)  # the speaker's OPEN
                if mode == "open":
                    writer.write(_bad_open(ROUTER_ASN))
                else:
                    writer.write(_good_open(ROUTER_ASN) + KEEPALIVE)
                    while await _message(reader) != KEEPALIVE:
                        pass
                    writer.write(BAD_UPDATE)
                log(event="sent", conn=conn)
                while True:
                    msg = await _message(reader)
                    if msg[18] == MessageType.NOTIFICATION:
                        n = decode_notification(msg)
                        log(
                            event="notification",
                            conn=conn,
                            code=n.code,
                            subcode=n.subcode,
                            data=n.data.hex(),
                        )
                        break
                await reader.read()  # until the speaker closes
                log(event="closed", conn=conn)
        except (asyncio.IncompleteReadError, OSError, TimeoutError) as err:
            log(event="closed", conn=conn, error=repr(err))
        finally:
            writer.close()
            if served >= connections:
                done.set()

    server = await asyncio.start_server(handle, HOSTILE[mode], 179)
    log(event="listening")
    async with server:
        try:
            await asyncio.wait_for(done.wait(), seconds)
        except TimeoutError:
            log(event="gave up", served=served)
        server.close()
        await asyncio.sleep(0.5)  # the last connection's log lines


def _logged(log: Path, text: str) -> bool:
    return text in log.read_text()


class FrrWatch(threading.Thread):
    """Polls FRR's view of our route and session until stopped."""

    def __init__(self, router: FRR) -> None:
        super().__init__(daemon=True)
        self.router = router
        self.samples: list[bool] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.25):
            paths = self.router.routes(4).get(VIP, [])
            self.samples.append([p.next_hop for p in paths] == [NODE])


def frr_counters(router: FRR) -> dict[str, Any]:
    out = json.loads(router.vtysh(f"show bgp neighbors {NODE} json"))[NODE]
    return {k: out.get(k) for k in ("bgpState", "connectionsEstablished", "connectionsDropped")}


def scenario(workdir: Path, connections: dict[str, int]) -> dict[str, Any]:
    """``connections``: how many each hostile peer (by mode) serves before it stops."""
    workdir.chmod(0o755)  # FRR's daemons run as user frr and read their config here
    with Netlab() as lab:
        lan = lab.add_lan("lan")
        hosts = {name: lab.add_host(name) for name in ("router", "node", *HOSTILE)}
        lab.connect(hosts["router"], lan, "eth0", [f"{ROUTER}/24"])
        lab.connect(hosts["node"], lan, "eth0", [f"{NODE}/24"])
        logs: dict[str, Path] = {}
        peers_procs = []
        for mode, ip in HOSTILE.items():
            lab.connect(hosts[mode], lan, "eth0", [f"{ip}/24"])
            logs[mode] = workdir / f"hostile-{mode}.log"
            argv = ["-m", "bench.faults_bgp", "--hostile", mode]
            argv += ["--connections", str(connections[mode])]
            peers_procs.append(hosts[mode].start(sys.executable, *argv, log=logs[mode]))
        for log in logs.values():
            wait_for("a hostile peer", partial(_logged, log, '"listening"'), 15)
        router = FRR(
            hosts["router"], workdir / "frr", ROUTER_ASN, ROUTER, [Neighbor(NODE, NODE_ASN)], 9
        )
        router.start()
        speaker_log = workdir / "speaker.log"
        peers = [a for ip in (ROUTER, *HOSTILE.values()) for a in ("--peer", ip)]
        speaker = hosts["node"].start(
            sys.executable,
            "-m",
            "bench.bgp_demo",
            *peers,
            "--local-asn",
            str(NODE_ASN),
            "--peer-asn",
            str(ROUTER_ASN),
            "--prefix",
            VIP,
            "--hold-time",
            "9",
            "--lifetime",
            "180",
            log=speaker_log,
        )
        router.wait_established(NODE, WAIT)
        wait_for("our route at FRR", lambda: router.routes(4).get(VIP), WAIT)
        before = frr_counters(router)
        watch = FrrWatch(router)
        watch.start()
        meter = CpuMeter([speaker.pid])
        for proc in peers_procs:
            proc.send_signal(signal.SIGUSR1)
        hostile_lines: dict[str, list[dict[str, Any]]] = {}
        try:
            for mode, log in logs.items():

                def finished(log: Path = log, n: int = connections[mode]) -> bool:
                    text = log.read_text()
                    return text.count('"closed"') >= n or '"gave up"' in text

                wait_for(f"the {mode} peer's connections", finished, 90)
                hostile_lines[mode] = [
                    json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")
                ]
            (cpu,) = meter.shares()
        finally:
            watch.stopping.set()
            watch.join(10)
        after = frr_counters(router)
        events = [json.loads(x) for x in speaker_log.read_text().splitlines() if x.startswith("{")]
    remove_frr_rundirs(lab.tag)
    return {
        "hostile": hostile_lines,
        "frr_before": before,
        "frr_after": after,
        "frr_samples": watch.samples,
        "speaker_cpu": cpu,
        "frr_transitions": [
            (e["old"], e["new"])
            for e in events
            if e.get("event") == "transition" and e.get("peer") == ROUTER
        ],
    }


def notifications(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in lines if e["event"] == "notification"]


def reconnect_delays(lines: list[dict[str, Any]]) -> list[float]:
    """From each NOTIFICATION we sent to the next connection we opened, in seconds."""
    told = {e["conn"]: e["mono"] for e in notifications(lines)}
    accepted = {e["conn"]: e["mono"] for e in lines if e["event"] == "accept"}
    return [accepted[c + 1] - t for c, t in sorted(told.items()) if c + 1 in accepted]


def report(result: dict[str, Any]) -> None:
    for mode, lines in result["hostile"].items():
        for n in notifications(lines)[:1]:
            emit(
                BENCH,
                "notification_code",
                n["code"],
                "code",
                peer=mode,
                subcode=n["subcode"],
                data=n["data"],
            )
        emit(BENCH, "notifications", len(notifications(lines)), "count", peer=mode)
        for i, delay in enumerate(reconnect_delays(lines), start=1):
            emit(BENCH, "reconnect_delay", round(delay, 3), "s", peer=mode, attempt=i)
    for mode, lines in result["hostile"].items():
        accepts = [e["mono"] for e in lines if e["event"] == "accept"]
        if len(accepts) > 1:
            rate = (len(accepts) - 1) / (accepts[-1] - accepts[0])
            emit(
                BENCH,
                "connections_per_second",
                round(rate, 2),
                "1/s",
                peer=mode,
                connections=len(accepts),
            )
    emit(BENCH, "speaker_cpu_while_attacked", round(result["speaker_cpu"], 3), "cores")
    samples = result["frr_samples"]
    emit(BENCH, "frr_route_present", sum(samples), "samples", of=len(samples))
    for key in ("connectionsEstablished", "connectionsDropped"):
        delta = (result["frr_after"][key] or 0) - (result["frr_before"][key] or 0)
        emit(BENCH, f"frr_{key}_delta", delta, "count")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--hostile", choices=sorted(HOSTILE), help="(internal) be a hostile peer")
    p.add_argument("--connections", type=int, default=5, help="for the malformed OPEN")
    p.add_argument("--update-connections", type=int, default=5, help="for the bad UPDATE")
    args = p.parse_args()
    if args.hostile:
        asyncio.run(hostile(args.hostile, args.connections, 120))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = scenario(Path(tmp), {"open": args.connections, "update": args.update_connections})
    report(result)


if __name__ == "__main__":
    main()
