"""``metallb explain``, ``status`` and ``doctor``: read the cluster, print findings.

The reading (API objects, a dry-run create, the speakers' metrics, this machine's
sysctls) happens here and in :mod:`metallb.k8s.snapshot` / :mod:`metallb.k8s.scrape`;
every judgement is in the pure :mod:`metallb.plan` modules.
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx  # lightkube's HTTP client
import yaml
from lightkube import ApiError, Client, KubeConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.admissionregistration_v1 import ValidatingWebhookConfiguration
from lightkube.resources.core_v1 import ConfigMap, Secret

from metallb.config.types import BGPType
from metallb.k8s.scrape import scrape_speakers
from metallb.k8s.snapshot import read_cluster
from metallb.plan.doctor import Facts, doctor
from metallb.plan.doctor_checks import ARP_ANNOUNCE, ARP_IGNORE, NodeFacts
from metallb.plan.explain import Finding, Level, explain
from metallb.plan.status import render

MARK = {Level.OK: "ok   ", Level.INFO: "info ", Level.WARN: "WARN ", Level.ERROR: "ERROR"}
EXCLUDE_CONFIGMAP, EXCLUDE_KEY = "metallb-excludel2", "excludel2.yaml"
PROC_CONF = Path("/proc/sys/net/ipv4/conf")
NETNS_DIR = Path("/run/netns")  # where `ip netns add` binds named network namespaces
DRY_RUN_POOL = "metallb-doctor-dry-run"
_Pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")


Command = Callable[[argparse.Namespace], int]


def _client(args: argparse.Namespace) -> Client:
    config = KubeConfig.from_file(args.kubeconfig) if args.kubeconfig else KubeConfig.from_env()
    return Client(config=config)


def _kubeconfig_token(args: argparse.Namespace) -> str | None:
    """The bearer token of the kubeconfig's user, when it authenticates with one."""
    config = KubeConfig.from_file(args.kubeconfig) if args.kubeconfig else KubeConfig.from_env()
    single = config.get()
    user = single.user if single is not None else None
    return user.token if user is not None and user.token else None


def _which_kubeconfig(args: argparse.Namespace) -> str:
    return args.kubeconfig or "~/.kube/config (no --kubeconfig, KUBECONFIG unset)"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _failure(exc: BaseException, where: str) -> str | None:
    """One line for a failure to reach the cluster; None for anything else (a bug)."""
    if isinstance(exc, LightkubeConfigError):
        return f"cannot use the kubeconfig {where}: {_one_line(exc)}; " + (
            "pass --kubeconfig FILE or set KUBECONFIG"
        )
    if isinstance(exc, httpx.TransportError | ssl.SSLError | ConnectionError | TimeoutError):
        return (
            f"cannot reach the Kubernetes API (kubeconfig {where}): {_one_line(exc)}; "
            "check that the cluster is up and the kubeconfig's server address"
        )
    if isinstance(exc, ApiError):
        return (
            f"the Kubernetes API refused: {_one_line(exc.status.message or exc)}; "
            f"check the credentials and permissions in the kubeconfig {where}"
        )
    if isinstance(exc, yaml.YAMLError | OSError | ValueError | KeyError | TypeError):
        return (
            f"cannot read the kubeconfig {where}: {_one_line(exc)}; "
            "check the file, or pass another with --kubeconfig"
        )
    return None


def cluster_command(run: Command) -> Command:
    """Run a command that talks to a cluster; turn every way of not reaching it into one
    line on stderr (which kubeconfig, what failed, what to do) and exit 1."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except Exception as exc:
            line = _failure(exc, _which_kubeconfig(args))
            if line is None:
                raise
            print(f"error: {line}", file=sys.stderr)
            return 1

    return wrapped


def _print(findings: list[Finding]) -> int:
    for f in findings:
        lines = f.text.splitlines() or [""]
        print(f"{MARK[f.level]} {lines[0]}")
        for line in lines[1:]:
            print(f"      {line}")
    return 1 if any(f.level is Level.ERROR for f in findings) else 0


def _bgp_type() -> str:
    return os.environ.get("METALLB_BGP_TYPE", "") or "native"


@cluster_command
def run_explain(args: argparse.Namespace) -> int:
    words = [w for w in args.words if w not in ("service", "svc")]
    if len(words) != 1:
        print("usage: metallb explain [service] NAMESPACE/NAME", file=sys.stderr)
        return 2
    ns, _, name = words[0].rpartition("/")
    snap = read_cluster(_client(args), args.namespace)
    return _print(
        explain(
            ns or "default",
            name,
            objects=snap.objects,
            statuses=snap.statuses,
            events=snap.events,
            speaker_pods=snap.speaker_pods,
            lb_class=args.lb_class,
            bgp_type=_bgp_type(),
        )
    )


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def read_node_facts(conf: Path = PROC_CONF) -> NodeFacts:
    """This network namespace's ARP sysctls and interfaces (from /proc/sys/net/ipv4/conf,
    which lists the interfaces of the namespace the process runs in)."""
    sysctls: dict[str, dict[str, int]] = {}
    names = sorted(p.name for p in conf.iterdir()) if conf.is_dir() else []
    for name in names:
        values = {k: _read_int(conf / name / k) for k in (ARP_IGNORE, ARP_ANNOUNCE)}
        sysctls[name] = {k: v for k, v in values.items() if v is not None}
    ifaces = tuple(n for n in names if n not in ("all", "default"))
    return NodeFacts(_where(), sysctls, ifaces)


def _where() -> str:
    """A name for the place the node checks ran: the node name if the environment gives
    one, else the host name, plus the named network namespace if the process is in one
    (under `ip netns exec` the host name is the machine's, not the node's)."""
    name = os.environ.get("METALLB_NODE_NAME") or os.environ.get("NODE_NAME")
    name = name or socket.gethostname()
    try:
        mine = os.stat("/proc/self/ns/net")
        named = sorted(NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
        for path in named:
            st = path.stat()
            if (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino):
                return f"{name}, network namespace {path.name}"
    except OSError:
        pass
    return name


def _exclusions(client: Client, namespace: str) -> tuple[list[str], str]:
    """The speakers' interface exclusion regexes and where they come from."""
    try:
        cm = client.get(ConfigMap, EXCLUDE_CONFIGMAP, namespace=namespace)
    except ApiError as err:
        if err.status.code != 404:
            raise
        # The speakers then exclude nothing (as upstream: the default list is only in
        # the shipped ConfigMap).
        return [], f"no ConfigMap {namespace}/{EXCLUDE_CONFIGMAP}: nothing excluded"
    source = f"ConfigMap {namespace}/{EXCLUDE_CONFIGMAP}"
    try:
        doc = yaml.safe_load((cm.data or {}).get(EXCLUDE_KEY) or "") or {}
    except yaml.YAMLError:
        doc = {}
    patterns = doc.get("announcedInterfacesToExclude") if isinstance(doc, dict) else None
    return [str(p) for p in patterns or ()], source


def _dry_run(client: Client, namespace: str) -> str:
    """ "" when a harmless IPAddressPool passes admission (not stored), else the message."""
    pool = _Pool(
        metadata=ObjectMeta(name=DRY_RUN_POOL, namespace=namespace),
        # A documentation address, never assigned: dry-run stores nothing anyway.
        spec={"addresses": ["203.0.113.255/32"], "autoAssign": False},
    )
    try:
        client.create(pool, dry_run=True)
    except ApiError as err:
        if err.status.code == 409:  # exists already: admission was not reached, but harmless
            return ""
        return str(err.status.message or err)
    return ""


@cluster_command
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
    patterns, source = _exclusions(client, args.namespace)
    facts = Facts(
        objects=snap.objects,
        statuses=snap.statuses,
        missing_kinds=snap.missing,
        frr_node_states=snap.frr_node_states,
        webhook_configuration=webhook,
        kube_proxy_config=proxy,
        memberlist_secret=memberlist,
        lb_class=args.lb_class,
        namespace=args.namespace,
        webhook_dry_run=None if snap.missing else _dry_run(client, args.namespace),
        speaker_pods=snap.speaker_pods,
        speaker_daemonsets=snap.speaker_daemonsets,
        exclude_patterns=patterns,
        exclude_source=source,
        node=read_node_facts() if args.node else None,
    )
    return _print(doctor(facts, bgp_type=_bgp_type()))


@cluster_command
def run_status(args: argparse.Namespace) -> int:
    """Pools, Services, announcements per node, and the speakers' BGP sessions."""
    snap = read_cluster(_client(args), args.namespace)
    if snap.missing:
        print(f"metallb.io CRDs missing: {', '.join(snap.missing)}", file=sys.stderr)
        return 1
    scrapes, states = None, None
    if _bgp_type() == BGPType.FRR_K8S.value:
        # The speakers hold no BGP session in frr-k8s mode: frr-k8s reports them.
        states = snap.bgp_session_states or []
    elif snap.speaker_pods is not None:
        token = args.metrics_token or _kubeconfig_token(args)
        scrapes = scrape_speakers(snap.speaker_pods, args.metrics_port, args.scrape_timeout, token)
    for line in render(snap.objects, snap.statuses, scrapes, states):
        print(line)
    return 0
