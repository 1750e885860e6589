"""Layer 2 failover benchmark: seconds from a node failure to the client's first request
served through another node.

Run ``python -m bench.l2_failover [--trials N]`` as root from the repository root, with
``METALLB_KTESTENV_BIN`` set. It builds the integration tests' cluster
(:class:`tests.integration.speaker.harness.L2Cluster`: real apiserver, controller, three
node namespaces each running ``metallb speaker``, a client namespace; documentation
addresses, everything removed on exit), creates one LoadBalancer Service, and for each
failure kind runs N trials:

* ``sigkill``: SIGKILL the announcing node's speaker (its kernel still serves the VIP,
  so only a request answered by *another* node counts as failed over);
* ``link_down``: set the announcing node's data link down.

A probe in the client namespace opens a new TCP connection to the VIP every 10 ms
(250 ms timeout) and logs which node answered, with ``time.monotonic()`` (shared by all
processes of the machine). The figure of a trial is the first answer from the expected
next owner minus the moment of the failure. Between trials the node is healed and the
cluster re-converges (one MAC answers). Prints JSON lines; never asserts a time.
"""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import time
from ipaddress import ip_address
from pathlib import Path

from lightkube.models.meta_v1 import ObjectMeta
from tests.integration.speaker.conftest import Services
from tests.integration.speaker.harness import NODES, NS, L2Adv, L2Cluster, Pool, wait_for
from tests.integration.speaker.test_l2_speaker import converged

from metallb.election.ranking import rank
from metallb.lab.daemon import LabError

PROBE_PERIOD = 0.01
PROBE_TIMEOUT = 0.25
TRIAL_TIMEOUT = 15.0


def probe(vip: str, seconds: float) -> None:
    """Runs in the client namespace: one fresh HTTP request per period, for ``seconds``."""
    family = socket.AF_INET6 if ":" in vip else socket.AF_INET
    print(json.dumps({"ready": True, "mono": time.monotonic()}), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        node = None
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(PROBE_TIMEOUT)
                s.connect((vip, 80))
                s.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                node = data.split(b"\r\n\r\n", 1)[-1].decode(errors="replace").strip()
        except OSError:
            pass
        print(json.dumps({"mono": time.monotonic(), "node": node}), flush=True)
        time.sleep(max(0.0, PROBE_PERIOD - (time.monotonic() - started)))


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _first_answer(log: Path, node: str, after: float) -> float | None:
    for line in log.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("node") == node and rec["mono"] > after:
            return float(rec["mono"])
    return None


def run(trials: int) -> None:
    with L2Cluster() as c:
        assert c.kube is not None
        c.kube.create(
            Pool(
                metadata=ObjectMeta(name="l2", namespace=NS),
                spec={"addresses": ["192.0.2.200-192.0.2.215"]},
            )
        )
        c.kube.create(
            L2Adv(metadata=ObjectMeta(name="all", namespace=NS), spec={"ipAddressPools": ["l2"]})
        )
        services = Services(c)
        vip = services.ip(services.create())
        first, second = rank(NODES, ip_address(vip), {})[:2]
        for kind in ("sigkill", "link_down"):
            times: list[float] = []
            failed = 0
            for trial in range(trials):
                try:
                    value = _trial(c, kind, vip, first=first, second=second, n=trial)
                except LabError as err:
                    # One slow heal (a speaker restart on a loaded machine) must not lose
                    # the other trials: count it, restore the node, go on.
                    print(
                        json.dumps({"kind": kind, "trial": trial, "error": str(err)[:200]}),
                        file=sys.stderr,
                    )
                    value = None
                    _restore(c, first)
                print(json.dumps({"kind": kind, "trial": trial, "seconds": value}), file=sys.stderr)
                if value is None:
                    failed += 1
                else:
                    times.append(value)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
                value = quantile(times, q) if times else None
                line = {
                    "bench": "l2_failover",
                    "metric": f"{kind}_{name}",
                    "value": None if value is None else round(value, 3),
                    "unit": "s",
                    "trials": trials,
                    "failed_trials": failed,
                    "first_owner": first,
                    "next_owner": second,
                }
                print(json.dumps(line), flush=True)


def _restore(c: L2Cluster, node: str) -> None:
    c.lab.hosts[node].link_set("eth0", "up")
    if not c.speakers[node].alive():
        c.start_speaker(node)
    c.wait_speaker_ready(node, timeout=120)


def _trial(c: L2Cluster, kind: str, vip: str, *, first: str, second: str, n: int) -> float | None:
    """One failure and heal; seconds to the first answer from ``second`` (None: none)."""
    converged(c, vip, first, timeout=60)
    wait_for(lambda: c.curl(vip) == first or None, 10, "HTTP via the first node")
    log = c.workdir / f"probe-{kind}-{n}.log"
    proc = c.client.start(
        sys.executable, "-m", "bench.l2_failover", "--probe", vip,
        "--seconds", str(TRIAL_TIMEOUT + 5), log=log,
    )  # fmt: skip
    wait_for(lambda: "ready" in log.read_text() or None, 30, "the probe")
    host = c.lab.hosts[first]
    t0 = time.monotonic()
    if kind == "sigkill":
        c.kill_speaker(first)
    else:
        host.link_set("eth0", "down")
    try:
        t1 = wait_for(
            lambda: _first_answer(log, second, t0), TRIAL_TIMEOUT, "the next node", step=0.05
        )
        return t1 - t0
    except AssertionError:
        return None
    finally:
        proc.kill()
        proc.wait(10)
        if kind == "sigkill":
            c.start_speaker(first)
            c.wait_speaker_ready(first)
        else:
            host.link_set("eth0", "up")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--probe", metavar="VIP", help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=20.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe:
        probe(args.probe, args.seconds)
        return
    run(args.trials)


if __name__ == "__main__":
    main()
