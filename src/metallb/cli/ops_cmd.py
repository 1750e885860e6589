"""``metallb explain``, ``status`` and ``doctor``: read the cluster, print findings."""

from __future__ import annotations

import argparse
import os
import sys

from lightkube import ApiError, Client, KubeConfig
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.core_v1 import ConfigMap, Secret

from metallb.k8s.snapshot import read_cluster
from metallb.plan.doctor import Facts, doctor
from metallb.plan.explain import Finding, Level, explain

MARK = {Level.OK: "ok   ", Level.INFO: "info ", Level.WARN: "WARN ", Level.ERROR: "ERROR"}


def add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--namespace",
        default=os.environ.get("METALLB_NAMESPACE", "metallb-system"),
        help="the MetalLB namespace",
    )
    p.add_argument("--lb-class", default="", help="the loadBalancerClass MetalLB serves")


def _client(args: argparse.Namespace) -> Client:
    config = KubeConfig.from_file(args.kubeconfig) if args.kubeconfig else KubeConfig.from_env()
    return Client(config=config)


def _print(findings: list[Finding]) -> int:
    for f in findings:
        lines = f.text.splitlines() or [""]
        print(f"{MARK[f.level]} {lines[0]}")
        for line in lines[1:]:
            print(f"      {line}")
    return 1 if any(f.level is Level.ERROR for f in findings) else 0


def run_explain(args: argparse.Namespace) -> int:
    words = [w for w in args.words if w not in ("service", "svc")]
    if len(words) != 1:
        print("usage: metallb explain [service] NAMESPACE/NAME", file=sys.stderr)
        return 2
    ns, _, name = words[0].rpartition("/")
    snap = read_cluster(_client(args), args.namespace)
    bgp_type = os.environ.get("METALLB_BGP_TYPE", "") or "native"
    return _print(
        explain(
            ns or "default",
            name,
            objects=snap.objects,
            statuses=snap.statuses,
            events=snap.events,
            lb_class=args.lb_class,
            bgp_type=bgp_type,
        )
    )


def run_doctor(args: argparse.Namespace) -> int:
    client = _client(args)
    snap = read_cluster(client, args.namespace)
    try:
        vwc = client.get(ValidatingWebhookConfiguration, "metallb-webhook-configuration")
        webhook = vwc.to_dict()
    except ApiError as err:
        if err.status.code != 404:
            raise
        webhook = None
    try:
        cm = client.get(ConfigMap, "kube-proxy", namespace="kube-system")
        proxy = (cm.data or {}).get("config.conf")
    except ApiError:
        proxy = None
    try:
        client.get(Secret, "memberlist", namespace=args.namespace)
        memberlist = True
    except ApiError:
        memberlist = False
    facts = Facts(
        objects=snap.objects,
        statuses=snap.statuses,
        missing_kinds=snap.missing,
        webhook_configuration=webhook,
        kube_proxy_config=proxy,
        memberlist_secret=memberlist,
        lb_class=args.lb_class,
    )
    return _print(doctor(facts, bgp_type=os.environ.get("METALLB_BGP_TYPE", "") or "native"))


def run_status(args: argparse.Namespace) -> int:
    """Pools with their counters, then every LoadBalancer Service with IP and announcer."""
    snap = read_cluster(_client(args), args.namespace)
    if snap.missing:
        print(f"metallb.io CRDs missing: {', '.join(snap.missing)}", file=sys.stderr)
        return 1
    print(f"{'POOL':24} {'ASSIGNED V4':>11} {'AVAILABLE V4':>12} {'ASSIGNED V6':>11}")
    for pool in (o for o in snap.objects if o.get("kind") == "IPAddressPool"):
        st = pool.get("status") or {}
        print(
            f"{pool['metadata']['name']:24} {st.get('assignedIPv4', '-'):>11} "
            f"{st.get('availableIPv4', '-'):>12} {st.get('assignedIPv6', '-'):>11}"
        )
    l2 = {
        (
            (s.get("status") or {}).get("serviceNamespace"),
            (s.get("status") or {}).get("serviceName"),
        ): (s.get("status") or {}).get("node")
        for s in snap.statuses
        if s.get("kind") == "ServiceL2Status"
    }
    print(f"\n{'SERVICE':40} {'IPS':32} {'LAYER2 NODE':16}")
    for svc in (o for o in snap.objects if o.get("kind") == "Service"):
        if (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        meta = svc["metadata"]
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        ips = ",".join(i.get("ip", "") for i in ingress) or "<pending>"
        node = l2.get((meta.get("namespace"), meta.get("name"))) or "-"
        print(f"{meta.get('namespace') + '/' + meta.get('name'):40} {ips:32} {node:16}")
    for state in (s for s in snap.statuses if s.get("kind") == "ConfigurationState"):
        st = state.get("status") or {}
        print(
            f"\nConfigurationState {state['metadata']['name']}: {st.get('result', 'Unknown')}"
            + (f" ({st.get('errorSummary')})" if st.get("errorSummary") else "")
        )
    return 0
