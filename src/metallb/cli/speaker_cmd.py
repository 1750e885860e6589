"""``metallb speaker``: wiring of the Layer 2 announcer, membership, informers and servers.

Membership runs only with both ``--ml-bindaddr`` and ``--ml-labels`` (as upstream);
otherwise every Node counts as a live speaker. The gossip key is the file ``secretkey``
in ``--ml-secret-key-path`` (the mounted ``memberlist`` Secret), used as stored (upstream
reads it the same way, untrimmed: the key must match theirs byte for byte). Upstream
gossips in clear without it; our transport always encrypts, so without a key it uses a
fixed, public one and says so: equivalent to clear text, compatible between our speakers
but not with upstream speakers running without a key.

The health endpoints listen on 127.0.0.1 only (the speaker runs in the host network);
metrics on all addresses over HTTPS, for bearer tokens Kubernetes authorizes, as the
controller's (:func:`metallb.cli.controller_cmd.serve_metrics`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path

import yaml
from aiohttp import web
from lightkube import AsyncClient, KubeConfig
from prometheus_client import CollectorRegistry

from metallb.cli.controller_cmd import (
    namespace_of,
    run_until_stopped,
    serve_http,
    serve_metrics,
    setup_logging,
    stop_on_signals,
    tls_options,
    warn_unapplied,
)
from metallb.config.types import BGPType
from metallb.k8s.speaker import Speaker
from metallb.k8s.speaker_bgp import FRRBGP, BGPDriver
from metallb.k8s.speaker_frrk8s import FRRK8sBGP
from metallb.k8s.speaker_metrics import SpeakerCollector
from metallb.membership import DEFAULT_PORT
from metallb.net.announcer import Announcer
from metallb.net.frr import FRRBackend, FRRTarget
from metallb.net.membership import MembershipNode
from metallb.web.observe import add_health_routes
from metallb.web.tls import TLSOptions

log = logging.getLogger("metallb.speaker")
UNENCRYPTED_KEY = b"metallb-py: no memberlist secret configured"
MEMBERLIST_TUNING = Path("/etc/metallb/memberlist/config.json")  # upstream's override file


def bgp_driver(args: argparse.Namespace, client: AsyncClient, namespace: str) -> BGPDriver | None:
    """The BGP back-end ``METALLB_BGP_TYPE`` asks for; None lets the speaker pick native."""
    if args.bgp_type == BGPType.FRR_K8S.value:
        frrk8s_ns = args.frrk8s_namespace or namespace  # upstream: empty means ours
        # Upstream's secret handling: the Secret's reference goes to frr-k8s when asked
        # to, or when frr-k8s shares our namespace (it can read the Secret there);
        # otherwise the speaker writes the resolved password.
        passthrough = args.frrk8s_secret_passthrough or frrk8s_ns == namespace
        log.info("BGP through frr-k8s: FRRConfiguration in namespace %s", frrk8s_ns)
        return FRRK8sBGP(
            client,
            node_name=args.node_name,
            namespace=frrk8s_ns,
            secret_passthrough=passthrough,
            debounce=args.bgp_debounce_timeout / 1000,
        )
    if args.bgp_type != BGPType.FRR.value:
        return None
    target = FRRTarget(workdir=Path(args.frr_workdir), pathspace=args.frr_pathspace)
    backend = FRRBackend(target, debounce=args.bgp_debounce_timeout / 1000)
    log.info("BGP through FRR (path space %r), files in %s", target.pathspace, target.workdir)
    return FRRBGP(backend, poll=args.frr_status_interval)


def exclude_patterns(path: Path) -> tuple[str, ...]:
    """The interface exclusion regexes from the mounted ``metallb-excludel2`` ConfigMap.

    Without the file nothing is excluded, as upstream (its default list lives only in
    the manifests' ConfigMap, which deploy/ and the chart ship too); said at start-up.
    """
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        log.warning("no %s: Layer 2 answers on every eligible interface", path)
        return ()
    return tuple(str(x) for x in doc.get("announcedInterfacesToExclude") or ())


def read_secret(key_path: str) -> bytes:
    if not key_path:
        log.warning("no --ml-secret-key-path: membership traffic is not confidential")
        return UNENCRYPTED_KEY
    return (Path(key_path) / "secretkey").read_bytes()


async def _main(args: argparse.Namespace, tls: TLSOptions) -> int:
    namespace = namespace_of(args)
    config = KubeConfig.from_file(args.kubeconfig) if args.kubeconfig else KubeConfig.from_env()
    client = AsyncClient(config=config, field_manager="metallb-speaker")
    membership: MembershipNode | None = None
    port = int(args.ml_bindport or DEFAULT_PORT)
    if args.ml_bindaddr and args.ml_labels:
        membership = MembershipNode(
            args.node_name, args.ml_bindaddr, read_secret(args.ml_secret_key_path), port=port
        )
    else:
        log.info("membership disabled: every Node counts as a live speaker")
    stop = stop_on_signals()
    runners: list[web.AppRunner] = []
    speaker_ref: list[Speaker] = []  # the announcer exists before the speaker
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(client.close)
        announcer = await stack.enter_async_context(
            Announcer(
                exclude=exclude_patterns(Path(args.excludel2_file)),
                scan_interval=args.interface_scan_interval,
                # Interfaces came or went: Services that named missing ones try again.
                on_change=lambda: speaker_ref[0].interfaces_changed() if speaker_ref else None,
            )
        )
        if membership is not None:
            # Entered after the announcer, so left first: on SIGTERM the others hear
            # our leave and take over while we still answer ARP.
            await stack.enter_async_context(membership)
        speaker = Speaker(
            client,
            announcer,
            node_name=args.node_name,
            namespace=namespace,
            pod_name=args.pod_name,
            membership=membership,
            ml_labels=args.ml_labels,
            membership_port=port,
            lb_class=args.lb_class,
            ignore_exclude_lb=args.ignore_exclude_lb,
            bgp_type=args.bgp_type,
            bgp_driver=bgp_driver(args, client, namespace),
            secret_passthrough=args.frrk8s_secret_passthrough,
        )
        speaker_ref.append(speaker)
        health = web.Application()
        add_health_routes(health, speaker.ready.is_set)
        if args.health_probe_port:
            runners.append(await serve_http(health, args.health_probe_port, host="127.0.0.1"))
        if args.port:
            registry = CollectorRegistry()
            registry.register(
                SpeakerCollector(speaker, announcer.stats, membership.stats if membership else None)
            )
            names = (args.node_name, "localhost")
            runners.append(await serve_metrics(registry, client, args, tls, names=names))
        for r in runners:
            stack.push_async_callback(r.cleanup)
        await run_until_stopped(speaker.run(), stop)
    return 0


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    if not args.node_name:
        print("metallb speaker: --node-name (or METALLB_NODE_NAME) is required", file=sys.stderr)
        return 2
    args.bgp_type = os.environ.get("METALLB_BGP_TYPE", "") or "native"
    if args.frrk8s_secret_passthrough:
        # Upstream's start-up checks (speaker/main.go).
        if args.bgp_type != BGPType.FRR_K8S.value:
            log.error("--frrk8s-secret-passthrough requires METALLB_BGP_TYPE=frr-k8s")
            return 2
        if not args.frrk8s_namespace:
            log.error("--frrk8s-secret-passthrough requires --frrk8s-namespace to be set")
            return 2
    # Upstream tunes hashicorp memberlist with these; our membership has its own timings
    # (sub-second detection), so say that they are not applied rather than ignore them.
    warn_unapplied(args)
    if args.ml_wan_config:
        log.warning("--ml-wan-config is accepted but not applied: LAN timings are used")
    if MEMBERLIST_TUNING.exists():
        log.warning("%s is not applied: the membership keeps its own timings", MEMBERLIST_TUNING)
    tls = tls_options(args)
    if tls is None:
        return 2
    return asyncio.run(_main(args, tls))
