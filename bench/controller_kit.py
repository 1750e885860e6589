"""What the controller benchmarks share: the controller as a process on the real
apiserver, MetalLB installed from deploy/, Services created in bursts, and watches that
count what the controller wrote. Used by :mod:`bench.controller` and
:mod:`bench.faults_controller`.
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
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Event, Service
from lightkube.types import PatchType

from metallb.k8s.scrape import fetch_metrics
from metallb.k8s.source import LightkubeListWatch
from metallb.lab.controlplane import Binaries, ControlPlane
from metallb.lab.daemon import Daemon
from metallb.lab.ports import free_port
from metallb.lab.tokens import service_account_token

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


def controller_kubeconfig(cp: ControlPlane) -> Path:
    """A kubeconfig with a token of the controller's ServiceAccount (its RBAC from deploy/)."""
    kube = Client(config=KubeConfig.from_file(str(cp.kubeconfig)))
    try:
        return cp.token_kubeconfig(
            "metallb-controller", service_account_token(kube, "controller", NS)
        )
    finally:
        kube.close()


def changed(before: dict[str, tuple[str, ...]], after: dict[str, tuple[str, ...]]) -> int:
    keys: Iterable[str] = before.keys() | after.keys()
    return sum(1 for k in keys if before.get(k) != after.get(k))


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
