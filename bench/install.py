"""MetalLB installed as a user installs it, on real kubelet nodes: how long until the
first Service answers, and how long traffic stops when a speaker Pod or a node dies.

Run ``python -m bench.install [--trials N]`` as root from the repository root after
``make setup images`` (``METALLB_KTESTENV_BIN`` and ``METALLB_KNODE_BIN`` set, as
``make`` does). It builds a :class:`metallb.lab.podcluster.PodCluster` without MetalLB,
starts the ``web`` backends (one Pod per node), then:

* ``install_to_first_answer``: from ``kubectl apply -k`` of the image overlay of
  ``deploy/`` to the first page the client fetches through a new Service's IP, with
  what a user runs in between (``kubectl wait --for=condition=Available`` of the
  controller, ``kubectl apply`` of a pool, an L2Advertisement and the Service);
* ``speaker_pod_deleted``: ``kubectl delete pod`` of the announcing node's speaker;
* ``node_failed``: the announcing node cut off both LANs (``metallb lab fail-node``).

For the failures, a probe in the client namespace (``bench.l2_failover``'s) opens a new
TCP connection to the IP every 10 ms; the Service has ``externalTrafficPolicy: Local``,
so the node that answers is the one announcing. A trial's figure is the first answer
from another node minus the moment of the failure; between trials the cluster heals and
re-converges. Prints JSON lines (p50/p99 over the trials); never asserts a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from lightkube.resources.core_v1 import Service

from bench.l2_failover import TRIAL_TIMEOUT, _first_answer, quantile
from metallb.lab.daemon import LabError
from metallb.lab.podcluster import Images, PodCluster
from metallb.lab.poddemo import backend_docs, pool_docs, service_doc
from metallb.lab.topology import NODES, NS, wait_for


def emit(metric: str, value: float | None, unit: str = "s", **params: object) -> None:
    line = {"bench": "install", "metric": metric, "value": value, "unit": unit, **params}
    print(json.dumps(line), flush=True)


def ingress(c: PodCluster, name: str) -> str | None:
    assert c.kube is not None
    svc = c.kube.get(Service, name, namespace="demo")
    lb = svc.status.loadBalancer if svc.status else None
    return lb.ingress[0].ip if lb and lb.ingress else None


def install(c: PodCluster) -> str:
    """Time the install; returns the Service's IP."""
    t0 = time.monotonic()
    c.kubectl("apply", "--server-side", "-k", str(c.overlay()))
    c.kubectl(
        "wait", "--for=condition=Available", "--timeout=300s", "-n", NS, "deployment/controller"
    )
    available = time.monotonic() - t0
    refused = 0
    while True:
        try:
            c.apply(pool_docs())
            break
        except LabError:
            refused += 1  # a webhook not yet serving: what the tests prove never happens
            if refused > 100:
                raise
            time.sleep(0.2)
    c.apply([service_doc("bench", policy="Local")])
    ip = wait_for(lambda: ingress(c, "bench"), 120, "an IP for demo/bench", step=0.05)
    wait_for(lambda: c.curl(ip, timeout=0.5), 120, f"a page through {ip}", step=0.05)
    emit("controller_available", round(available, 2), install=c.install)
    emit("install_to_first_answer", round(time.monotonic() - t0, 2), install=c.install)
    emit("first_pool_refusals", refused, unit="count")
    c.wait_metallb()
    return ip


def trial(c: PodCluster, ip: str, kind: str, n: int) -> float | None:
    first = wait_for(lambda: settled(c, ip), 90, "one announcer, stable", step=0.5)
    log = c.workdir / f"probe-{kind}-{n}.log"
    proc = c.client.start(
        sys.executable, "-m", "bench.l2_failover", "--probe", ip,
        "--seconds", str(TRIAL_TIMEOUT + 5), log=log,
    )  # fmt: skip
    wait_for(lambda: "ready" in log.read_text() or None, 30, "the probe")
    others = set(NODES) - {first}
    t0 = time.monotonic()
    if kind == "speaker_pod_deleted":
        c.kubectl("delete", "pod", "-n", NS, c.speaker_pod(first), "--wait=false")
    else:
        c.fail_node(first)

    def moved() -> float | None:
        times = [t for node in others if (t := _first_answer(log, node, t0)) is not None]
        return min(times) if times else None

    try:
        return wait_for(moved, TRIAL_TIMEOUT, "another node answering", step=0.05) - t0
    except LabError:
        return None
    finally:
        proc.kill()
        proc.wait(10)
        if kind == "node_failed":
            c.heal_node(first)
        c.wait_metallb()
        wait_for(lambda: settled(c, ip), 90, "one announcer, stable", step=0.5)


def settled(c: PodCluster, ip: str, checks: int = 3) -> str | None:
    """The announcing node once the cluster has settled: a healed node rejoins the
    membership and may take the IP back a moment later, so a trial starting then would
    time the other side's announcement. Settled means that, ``checks`` times a second
    apart, exactly one MAC answers ARP and its node serves the page."""
    seen = set()
    for i in range(checks):
        owners = {c.mac_owner(m) for m in c.arping_macs(ip, count=1)}
        answer = c.curl(ip)
        if len(owners) != 1 or answer not in owners:
            return None
        seen.add(answer)
        if i < checks - 1:
            time.sleep(1)
    return seen.pop() if len(seen) == 1 else None


def run(trials: int, progress: Callable[[str], None]) -> None:
    images = Images.locate()
    with PodCluster(images=images, install_on_enter=False, progress=progress) as c:
        c.apply(backend_docs(images.web))
        wait_for(c._backends_ready, 120, "web backends", step=0.5)
        ip = install(c)
        for kind in ("speaker_pod_deleted", "node_failed"):
            values: list[float] = []
            failed = 0
            for n in range(trials):
                value = trial(c, ip, kind, n)
                print(json.dumps({"kind": kind, "trial": n, "seconds": value}), file=sys.stderr)
                if value is None:
                    failed += 1
                else:
                    values.append(value)
            for name, q in (("p50", 0.5), ("p99", 0.99)):
                emit(
                    f"{kind}_{name}",
                    round(quantile(values, q), 3) if values else None,
                    trials=trials,
                    failed_trials=failed,
                )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = p.parse_args(argv)
    run(args.trials, (lambda _m: None) if args.quiet else (lambda m: print(m, file=sys.stderr)))


if __name__ == "__main__":
    main()
