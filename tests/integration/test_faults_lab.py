"""Control-plane faults under a running lab: what clients see, and how MetalLB recovers.

Rows of the README's fault table. The cluster is the process-based lab
(:class:`metallb.lab.cluster.L2Cluster`: real kube-apiserver and etcd, the controller
and three speakers as processes, a client on the data LAN). While a fault lasts, a
client asks the demo Service's IP every 100 ms with ARP (arping) and HTTP (curl):

- kube-apiserver stopped for 60 s: the speakers keep answering ARP from what they
  know, the owner does not change and HTTP keeps working; once the apiserver is back,
  the controller and the speakers recover by themselves (no restart): a Service
  created then gets an IP and is announced. The time to that is printed.
- etcd restarted: the same, with a shorter outage behind the apiserver.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from lightkube.resources.core_v1 import Service

from metallb.lab.cluster import L2Cluster
from metallb.lab.demo import DEMO_NS, create_service
from metallb.lab.topology import wait_for

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def cluster() -> Iterator[L2Cluster]:
    with L2Cluster() as c:
        c.deploy_demo()
        yield c


def ip_of(c: L2Cluster, name: str) -> str | None:
    assert c.kube is not None
    svc = c.kube.get(Service, name, namespace=DEMO_NS)
    lb = svc.status.loadBalancer if svc.status else None
    return lb.ingress[0].ip if lb and lb.ingress else None


@dataclass
class Prober:
    """Asks ``ip`` every 100 ms from the client: who answers ARP, does HTTP work."""

    c: L2Cluster
    ip: str
    owners: list[frozenset[str]] = field(default_factory=list)
    http_ok: list[bool] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Prober:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.owners) < 5000:
            macs = self.c.arping_macs(self.ip, count=1)
            self.owners.append(frozenset(self.c.mac_owner(m) or m for m in macs))
            self.http_ok.append(self.c.curl(self.ip, timeout=0.5) is not None)
            time.sleep(0.1)


def recovery_after(c: L2Cluster, name: str, started: float) -> float:
    """Seconds from ``started`` until a new Service ``name`` has an IP answered over
    HTTP (the controller allocated it, a speaker announces it)."""
    assert c.kube is not None
    create_service(c.kube, name, DEMO_NS)
    ip = wait_for(lambda: ip_of(c, name), 120, f"an IP for {name}", step=0.2)
    wait_for(lambda: c.curl(ip), 60, f"HTTP through {ip}", step=0.2)
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("component", "down_for", "after"),
    [("kube-apiserver", 60.0, "after-apiserver"), ("etcd", 5.0, "after-etcd")],
)
def test_outage_keeps_announcements_and_recovers_alone(
    cluster: L2Cluster, component: str, down_for: float, after: str
) -> None:
    assert cluster.cp is not None
    ip = wait_for(lambda: ip_of(cluster, "web"), 60, "the demo Service's IP")
    owner = wait_for(lambda: cluster.curl(ip), 60, f"HTTP through {ip}")
    with Prober(cluster, ip) as probe:
        t0 = time.monotonic()
        cluster.cp.restart(component, down_for=down_for)
        back = time.monotonic()
        during = len(probe.owners)
    answered = sum(1 for o in probe.owners[:during] if o)
    served = sum(probe.http_ok[:during])
    owners = set().union(*probe.owners[:during])
    took = recovery_after(cluster, after, back)
    print(
        f"{component} down {back - t0:.1f} s: {during} probes, ARP answered {answered}, "
        f"HTTP {served}, owners {sorted(owners)}; recovered (new Service served) "
        f"{took:.1f} s after it was back"
    )
    assert during >= 5
    assert owners == {owner}, owners  # no change of owner, never two answers
    assert answered == during
    assert served == during
    assert ip_of(cluster, "web") == ip
