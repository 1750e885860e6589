"""Fault: the controller SIGKILLed in the middle of a burst of Service creations.

Run: ``python -m bench.faults_controller [--services N]`` (default 500). Prints JSON lines
``{"bench", "metric", "value", "unit", ...params}``; never asserts a time. The scenario
itself (:func:`crash_during_burst`, :func:`verdict`) is also what
tests/integration/controller/test_faults.py runs and asserts on, so the test and this
benchmark measure the same thing.

The burst (:class:`Burst`): N Services that must all end with an IP, plus the losers of
a few clashes, all created as fast as the client can (a bounded number in flight):

- most are plain and take an address from the auto-assign pool;
- a few groups of three share one requested address (``metallb.io/allow-shared-ip``
  with one key, distinct ports): compatible sharing, so one IP serves each group;
- a few pairs request the same address with ``metallb.io/loadBalancerIPs``, same port,
  no sharing key: incompatible, so exactly one of each pair may win and the other stays
  pending with an ``AllocationFailed`` Event. The requested addresses come from a pool
  with ``autoAssign: false``, so no plain Service can take them first.

When about half of the N have an IP the controller gets SIGKILL (no graceful shutdown)
and is started again at once. Figures: Services created and IPs assigned before the kill,
time from the restart to ready and to every one of the N served, IPs that moved (0 is
right) and the rule violations :func:`verdict` finds (0 is right).

One control plane (etcd + kube-apiserver, no controller-manager), the controller as its
ServiceAccount with RBAC from deploy/, Services IPv6 single-stack (2001:db8::/32).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lightkube import AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Namespace, Service

from bench.controller_kit import (
    NS,
    ControllerProcess,
    Pool,
    ServiceWatch,
    bench_main,
    bounded,
    controller_kubeconfig,
    lb_service,
    progress,
)
from metallb.lab.controlplane import ControlPlane
from metallb.lab.daemon import Daemon

AUTO_POOL = "2001:db8:fa17::/112"  # 65,536 addresses: any --services fits
MANUAL_POOL = "2001:db8:fa17:1::/124"  # autoAssign: false; the requested addresses
SHARE_KEY = "metallb.io/allow-shared-ip"
REQUEST_KEY = "metallb.io/loadBalancerIPs"
CREATE_CONCURRENCY = 16

IPs = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class Burst:
    """The Services of one burst: ``served`` must all end with an IP; ``clashes`` more lose."""

    namespace: str
    lb_class: str | None
    served: int = 500
    groups: int = 4  # sharing groups, GROUP_SIZE Services on one requested IP each
    clashes: int = 4  # pairs requesting one IP, incompatible

    GROUP_SIZE = 3

    def requested_ip(self, index: int) -> str:
        """The index-th address of MANUAL_POOL (groups first, then clashes)."""
        return str(ipaddress.ip_network(MANUAL_POOL)[index + 1])

    def share_groups(self) -> list[list[str]]:
        return [[f"share{g}-{m}" for m in range(self.GROUP_SIZE)] for g in range(self.groups)]

    def clash_pairs(self) -> list[tuple[str, str]]:
        return [(f"clash{c}-a", f"clash{c}-b") for c in range(self.clashes)]

    def plain(self) -> list[str]:
        count = self.served - self.groups * self.GROUP_SIZE - self.clashes
        if count < 1:
            raise ValueError(f"a burst needs more than {self.served} Services")
        return [f"s{i:05d}" for i in range(count)]

    def services(self) -> list[Service]:
        """Every Service of the burst, the special ones spread evenly among the plain ones
        so that some are handled before the kill and some after."""
        special: list[Service] = []
        for g, group in enumerate(self.share_groups()):
            ann = {SHARE_KEY: f"group{g}", REQUEST_KEY: self.requested_ip(g)}
            special += [self._svc(n, ann, 8000 + m) for m, n in enumerate(group)]
        for c, pair in enumerate(self.clash_pairs()):
            ann = {REQUEST_KEY: self.requested_ip(self.groups + c)}
            special += [self._svc(n, ann, 80) for n in pair]
        plain = [self._svc(n, None, 80) for n in self.plain()]
        step = max(len(plain) // (len(special) + 1), 1)
        out: list[Service] = []
        for i, svc in enumerate(plain):
            if i % step == 0 and i and special:
                out.append(special.pop(0))
            out.append(svc)
        return out + special

    def total(self) -> int:
        return self.served + self.clashes

    def _svc(self, name: str, annotations: dict[str, str] | None, port: int) -> Service:
        return lb_service(
            name, self.namespace, self.lb_class, annotations=annotations, ports=(port,)
        )


@dataclass
class Outcome:
    """What one crash during a burst left, and how long recovery took."""

    created_before_kill: int = 0
    kill_after_s: float = 0.0  # from the first create to the SIGKILL
    before: IPs = field(default_factory=dict)  # every Service's IPs right after the kill
    restart_ready_s: float = 0.0
    restart_to_all_served_s: float = 0.0
    after: IPs = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)  # AllocationFailed messages

    @property
    def assigned_before_kill(self) -> int:
        return sum(1 for ips in self.before.values() if ips)

    def moved(self) -> list[str]:
        """Services that held IPs at the kill and hold different ones now."""
        return [n for n, ips in self.before.items() if ips and self.after.get(n) != ips]


async def snapshot(client: AsyncClient, namespace: str) -> IPs:
    """Every Service's ingress IPs, from a fresh list."""
    out: IPs = {}
    async for svc in client.list(Service, namespace=namespace):
        lb = svc.status.loadBalancer if svc.status else None
        assert svc.metadata is not None
        assert svc.metadata.name is not None
        out[svc.metadata.name] = tuple(i.ip for i in (lb.ingress if lb else None) or [] if i.ip)
    return out


async def allocation_failures(client: AsyncClient, namespace: str) -> dict[str, list[str]]:
    """The AllocationFailed Events' messages, per Service name."""
    out: dict[str, list[str]] = {}
    async for ev in client.list(Event, namespace=namespace):
        if ev.reason == "AllocationFailed" and ev.involvedObject.kind == "Service":
            out.setdefault(ev.involvedObject.name or "", []).append(ev.message or "")
    return out


async def crash_during_burst(
    client: AsyncClient, burst: Burst, controller: Daemon, *, limit: float = 300
) -> Outcome:
    """Create the burst, SIGKILL ``controller`` (running and ready) when half of the
    Services to serve have an IP, start it again (``start`` returns once it is ready),
    wait until all are served and every clash loser has its Event."""
    outcome = Outcome()
    deadline = time.monotonic() + limit
    watch = ServiceWatch(client, burst.namespace, burst.served)
    watcher = asyncio.create_task(watch.run(await watch.prime()))
    services = burst.services()
    created = 0

    async def create(i: int) -> None:
        nonlocal created
        await client.create(services[i])
        created += 1

    started = time.perf_counter()
    creating = asyncio.create_task(
        bounded("creating the burst", len(services), create, CREATE_CONCURRENCY)
    )
    try:
        while watch.with_ips < burst.served // 2:
            for task in (creating, watcher):
                if task.done() and task.exception() is not None:
                    raise RuntimeError("the burst failed") from task.exception()
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {watch.with_ips} Services got an IP before the kill")
            await asyncio.sleep(0.005)
        controller.kill()
        outcome.kill_after_s = time.perf_counter() - started
        outcome.created_before_kill = created
        # Nothing writes statuses now: this list is what the dead controller left.
        outcome.before = await snapshot(client, burst.namespace)
        progress(f"killed with {outcome.assigned_before_kill} IPs assigned; restarting")
        t0 = time.perf_counter()
        await asyncio.to_thread(controller.start)
        outcome.restart_ready_s = time.perf_counter() - t0
        await creating
        await asyncio.wait_for(watch.all_have_ips.wait(), deadline - time.monotonic())
        outcome.restart_to_all_served_s = time.perf_counter() - t0
        losers = {n for pair in burst.clash_pairs() for n in pair}
        while True:
            outcome.failures = await allocation_failures(client, burst.namespace)
            outcome.after = await snapshot(client, burst.namespace)
            pending = {n for n in losers if not outcome.after.get(n)}
            if pending <= outcome.failures.keys() or time.monotonic() > deadline:
                return outcome
            await asyncio.sleep(0.2)
    finally:
        for task in (creating, watcher):
            task.cancel()
        await asyncio.gather(creating, watcher, return_exceptions=True)


def _holders(after: IPs) -> Iterator[tuple[str, list[str]]]:
    by_ip: dict[str, list[str]] = {}
    for name, ips in after.items():
        for ip in ips:
            by_ip.setdefault(ip, []).append(name)
    yield from by_ip.items()


def verdict(burst: Burst, outcome: Outcome) -> list[str]:
    """Every rule the crash may not break, as the broken ones' descriptions ([] is right)."""
    problems: list[str] = []
    after = outcome.after
    pools = [ipaddress.ip_network(AUTO_POOL), ipaddress.ip_network(MANUAL_POOL)]
    if len(after) != burst.total():
        problems.append(f"{len(after)} Services exist, {burst.total()} were created")
    served = [n for n, ips in after.items() if ips]
    if len(served) != burst.served:
        problems.append(f"{len(served)} Services have an IP, {burst.served} should")
    for name, ips in after.items():
        if len(ips) > 1:
            problems.append(f"{name} holds {len(ips)} IPs: {ips}")
        if any(not any(ipaddress.ip_address(ip) in p for p in pools) for ip in ips):
            problems.append(f"{name} holds {ips}, not from the pools")
    for name in burst.plain():
        if not after.get(name):
            problems.append(f"{name} has no IP")
    group_of = {n: g for g, group in enumerate(burst.share_groups()) for n in group}
    for ip, names in _holders(after):
        if len(names) > 1 and len({group_of.get(n, n) for n in names}) != 1:
            problems.append(f"{ip} is held by incompatible Services {sorted(names)}")
    for g, group in enumerate(burst.share_groups()):
        want = (burst.requested_ip(g),)
        if [after.get(n) for n in group] != [want] * len(group):
            problems.append(f"sharing group {g} holds {[after.get(n) for n in group]}")
    for c, pair in enumerate(burst.clash_pairs()):
        want = (burst.requested_ip(burst.groups + c),)
        winners = [n for n in pair if after.get(n) == want]
        losers = [n for n in pair if not after.get(n)]
        if len(winners) != 1 or len(losers) != 1:
            problems.append(f"clash {pair}: {[after.get(n) for n in pair]}")
        elif not any("address also in use by" in m for m in outcome.failures.get(losers[0], [])):
            problems.append(f"{losers[0]} lost the clash without an AllocationFailed Event")
    problems += [f"{n} moved from {outcome.before[n]} to {after.get(n)}" for n in outcome.moved()]
    return problems


def emit(metric: str, value: float, unit: str, **params: object) -> None:
    record = {"bench": "faults_controller", "metric": metric, "value": round(value, 3)}
    print(json.dumps({**record, "unit": unit, **params}), flush=True)


def emit_outcome(burst: Burst, outcome: Outcome, problems: list[str]) -> None:
    """The figures of one run, as JSON lines."""
    n = burst.served
    emit("created_before_kill", outcome.created_before_kill, "services", services=n)
    emit("assigned_before_kill", outcome.assigned_before_kill, "services", services=n)
    emit("kill_after", outcome.kill_after_s, "s", services=n)
    emit("restart_ready", outcome.restart_ready_s, "s", services=n)
    emit("restart_to_all_served", outcome.restart_to_all_served_s, "s", services=n)
    emit("ips_moved", len(outcome.moved()), "services", services=n)
    emit("violations", len(problems), "rules", services=n)


async def run(cp: ControlPlane, n: int, workdir: Path) -> None:
    client = AsyncClient(config=KubeConfig.from_file(str(cp.kubeconfig)), field_manager="bench")
    try:
        await client.create(Namespace(metadata=ObjectMeta(name="bench-faults")))
        pools = (("faults-auto", AUTO_POOL, True), ("faults-manual", MANUAL_POOL, False))
        for name, cidr, auto in pools:
            await client.create(
                Pool(
                    metadata=ObjectMeta(name=name, namespace=NS),
                    spec={"addresses": [cidr], "autoAssign": auto},
                )
            )
        ctl = ControllerProcess(controller_kubeconfig(cp), workdir / "controller.log")
        ctl.ready_url = f"http://127.0.0.1:{ctl.health_port}/readyz"  # start() waits for it
        ctl.start()
        try:
            burst = Burst("bench-faults", None, served=n)
            outcome = await crash_during_burst(client, burst, ctl, limit=max(300, n / 5))
        finally:
            ctl.stop()
        problems = verdict(burst, outcome)
        for p in problems[:20]:
            progress(f"violation: {p}")
        emit_outcome(burst, outcome, problems)
    finally:
        await client.close()


def main() -> None:
    bench_main(__doc__, 500, "bench-faults-", run)


if __name__ == "__main__":
    main()
