"""The controller against the real apiserver, beside a bare client loop doing the same writes.

Run: ``python -m bench.controller [--services N]`` (default 10000). Prints JSON lines
``{"bench", "metric", "value", "unit", ...params}``; never asserts a time. Progress of the
long phases goes to stderr.

One control plane (etcd + kube-apiserver, no controller-manager: nothing here needs it
and it would only compete for CPU) serves every phase, so the figures are comparable:

1. **Bare loop** (the apiserver's own write rate): N Services of another
   loadBalancerClass are created (untimed), then N sequential merge-patches of
   ``status.loadBalancer.ingress`` through ``services/status`` are timed; then N more
   that also set the ``metallb.io/ip-allocated-from-pool`` annotation, which is what the
   controller writes (one patch carries both). The bare Services are deleted afterwards
   so the controller's caches hold only its own N.
2. **Controller**: N fresh Services exist (created untimed) and no pool; ``metallb
   controller`` runs as its ServiceAccount (RBAC from deploy/, a TokenRequest token, as
   the integration tests do) and is ready. At t0 an IPAddressPool is created; the clock
   stops when a watch in this process has seen every Service with an ingress IP. The
   ratio to the bare loop is the DESIGN target (<= 1.3 at 10k).
3. **Footprint**: the controller's VmRSS once it is idle with N Services, the status
   writes it made (MODIFIED events seen by the watch; each effective write is one), and
   its reconcile count from /metrics.
4. **Restart**: ``kill -9``, start again, time to /readyz 200, then the number of
   Services whose IP changed and the writes the restart caused (both should be 0).
5. **Exhaustion**: the pool shrinks to half the Services' number of addresses; the
   Services beyond it lose their IP and cannot get another.

After phases 3 to 5, the Events: Event objects and Event API writes (creates and
patches, seen by a watch) per 1,000 Services, all API writes (status and Events) per
1,000 Services, and the most Event objects any one Service has for one reason (the
recorder merges repeats: it should be 1).

Services are IPv6 single-stack and the pool is 2001:db8::/112 (documentation range), so
65,536 addresses exist for 10,000 Services.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from lightkube import AsyncClient, Client, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace
from lightkube.types import PatchType

from bench.controller_kit import (
    BARE_CLASS,
    BARE_NS,
    CTL_NS,
    NS,
    ControllerProcess,
    EventWatch,
    Pool,
    ServiceWatch,
    bare_loop,
    bench_main,
    changed,
    controller_kubeconfig,
    cpu_seconds,
    create_services,
    delete_services,
    emit,
    progress,
)
from metallb.k8s.controller import WORKERS
from metallb.lab.controlplane import ControlPlane
from metallb.lab.tokens import metrics_reader_token


async def run(cp: ControlPlane, n: int, workdir: Path) -> None:
    # The apiserver's and etcd's CPU per phase: on a shared machine the apiserver, not
    # the client, is usually the limit, and this shows how much work each phase asks of it.
    servers = {
        name: comp.process.pid
        for name, comp in cp.components.items()
        if comp.process is not None and name in ("kube-apiserver", "etcd")
    }

    def server_cpu() -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in servers.items()}

    def emit_cpu(phase: str, before: dict[str, float]) -> None:
        for name, used in server_cpu().items():
            emit("server_cpu", used - before[name], "s", services=n, phase=phase, component=name)

    client = AsyncClient(config=KubeConfig.from_file(str(cp.kubeconfig)), field_manager="bench")
    for ns in (BARE_NS, CTL_NS):
        await client.create(Namespace(metadata=ObjectMeta(name=ns)))

    # 1. The bare loop.
    await create_services(client, BARE_NS, n, BARE_CLASS)
    progress("bare loop: status ingress only")
    bare_plain = await bare_loop(client, n, subnet=1, annotate=False)
    emit("bare_status_writes", bare_plain, "s", services=n, patch="ingress")
    emit("bare_status_writes_rate", n / bare_plain, "1/s", services=n, patch="ingress")
    progress("bare loop: status ingress + pool annotation")
    cpu0 = server_cpu()
    bare = await bare_loop(client, n, subnet=2, annotate=True)
    emit_cpu("bare ingress+annotation", cpu0)
    emit("bare_status_writes", bare, "s", services=n, patch="ingress+annotation")
    emit("bare_status_writes_rate", n / bare, "1/s", services=n, patch="ingress+annotation")
    # The controller keeps up to WORKERS writes in flight; the same for a bare client.
    progress(f"bare loop: ingress + annotation, {WORKERS} in flight")
    bare_pipelined = await bare_loop(client, n, subnet=3, annotate=True, in_flight=WORKERS)
    emit(
        "bare_status_writes",
        bare_pipelined,
        "s",
        services=n,
        patch="ingress+annotation",
        in_flight=WORKERS,
    )
    await delete_services(client, BARE_NS, n)

    # 2. The controller: Services first, then a ready controller, then the pool at t0.
    await create_services(client, CTL_NS, n, None)
    kubeconfig = controller_kubeconfig(cp)
    ctl = ControllerProcess(kubeconfig, workdir / "controller.log")
    admin = Client(config=KubeConfig.from_file(str(cp.kubeconfig)))
    ctl.metrics_token = await asyncio.to_thread(metrics_reader_token, admin, NS)
    progress(f"starting the controller (log: {ctl.log})")
    ctl.start()
    try:
        ready = await ctl.wait_ready()
        emit("controller_ready_no_pool", ready, "s", services=n)
        watch = ServiceWatch(client, CTL_NS, n)
        rv = await watch.prime()
        watcher = asyncio.create_task(watch.run(rv))
        events = EventWatch(client, CTL_NS)
        events_watcher = asyncio.create_task(events.run(await events.prime()))
        await asyncio.sleep(0.5)  # the watch is established before t0
        progress("creating the pool (t0); waiting for every Service to have an IP")
        t0 = time.perf_counter()
        cpu0, ctl_cpu0 = server_cpu(), cpu_seconds(ctl.pid)
        await client.create(
            Pool(
                metadata=ObjectMeta(name="bench", namespace=NS),
                spec={"addresses": ["2001:db8::/112"]},
            )
        )
        reporter = asyncio.create_task(report_progress(watch, n))
        await watch.all_have_ips.wait()
        elapsed = time.perf_counter() - t0
        reporter.cancel()
        emit("controller_all_ips", elapsed, "s", services=n)
        emit_cpu("controller", cpu0)
        emit("controller_cpu", cpu_seconds(ctl.pid) - ctl_cpu0, "s", services=n)
        emit("controller_rate", n / elapsed, "1/s", services=n)
        emit("ratio_controller_to_bare", elapsed / bare, "x", services=n, bare="ingress+annotation")
        emit("ratio_controller_to_bare", elapsed / bare_plain, "x", services=n, bare="ingress")
        emit(
            "ratio_controller_to_bare",
            elapsed / bare_pipelined,
            "x",
            services=n,
            bare=f"ingress+annotation, {WORKERS} in flight",
        )

        # 3. Footprint, once the controller is idle.
        updates = await ctl.settled()
        await watch.quiet(2.0)
        emit("controller_rss", ctl.rss_mib(), "MiB", services=n)
        emit("controller_status_writes", watch.modified, "writes", services=n)
        emit("controller_reconciles", updates, "reconciles", services=n)
        await events.quiet(2.0)
        events.emit(n, "allocation", watch.modified, (0, 0))
        mark = events.mark()

        # 4. Restart.
        before = dict(watch.ips)
        writes_before = watch.modified
        progress("kill -9 and restart")
        ctl.kill()
        ctl.start()
        ready = await ctl.wait_ready()
        emit("restart_ready", ready, "s", services=n)
        await ctl.settled()
        await watch.quiet(2.0)
        emit("restart_ips_changed", changed(before, watch.ips), "services", services=n)
        emit("restart_status_writes", watch.modified - writes_before, "writes", services=n)
        emit("restart_rss", ctl.rss_mib(), "MiB", services=n)
        await events.quiet(2.0)
        events.emit(n, "restart", watch.modified - writes_before, mark)

        # 5. Exhaustion: room for half of them.
        writes_before, mark = watch.modified, events.mark()
        half = max(n // 2, 1)
        progress(f"shrinking the pool to {half} addresses")
        await client.patch(
            Pool,
            "bench",
            {"spec": {"addresses": [f"2001:db8::-2001:db8::{half - 1:x}"]}},
            namespace=NS,
            patch_type=PatchType.MERGE,
        )
        await asyncio.sleep(1.0)
        await ctl.settled()
        await watch.quiet(2.0)
        await events.quiet(2.0)
        emit("exhaustion_services_with_ip", watch.with_ips, "services", services=n)
        events.emit(n, "exhaustion", watch.modified - writes_before, mark)
        for task in (watcher, events_watcher):
            task.cancel()
        await asyncio.gather(watcher, events_watcher, return_exceptions=True)
    finally:
        ctl.stop()
        await client.close()


async def report_progress(watch: ServiceWatch, n: int) -> None:
    while True:
        await asyncio.sleep(5)
        progress(f"controller: {watch.with_ips}/{n} Services have an IP")


def main() -> None:
    bench_main(__doc__, 10_000, "bench-controller-", run)


if __name__ == "__main__":
    main()
