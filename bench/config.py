"""Configuration benchmark: validation time, CLI start-up, webhook admission latency.

Run ``python -m bench.config [--sizes 100,1000,10000] [--admissions 100]
[--no-apiserver]``. Prints JSON lines ``{"bench": "config", "metric", "value", "unit",
...params}``; never asserts a time (targets: 1,000 pools validated in under
0.5 s, admission p99 under 200 ms at 1,000 pools, ``metallb --version``/``--help`` under
0.3 s).

- ``validate``: :func:`metallb.config.build.build_config` on N pools (one /28 each) and an
  L2Advertisement, best of 3, wall clock and process CPU (the CPU figure is less
  disturbed by other load on a shared machine); ``cache=cold`` parses every address
  anew (a CLI run), ``cache=warm`` validates pools seen before (the webhook, the
  controller).
- ``cli_validate``: ``metallb config validate -f FILE`` on the same N pools, start-up
  included, median of 3.
- ``startup``: ``metallb --version``, ``metallb --help``, ``metallb config validate
  --help``, median of 5 runs each.
- ``admission``: the real kube-apiserver of the test control plane (``make setup``
  builds it), the metallb.io CRDs of deploy/crds, and the webhook served by this
  process's code on loopback as the controller serves it (listing the namespace's pools
  from the API on every request, as upstream). With N pools stored, each of M dry-run
  creations of one more pool goes through the webhook; p50/p99 of the round trip seen by
  the client, and the same creations without the webhook as the anchor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from lightkube import ApiError

from metallb.config.addresses import parse_addresses
from metallb.config.build import build_config

NAMESPACE = "metallb-system"
REPO = Path(__file__).resolve().parents[1]
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
METALLB = [sys.executable, "-m", "metallb.cli.main"]


def emit(metric: str, value: float, unit: str, **params: object) -> None:
    print(
        json.dumps(
            {"bench": "config", "metric": metric, "value": round(value, 4), "unit": unit, **params}
        ),
        flush=True,
    )


def pool_cidr(i: int) -> str:
    """The i-th /28 of 10.0.0.0/8: distinct, non-overlapping pools."""
    return f"10.{(i >> 12) & 255}.{(i >> 4) & 255}.{(i & 15) << 4}/28"


def pool(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": f"pool-{i}", "namespace": NAMESPACE},
        "spec": {"addresses": [pool_cidr(i)]},
    }


def objects(n: int) -> list[dict[str, Any]]:
    l2 = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": "all", "namespace": NAMESPACE},
    }
    return [*(pool(i) for i in range(n)), l2]


def bench_validate(sizes: list[int]) -> None:
    """Cold: nothing parsed before (a CLI run). Warm: the same pools validated again, as
    the webhook and the controller do on every admission and change."""
    for n in sizes:
        objs = objects(n)
        for cache in ("cold", "warm"):
            walls, cpus = [], []
            for _ in range(3):
                if cache == "cold":
                    parse_addresses.cache_clear()
                w, c = time.perf_counter(), time.process_time()
                config = build_config(objs, namespace=NAMESPACE)
                walls.append(time.perf_counter() - w)
                cpus.append(time.process_time() - c)
                assert len(config.pools) == n
            emit("validate_wall", min(walls), "s", pools=n, cache=cache)
            emit("validate_cpu", min(cpus), "s", pools=n, cache=cache)


def _median_run(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, timeout=600)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_cli(sizes: list[int]) -> None:
    for args in (["--version"], ["--help"], ["config", "validate", "--help"]):
        emit("startup", _median_run([*METALLB, *args], 5), "s", command=" ".join(args))
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            f = Path(tmp) / f"pools-{n}.yaml"
            f.write_text(yaml.safe_dump_all(objects(n)))
            value = _median_run([*METALLB, "config", "validate", "-f", str(f)], 3)
            emit("cli_validate", value, "s", pools=n)


# --- admission through the real apiserver -------------------------------------------


@contextmanager
def webhook_server(kubeconfig: Path, workdir: Path) -> Iterator[tuple[int, bytes]]:
    """The validating webhook, served from a thread with its own event loop (so the
    measuring client does not share it); yields its port and CA certificate."""
    from lightkube import AsyncClient, KubeConfig  # noqa: PLC0415 - only admission needs these

    from metallb.lab.ports import free_port  # noqa: PLC0415
    from metallb.lab.webhooks import local_webhook_server  # noqa: PLC0415

    port = free_port()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        client = AsyncClient(config=KubeConfig.from_file(str(kubeconfig)))
        async with local_webhook_server(client, NAMESPACE, workdir, port) as ca:
            stop = asyncio.Event()
            state.update(ca=ca, loop=asyncio.get_running_loop(), stop=stop)
            ready.set()
            await stop.wait()
        await client.close()

    def run() -> None:
        try:
            asyncio.run(serve())
        except Exception as exc:  # reported by the main thread
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(60) or "error" in state:
        raise RuntimeError(f"the webhook server did not start: {state.get('error')}")
    try:
        yield port, state["ca"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)


def _latencies(create: Callable[[int], None], count: int) -> tuple[list[float], int]:
    """Round trips of ``count`` requests, and how many the apiserver refused (a webhook
    slower than its 10 s timeout is one)."""
    out, failures = [], 0
    for k in range(count):
        start = time.perf_counter()
        try:
            create(k)
        except ApiError:
            failures += 1
        out.append(time.perf_counter() - start)
    return out, failures


def _emit_latencies(metric: str, measured: tuple[list[float], int], **params: object) -> None:
    values, failures = sorted(measured[0]), measured[1]
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    emit(f"{metric}_p50", statistics.median(values) * 1000, "ms", **params)
    emit(f"{metric}_p99", p99 * 1000, "ms", **params)
    emit(f"{metric}_failures", failures, "requests", requests=len(values), **params)


def bench_admission(sizes: list[int], admissions: int) -> None:
    from lightkube import Client, KubeConfig  # noqa: PLC0415
    from lightkube.generic_resource import create_namespaced_resource  # noqa: PLC0415
    from lightkube.models.meta_v1 import ObjectMeta  # noqa: PLC0415
    from lightkube.resources.admissionregistration_v1 import (  # noqa: PLC0415
        ValidatingWebhookConfiguration,
    )
    from lightkube.resources.core_v1 import Namespace  # noqa: PLC0415

    from metallb.lab.controlplane import Binaries, ControlPlane  # noqa: PLC0415
    from metallb.lab.webhooks import local_configuration  # noqa: PLC0415

    pool_res = create_namespaced_resource(
        "metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools"
    )

    def new_pool(name: str, cidr: str) -> Any:
        return pool_res(
            metadata=ObjectMeta(name=name, namespace=NAMESPACE), spec={"addresses": [cidr]}
        )

    with ControlPlane(Binaries.locate()) as cp, tempfile.TemporaryDirectory() as tmp:
        kubectl = [KUBECTL, f"--kubeconfig={cp.kubeconfig}"]
        subprocess.run(
            [*kubectl, "apply", "-k", str(REPO / "deploy" / "crds")],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s"],
            check=True,
            capture_output=True,
            timeout=180,
        )
        client = Client(config=KubeConfig.from_file(str(cp.kubeconfig)))
        client.create(Namespace(metadata=ObjectMeta(name=NAMESPACE)))

        def dry_run_create(k: int) -> None:
            # One more pool, outside 10.0.0.0/8; dry run: admitted, checked, not stored.
            client.create(new_pool(f"probe-{k}", f"172.16.{k % 256}.0/28"), dry_run=True)

        with webhook_server(cp.kubeconfig, Path(tmp)) as (port, ca):
            stored = 0
            for n in sizes:
                while stored < n:  # stored without the webhook: loading is not measured
                    client.create(new_pool(f"pool-{stored}", pool_cidr(stored)))
                    stored += 1
                _emit_latencies(
                    "create_without_webhook", _latencies(dry_run_create, admissions), pools=n
                )
                name = "metallb-bench-webhook"
                client.create(local_configuration(name, port, namespace=NAMESPACE, ca=ca))
                try:
                    _wait_enforced(client, new_pool)
                    _emit_latencies("admission", _latencies(dry_run_create, admissions), pools=n)
                finally:
                    client.delete(ValidatingWebhookConfiguration, name)
                    _wait_not_enforced(client, new_pool)


def _wait_enforced(client: Any, new_pool: Callable[[str, str], Any]) -> None:
    """The apiserver learns of a webhook configuration through an informer."""
    for _ in range(300):
        try:
            client.create(new_pool("probe", "192.0.2.999/32"), dry_run=True)
        except ApiError as err:
            text = err.status.message or ""
            # Refused, or the webhook too slow to answer in time: either way it is called.
            if "denied the request" in text or "failed calling webhook" in text:
                return
            raise
        time.sleep(0.1)
    raise RuntimeError("the webhook configuration never took effect")


def _wait_not_enforced(client: Any, new_pool: Callable[[str, str], Any]) -> None:
    for _ in range(300):
        try:
            client.create(new_pool("probe", "192.0.2.999/32"), dry_run=True)
        except ApiError:
            time.sleep(0.1)
            continue
        return
    raise RuntimeError("the webhook configuration never went away")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,1000,10000", help="pool counts, comma-separated")
    parser.add_argument("--admissions", type=int, default=100, help="requests per size")
    parser.add_argument("--no-apiserver", action="store_true", help="skip the admission part")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    os.environ.pop("METALLB_BGP_TYPE", None)
    bench_validate(sizes)
    bench_cli(sizes)
    if not args.no_apiserver:
        bench_admission(sizes, args.admissions)


if __name__ == "__main__":
    main()
