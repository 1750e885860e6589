"""BGP modes side by side: how long from a Service getting its IP until the router holds
a path from every node, with ``METALLB_BGP_TYPE`` native, frr and frr-k8s.

Run `python -m bench.bgp_modes [--modes native,frr,frr-k8s] [--services N]` as root (it
builds the lab's network namespaces). Prints JSON lines `{"bench", "metric", "value",
"unit", ...params}`; never asserts a time.

Each mode gets a fresh lab cluster (:class:`L2Cluster`: the real apiserver, controller
and three speakers) and the lab's FRR router (eBGP, ECMP over three paths), set up as
in the integration tests: frr mode with FRR in each node configured by its speaker;
frr-k8s mode with FRR and the real frr-k8s in each node (built from its Go module). The
speakers' debounce is the default (3 s, as upstream) unless `--debounce-ms` says
otherwise; frr-k8s adds its own (its default).

- `metric=one_service_seconds`: one Service; from its IP appearing in its status
  (polled every 20 ms) until the router's BGP table holds its /32 from the 3 nodes.
- `metric=many_services_seconds`: N IPv6 Services created in a burst (the IPv4
  documentation ranges are too small for 1,000); from the first creation until the
  router holds every /128 from the 3 nodes; `ips_seconds` is when the last one got its
  IP. The router's table is read with one `show bgp ipv6 unicast json` per poll.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightkube.resources.core_v1 import Service
from tests.integration.speaker.bgpkit import (
    NODE_ASN,
    ROUTER_ASN,
    ROUTER_IP,
    BGPPeer,
    add_router,
    advertise_pool,
    create,
)
from tests.integration.speaker.harness import DATA_IP, NODES, L2Cluster, wait_for

from metallb.lab import frrk8s
from metallb.lab.demo import create_service
from metallb.lab.routers import FRR, remove_frr_rundirs, start_node_frr

POOL_V4 = "192.0.2.200/29"
POOL_V6 = "2001:db8:200::/116"  # 4,096 addresses
POLL = 0.02


def emit(metric: str, value: float, unit: str, **params: Any) -> None:
    line = {"bench": "bgp_modes", "metric": metric, "value": round(value, 3), "unit": unit}
    print(json.dumps({**line, **params}), flush=True)


@contextmanager
def cluster_for(mode: str, debounce_ms: int | None) -> Iterator[tuple[L2Cluster, FRR]]:
    work = Path(tempfile.mkdtemp(prefix="bench-bgp-modes-"))
    work.chmod(0o755)
    extra = [f"--bgp-debounce-timeout={debounce_ms}"] if debounce_ms is not None else []
    manifests = frrk8s.daemon_manifests(work) if mode == "frr-k8s" else ()
    cluster = L2Cluster(workdir=work, env={"METALLB_BGP_TYPE": mode}, manifests=manifests)
    if mode == "frr":
        cluster.speaker_args = lambda n: [
            f"--frr-pathspace={cluster.lab.hosts[n].netns}",
            f"--frr-workdir={work / f'frr-{n}'}",
            *extra,
        ]
    elif mode == "frr-k8s":
        cluster.speaker_args = lambda n: [*frrk8s.speaker_args(n), *extra]
    else:
        cluster.speaker_args = lambda _n: extra
    procs: list[subprocess.Popen[bytes]] = []
    with cluster as c:
        if mode == "frr":
            for n in NODES:
                start_node_frr(c.lab.hosts[n], work / f"frr-{n}.out", procs)
        elif mode == "frr-k8s":
            frrk8s.start_all(c)
        router = add_router(c, work / "router")
        try:
            spec = {"myASN": NODE_ASN, "peerASN": ROUTER_ASN, "peerAddress": ROUTER_IP}
            if mode != "native":
                spec["dualStackAddressFamily"] = True
            create(c, BGPPeer, "tor", spec)
            advertise_pool(c, [POOL_V4, POOL_V6])
            yield c, router
        finally:
            router.stop()
    remove_frr_rundirs(cluster.lab.tag)
    shutil.rmtree(work, ignore_errors=True)


def paths(router: FRR, family: int) -> dict[str, int]:
    fam = "ipv4" if family == 4 else "ipv6"
    table = json.loads(router.vtysh(f"show bgp {fam} unicast json") or "{}")
    return {p: len(v) for p, v in (table.get("routes") or {}).items()}


def ip_of(cluster: L2Cluster, name: str) -> str | None:
    assert cluster.kube is not None
    svc = cluster.kube.get(Service, name, namespace="default")
    lb = svc.status.loadBalancer if svc.status else None
    return lb.ingress[0].ip if lb and lb.ingress else None


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    return wait_for(check, timeout, what, step=POLL)


def one_service(cluster: L2Cluster, router: FRR, mode: str) -> None:
    assert cluster.kube is not None
    create_service(cluster.kube, "one", "default", "IPv4")
    ip = poll(lambda: ip_of(cluster, "one"), 60, "an IP")
    start = time.monotonic()
    prefix = f"{ip}/32"
    poll(lambda: True if paths(router, 4).get(prefix) == 3 else None, 120, "three paths")
    emit("one_service_seconds", time.monotonic() - start, "s", mode=mode)


def many_services(cluster: L2Cluster, router: FRR, mode: str, n: int) -> None:
    assert cluster.kube is not None
    names = [f"svc-{i:04d}" for i in range(n)]
    start = time.monotonic()
    for name in names:
        create_service(cluster.kube, name, "default", "IPv6")

    def all_ips() -> bool | None:
        assert cluster.kube is not None
        svcs = cluster.kube.list(Service, namespace="default")
        got = sum(
            1 for s in svcs if s.status and s.status.loadBalancer and s.status.loadBalancer.ingress
        )
        return True if got >= n + 1 else None  # +1: the one_service Service

    poll(all_ips, 600, f"{n} IPs")
    ips_at = time.monotonic() - start

    def full() -> bool | None:
        table = paths(router, 6)
        return True if sum(1 for c in table.values() if c == 3) >= n else None

    wait_for(full, 1800, f"{n} prefixes with three paths", step=0.5)
    emit("many_services_seconds", time.monotonic() - start, "s", mode=mode, services=n,
         ips_seconds=round(ips_at, 3))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="native,frr,frr-k8s")
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--debounce-ms", type=int, default=None)
    args = ap.parse_args()
    for mode in args.modes.split(","):
        with cluster_for(mode, args.debounce_ms) as (cluster, router):
            for n in NODES:
                router.wait_established(DATA_IP[n], timeout=60)
            one_service(cluster, router, mode)
            if args.services:
                many_services(cluster, router, mode, args.services)


if __name__ == "__main__":
    main()
