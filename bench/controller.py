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

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, Client, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Namespace, Service, ServiceAccount
from lightkube.types import PatchType

from metallb.k8s.controller import WORKERS
from metallb.k8s.scrape import fetch_metrics
from metallb.k8s.source import LightkubeListWatch
from metallb.lab.controlplane import Binaries, ControlPlane
from metallb.lab.daemon import Daemon
from metallb.lab.ports import free_port
from metallb.lab.tokens import metrics_reader_token

REPO = Path(__file__).resolve().parents[1]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
NS = "metallb-system"
BARE_NS = "bench-bare"
CTL_NS = "bench-controller"
BARE_CLASS = "bench.metallb-py/bare"  # the controller (default class) ignores these
POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool"
FIELD_MANAGER = "metallb-controller"  # the same manager as the controller's patches
CREATE_CONCURRENCY = 32
MIB = 1024 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def emit(metric: str, value: float, unit: str, **params: object) -> None:
    record = {"bench": "controller", "metric": metric, "value": round(value, 3), "unit": unit}
    print(json.dumps({**record, **params}), flush=True)


def progress(msg: str) -> None:
    print(f"[bench.controller {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def name_of(i: int) -> str:
    return f"s{i:05d}"


def lb_service(
    name: str,
    namespace: str,
    lb_class: str | None,
    *,
    annotations: dict[str, str] | None = None,
    ports: tuple[int, ...] = (80,),
) -> Service:
    """An IPv6 single-stack LoadBalancer Service with TCP ``ports``."""
    return Service(
        metadata=ObjectMeta(name=name, namespace=namespace, annotations=annotations),
        spec=ServiceSpec(
            type="LoadBalancer",
            loadBalancerClass=lb_class,
            ipFamilies=["IPv6"],
            ipFamilyPolicy="SingleStack",
            # The node-port range holds 2,768 ports: 10k Services cannot all have one.
            allocateLoadBalancerNodePorts=False,
            ports=[ServicePort(port=p, protocol="TCP", name=f"tcp{p}") for p in ports],
        ),
    )


async def bounded(
    what: str, n: int, job: Callable[[int], Awaitable[None]], width: int = CREATE_CONCURRENCY
) -> None:
    """Run ``job(i)`` for i in range(n), ``width`` at a time, with progress on stderr."""
    nxt = iter(range(n))
    done = 0
    step = max(n // 10, 1)

    async def worker() -> None:
        nonlocal done
        for i in nxt:
            await job(i)
            done += 1
            if done % step == 0:
                progress(f"{what}: {done}/{n}")

    await asyncio.gather(*(worker() for _ in range(width)))


async def create_services(
    client: AsyncClient, namespace: str, n: int, lb_class: str | None
) -> None:
    async def one(i: int) -> None:
        await client.create(lb_service(name_of(i), namespace, lb_class))

    await bounded(f"creating Services in {namespace}", n, one)


async def delete_services(client: AsyncClient, namespace: str, n: int) -> None:
    async def one(i: int) -> None:
        try:
            await client.delete(Service, name_of(i), namespace=namespace)
        except ApiError as err:
            if err.status.code != 404:
                raise

    await bounded(f"deleting Services in {namespace}", n, one)


# -- the bare loop ----------------------------------------------------------------------
async def bare_loop(
    client: AsyncClient, n: int, *, subnet: int, annotate: bool, in_flight: int = 1
) -> float:
    """Seconds for N status merge-patches, ``in_flight`` requests at a time (1: sequential)."""
    step = max(n // 10, 1)
    todo = iter(range(n))
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _bare_worker(client, todo, n=n, step=step, subnet=subnet, annotate=annotate)
            for _ in range(in_flight)
        )
    )
    return time.perf_counter() - started


async def _bare_worker(
    client: AsyncClient, todo: Iterator[int], *, n: int, step: int, subnet: int, annotate: bool
) -> None:
    for i in todo:
        patch: dict[str, Any] = {
            "status": {"loadBalancer": {"ingress": [{"ip": f"2001:db8:{subnet}::{i:x}"}]}}
        }
        if annotate:
            patch["metadata"] = {"annotations": {POOL_ANNOTATION: "bare"}}
        await client.patch(
            Service.Status,
            name_of(i),
            patch,
            namespace=BARE_NS,
            patch_type=PatchType.MERGE,
            field_manager=FIELD_MANAGER,
        )
        if (i + 1) % step == 0:
            progress(f"bare loop (annotate={annotate}): {i + 1}/{n}")


# -- watching the controller's Services -------------------------------------------------
class ServiceWatch:
    """Follows the Services of one namespace: each one's ingress IPs, and MODIFIED counts.

    Decodes the watch stream with ``json.loads`` only (not into lightkube models): this
    process shares the CPUs with the controller and the apiserver, and must stay cheap.
    """

    resource: Any = Service

    def __init__(self, client: AsyncClient, namespace: str, expect: int) -> None:
        self.client = client
        self.namespace = namespace
        self.expect = expect
        self.ips: dict[str, tuple[str, ...]] = {}
        self.modified = 0
        self.with_ips = 0
        self.all_have_ips = asyncio.Event()
        self.last_event = time.monotonic()
        self._lw = LightkubeListWatch(client, self.resource, namespace=namespace)

    def _update(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = tuple(i["ip"] for i in ingress if i.get("ip"))
        before = self.ips.get(name, ())
        self.ips[name] = ips
        self.with_ips += bool(ips) - bool(before)
        if self.with_ips >= self.expect:
            self.all_have_ips.set()

    async def prime(self) -> str:
        """List once (untimed); return the resourceVersion to watch from."""
        items, rv = await self._lw.list()
        for svc in items:
            self._update(svc.to_dict())
        return rv

    async def run(self, rv: str) -> None:
        # The httpx client behind lightkube's (as metallb.k8s.source uses it).
        http: httpx2.AsyncClient = self.client._client._client
        while True:
            request = self._lw.watch_request(rv, 3600)
            response = await http.send(request, stream=True)
            try:
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    rv = obj["metadata"].get("resourceVersion") or rv
                    if event["type"] == "ERROR":
                        raise RuntimeError(f"watch error: {obj}")
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self.modified += event["type"] == "MODIFIED"
                        self.last_event = time.monotonic()
                        self._update(obj)
            finally:
                await response.aclose()

    async def quiet(self, seconds: float, limit: float = 600) -> None:
        """Wait until no event arrived for ``seconds`` (at most ``limit`` seconds)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_event >= seconds:
                return
            await asyncio.sleep(0.2)


class EventWatch(ServiceWatch):
    """Follows the Events of one namespace: creates (ADDED), patches (MODIFIED) and, per
    object, the Service and reason it is about."""

    resource = Event

    def __init__(self, client: AsyncClient, namespace: str) -> None:
        super().__init__(client, namespace, expect=0)
        self.about: dict[str, tuple[str, str]] = {}
        self.added = 0

    def _update(self, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] not in self.about:
            self.added += 1
        involved = obj.get("involvedObject") or {}
        self.about[obj["metadata"]["name"]] = (involved.get("name", ""), obj.get("reason", ""))

    def emit(self, n: int, phase: str, status_writes: int, since: tuple[int, int]) -> None:
        """Figures for the writes since ``since`` (an earlier :meth:`mark`)."""
        added, modified = self.added - since[0], self.modified - since[1]
        per = 1000 / n
        emit("event_objects_per_1000", len(self.about) * per, "objects", services=n, phase=phase)
        emit("event_writes_per_1000", (added + modified) * per, "writes", services=n, phase=phase)
        emit(
            "api_writes_per_1000",
            (added + modified + status_writes) * per,
            "writes",
            services=n,
            phase=phase,
        )
        per_reason: dict[tuple[str, str], int] = {}
        for key in self.about.values():
            per_reason[key] = per_reason.get(key, 0) + 1
        emit(
            "max_event_objects_per_service_reason",
            max(per_reason.values(), default=0),
            "objects",
            services=n,
            phase=phase,
        )

    def mark(self) -> tuple[int, int]:
        return self.added, self.modified


# -- the controller process -------------------------------------------------------------
def _http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except OSError as err:
        code = getattr(err, "code", 0)
        return int(code or 0), str(err)


def metric_value(text: str, name: str) -> float:
    """The value of an unlabelled sample ``name`` in a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


class ControllerProcess(Daemon):
    """The controller under test; started without waiting, so readiness can be timed."""

    def __init__(self, kubeconfig: Path, log: Path) -> None:
        self.metrics_port, self.health_port = free_port(), free_port()
        argv = [
            sys.executable,
            "-m",
            "metallb.cli.main",
            "controller",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={NS}",
            f"--port={self.metrics_port}",
            f"--health-probe-port={self.health_port}",
            "--webhook-mode=disabled",
            "--log-level=info",
        ]
        super().__init__("controller", argv, log)
        self.metrics_token = ""  # set before metrics() is used

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def wait_ready(self, limit: float = 900) -> float:
        """Seconds from now until /readyz answers 200."""
        started = time.perf_counter()
        url = f"http://127.0.0.1:{self.health_port}/readyz"
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"controller exited {self.proc.returncode}; see {self.log}")
            status, _ = await asyncio.to_thread(_http_get, url)
            if status == 200:
                return time.perf_counter() - started
            if time.perf_counter() - started > limit:
                raise RuntimeError(f"controller not ready in {limit} s; see {self.log}")
            await asyncio.sleep(0.05)

    async def metrics(self) -> str:
        # HTTPS, for a token allowed to get /metrics (metallb.web.metrics_auth).
        url = f"https://127.0.0.1:{self.metrics_port}/metrics"
        return await asyncio.to_thread(fetch_metrics, url, self.metrics_token, 10)

    async def settled(self, every: float = 1.0, limit: float = 600) -> float:
        """Wait until the reconcile counter stops moving; return it."""
        deadline = time.monotonic() + limit
        last = -1.0
        while True:
            now = metric_value(await self.metrics(), "metallb_k8s_client_updates_total")
            if now == last or time.monotonic() > deadline:
                return now
            last = now
            await asyncio.sleep(every)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


# -- setup ------------------------------------------------------------------------------
def kubectl(cp: ControlPlane, *args: str) -> None:
    subprocess.run(
        [KUBECTL, f"--kubeconfig={cp.kubeconfig}", *args],
        check=True,
        capture_output=True,
        timeout=180,
    )


def install_metallb(cp: ControlPlane) -> None:
    """Namespace, the controller's RBAC and the CRDs, from deploy/ unchanged."""
    kubectl(cp, "apply", "-f", str(REPO / "deploy" / "namespace.yaml"))
    kubectl(cp, "apply", "-f", str(REPO / "deploy" / "controller" / "rbac.yaml"))
    kubectl(cp, "apply", "-k", str(REPO / "deploy" / "crds"))
    kubectl(
        cp,
        "wait",
        "--for=condition=Established",
        "--timeout=120s",
        "crd/ipaddresspools.metallb.io",
        "crd/communities.metallb.io",
        "crd/configurationstates.metallb.io",
    )


async def controller_kubeconfig(cp: ControlPlane, client: AsyncClient) -> Path:
    req = await client.create(
        ServiceAccount.Token(
            metadata=ObjectMeta(name="controller", namespace=NS),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=86400),
        ),
        "controller",
        namespace=NS,
    )
    assert req.status is not None
    assert req.status.token
    return cp.token_kubeconfig("metallb-controller", req.status.token)


def changed(before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]) -> int:
    keys: Iterable[str] = before.keys() | after.keys()
    return sum(1 for k in keys if before.get(k) != after.get(k))


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
    kubeconfig = await controller_kubeconfig(cp, client)
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


def bench_main(
    doc: str | None,
    services: int,
    prefix: str,
    scenario: Callable[[ControlPlane, int, Path], Coroutine[Any, Any, None]],
) -> None:
    """Parse ``--services`` (default ``services``) and ``--log-dir``, start a control plane
    with MetalLB's namespace, RBAC and CRDs, and run ``scenario`` in it."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--services", type=int, default=services)
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the controller's log here")
    args = parser.parse_args()
    progress("starting the control plane")
    with (
        ControlPlane(Binaries.locate(), controllers=()) as cp,
        tempfile.TemporaryDirectory(prefix=prefix) as tmp,
    ):
        install_metallb(cp)
        workdir = args.log_dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        asyncio.run(scenario(cp, args.services, workdir))


def main() -> None:
    bench_main(__doc__, 10_000, "bench-controller-", run)


if __name__ == "__main__":
    main()
