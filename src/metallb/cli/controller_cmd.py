"""``metallb controller``: wiring of the controller, webhook, health and metrics servers."""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import secrets
import signal
import ssl
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from aiohttp import web
from lightkube import ApiError, AsyncClient, KubeConfig
from lightkube.models.meta_v1 import ObjectMeta, OwnerReference
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Secret
from prometheus_client import CollectorRegistry

from metallb.k8s.controller import Controller
from metallb.k8s.startup import until_done
from metallb.k8s.webhook_setup import api_lister, ensure_serving_certificate, inject_ca_bundle
from metallb.web.metrics_auth import auth_middleware, kube_reviewer
from metallb.web.observe import ControllerCollector, add_health_routes, add_metrics_route
from metallb.web.pki import write_pair
from metallb.web.tls import (
    TLSOptionError,
    TLSOptions,
    metrics_ssl_context,
    parse_tls_options,
    server_ssl_context,
)
from metallb.web.webhook import add_webhook_routes

log = logging.getLogger("metallb.controller")
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
LOG_LEVELS = {
    "all": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "none": logging.CRITICAL + 1,
}


def namespace_of(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    try:
        return SA_NAMESPACE_FILE.read_text().strip()
    except OSError:
        return "metallb-system"


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=LOG_LEVELS.get(level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def make_client(kubeconfig: str) -> AsyncClient:
    config = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    return AsyncClient(config=config, field_manager="metallb-controller")


def stop_on_signals() -> asyncio.Event:
    """An event SIGTERM or SIGINT sets (installed now, so a signal during start-up is
    not lost)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_until_stopped(work: Coroutine[Any, Any, object], stop: asyncio.Event) -> None:
    """Run ``work`` until it ends (its error is raised) or ``stop`` is set; either way
    the other is cancelled and awaited. Shared by the controller and the speaker."""
    task = asyncio.create_task(work)
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task in done and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    finally:
        for t in (task, stopper):
            t.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)


async def ensure_memberlist_secret(
    client: AsyncClient, namespace: str, name: str, deployment: str
) -> None:
    """Create the speakers' gossip key Secret if absent (upstream --ml-secret-name)."""
    try:
        await client.get(Secret, name, namespace=namespace)
        return
    except ApiError as err:
        if err.status.code != 404:
            raise
    owners = None
    if deployment:
        dep = await client.get(Deployment, deployment, namespace=namespace)
        if dep.metadata and dep.metadata.uid:
            owners = [
                OwnerReference(
                    apiVersion="apps/v1", kind="Deployment", name=deployment, uid=dep.metadata.uid
                )
            ]
    key = base64.b64encode(secrets.token_bytes(128))
    try:
        await client.create(
            Secret(
                metadata=ObjectMeta(name=name, namespace=namespace, ownerReferences=owners),
                data={"secretkey": base64.b64encode(key).decode()},
            )
        )
    except ApiError as err:
        # Another controller (a rollout's new Pod) created it first: use that one.
        if err.status.code == 409:
            return
        raise
    log.info("created memberlist Secret %s/%s", namespace, name)


async def serve_http(
    app: web.Application,
    port: int,
    ssl_context: ssl.SSLContext | None = None,
    host: str = "0.0.0.0",
) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # All addresses by default, as upstream: probes and scrapes come from the node and
    # the network (the speaker's health port is the exception: loopback only).
    await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    return runner


# Flags upstream has that change nothing here, and why; set, each says so once.
UNAPPLIED = {
    "pprof_bind_address": "--pprof-bind-address: there is no pprof in Python; not applied",
    "webhook_http2": "--webhook-http2: the webhook serves HTTP/1.1 only (aiohttp); not applied",
    "host": "--host (METALLB_HOST): deprecated upstream and ignored, as there",
}


def warn_unapplied(args: argparse.Namespace) -> list[str]:
    """Log one warning per accepted-but-unapplied flag that is set; the warnings."""
    said = [text for name, text in UNAPPLIED.items() if getattr(args, name, None)]
    for text in said:
        log.warning("%s", text)
    return said


def tls_options(args: argparse.Namespace) -> TLSOptions | None:
    """The TLS flags, checked; None (after saying why on stderr) when one is wrong."""
    try:
        return parse_tls_options(
            args.tls_min_version, args.tls_cipher_suites, args.tls_curve_preferences
        )
    except TLSOptionError as err:
        print(f"metallb: {err}", file=sys.stderr)
        return None


async def serve_metrics(
    registry: CollectorRegistry,
    client: AsyncClient,
    args: argparse.Namespace,
    tls: TLSOptions,
    *,
    host: str = "0.0.0.0",
    names: tuple[str, ...] = ("localhost",),
) -> web.AppRunner:
    """``/metrics`` over HTTPS on ``args.port``, readable with a bearer token that
    Kubernetes authorizes for ``get`` on ``/metrics`` (:mod:`metallb.web.metrics_auth`),
    as upstream's secure metrics server."""
    app = web.Application(middlewares=[auth_middleware(kube_reviewer(client))])
    add_metrics_route(app, registry)
    ctx = metrics_ssl_context(args.metrics_cert_dir, tls, names)
    runner = await serve_http(app, args.port, ssl_context=ctx, host=host)
    log.info("metrics serving on https://%s:%d/metrics (bearer token required)", host, args.port)
    return runner


async def _main(args: argparse.Namespace, tls_opts: TLSOptions) -> int:
    namespace = namespace_of(args)
    bgp_type = os.environ.get("METALLB_BGP_TYPE", "") or "native"
    client = make_client(args.kubeconfig)
    controller = Controller(
        client,
        namespace=namespace,
        lb_class=args.lb_class,
        bgp_type=bgp_type,
        pod_name=args.pod_name,
    )
    runners: list[web.AppRunner] = []
    if args.ml_secret_name:
        await until_done(
            "memberlist Secret",
            lambda: ensure_memberlist_secret(
                client, namespace, args.ml_secret_name, args.deployment
            ),
        )
    if args.webhook_mode in ("enabled", "onlywebhook"):
        dns = (
            f"{args.cert_service_name}.{namespace}.svc",
            f"{args.cert_service_name}.{namespace}.svc.cluster.local",
        )
        ips = tuple(i for i in args.webhook_cert_ips.split(",") if i)
        ca, tls = await until_done(
            "webhook certificate",
            lambda: ensure_serving_certificate(
                client,
                namespace=namespace,
                secret_name=args.webhook_secret,
                dns_names=dns,
                ip_addresses=ips,
            ),
        )
        cert_dir = Path(args.cert_dir)
        cert_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start-up
        files = write_pair(cert_dir, "tls", tls)
        if not args.disable_cert_rotation:
            try:
                await inject_ca_bundle(client, ca)
            except ApiError as err:
                log.warning("webhook: caBundle not injected: %s", err.status.message)
        app = web.Application()
        add_webhook_routes(
            app, api_lister(client, namespace), namespace=namespace, bgp_type=bgp_type
        )
        ctx = server_ssl_context(files.cert, files.key, tls_opts)
        runners.append(await serve_http(app, args.webhook_port, ssl_context=ctx))
        log.info("webhook serving on :%d", args.webhook_port)
    only_webhook = args.webhook_mode == "onlywebhook"
    health = web.Application()
    add_health_routes(health, lambda: only_webhook or controller.ready.is_set())
    if args.health_probe_port:
        runners.append(await serve_http(health, args.health_probe_port))
    if args.port:
        registry = CollectorRegistry()
        registry.register(ControllerCollector(controller.stats))
        names = tuple(n for n in (args.pod_name, "localhost") if n)
        runners.append(await serve_metrics(registry, client, args, tls_opts, names=names))
    stop = stop_on_signals()
    try:
        await run_until_stopped(stop.wait() if only_webhook else controller.run(), stop)
    finally:
        for r in runners:
            await r.cleanup()
        await client.close()
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    if args.webhook_mode not in ("enabled", "disabled", "onlywebhook"):
        print(f"invalid --webhook-mode {args.webhook_mode!r}", file=sys.stderr)
        return 2
    warn_unapplied(args)
    tls = tls_options(args)
    if tls is None:
        return 2
    return asyncio.run(_main(args, tls))
