"""The ``metallb`` command's arguments: every subcommand, flag and default, and nothing else.

Building the parser imports no subcommand: each names its handler as
``"module:function"`` inside :mod:`metallb.cli`, imported only when that subcommand
runs, so ``metallb --version`` and ``--help`` start in a fraction of the time importing
the daemons (aiohttp, lightkube, pyroute2, pydantic) takes.
"""

from __future__ import annotations

import argparse
import os

from metallb import __version__

LOG_LEVELS = ("all", "debug", "info", "warn", "error", "none")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _add_common_daemon_flags(p: argparse.ArgumentParser) -> None:
    """Flags shared by the controller and the speaker, with upstream's names and defaults."""
    p.add_argument(
        "--namespace",
        default=_env("METALLB_NAMESPACE"),
        help="namespace holding the MetalLB resources "
        "(env METALLB_NAMESPACE, else the service-account namespace)",
    )
    p.add_argument(
        "--pod-name",
        default=_env("METALLB_POD_NAME"),
        help="this pod's name (env METALLB_POD_NAME)",
    )
    p.add_argument("--port", type=int, default=9120, help="HTTPS metrics port, 0 disables")
    p.add_argument(
        "--health-probe-port", type=int, default=17472, help="port of /healthz and /readyz"
    )
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    p.add_argument(
        "--lb-class",
        default="",
        help="loadBalancerClass to serve; empty serves Services without one",
    )
    p.add_argument("--pprof-bind-address", default="", help="accepted for compatibility")
    p.add_argument("--tls-min-version", default="", choices=("", "VersionTLS12", "VersionTLS13"))
    p.add_argument("--tls-cipher-suites", default="")
    p.add_argument("--tls-curve-preferences", default="")
    p.add_argument("--metrics-cert-dir", default="")


def _controller_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("controller", help="assign IPs to LoadBalancer Services; host the webhook")
    _add_common_daemon_flags(p)
    p.add_argument(
        "--ml-secret-name",
        default=_env("METALLB_ML_SECRET_NAME"),
        help="create this memberlist Secret if absent (env METALLB_ML_SECRET_NAME)",
    )
    p.add_argument(
        "--deployment",
        default=_env("METALLB_DEPLOYMENT"),
        help="controller Deployment name (env METALLB_DEPLOYMENT)",
    )
    p.add_argument("--disable-cert-rotation", action="store_true")
    p.add_argument("--cert-dir", default="/tmp/k8s-webhook-server/serving-certs")
    p.add_argument("--cert-service-name", default="metallb-webhook-service")
    p.add_argument(
        "--webhook-mode", choices=("enabled", "disabled", "onlywebhook"), default="enabled"
    )
    p.add_argument("--webhook-secret", default="metallb-webhook-cert")
    p.add_argument("--webhook-http2", action="store_true")
    _controller_extra_flags(p)
    p.set_defaults(handler="controller_cmd:run")


def _speaker_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("speaker", help="announce assigned IPs from this node (Layer 2 and BGP)")
    _add_common_daemon_flags(p)
    p.add_argument(
        "--node-name",
        default=_env("METALLB_NODE_NAME"),
        help="this node's name (env METALLB_NODE_NAME); required",
    )
    p.add_argument("--host", default=_env("METALLB_HOST"), help="deprecated, ignored")
    p.add_argument(
        "--ml-bindaddr",
        default=_env("METALLB_ML_BIND_ADDR"),
        help="membership bind address; empty disables membership",
    )
    p.add_argument(
        "--ml-bindport", default=_env("METALLB_ML_BIND_PORT"), help="membership port (default 7946)"
    )
    p.add_argument(
        "--ml-labels",
        default=_env("METALLB_ML_LABELS"),
        help="label selector of the speaker pods; empty disables membership",
    )
    p.add_argument(
        "--ml-secret-key-path",
        default=_env("METALLB_ML_SECRET_KEY_PATH"),
        help="directory with the file `secretkey`; empty means unencrypted",
    )
    p.add_argument("--ml-wan-config", action="store_true")
    p.add_argument(
        "--ignore-exclude-lb",
        action="store_true",
        help="ignore node.kubernetes.io/exclude-from-external-load-balancers",
    )
    p.add_argument(
        "--bgp-debounce-timeout",
        type=int,
        default=int(_env("METALLB_BGP_DEBOUNCE_TIMEOUT", "3000")),
        help="FRR reload (frr mode) and FRRConfiguration write (frr-k8s) coalescing, in ms",
    )
    p.add_argument(
        "--frrk8s-namespace",
        default=_env("FRRK8S_NAMESPACE"),
        help="frr-k8s mode: where FRRConfigurations are written (empty: MetalLB's namespace)",
    )
    p.add_argument(
        "--frrk8s-secret-passthrough",
        action="store_true",
        help="frr-k8s mode: pass BGP password Secret references to frr-k8s unresolved",
    )
    _speaker_extra_flags(p)
    p.set_defaults(handler="speaker_cmd:run")


BGP_TYPE_EPILOG = (
    "METALLB_BGP_TYPE (native, frr, frr-k8s; default native) selects the BGP mode's "
    "validation rules, as in the running controller."
)
FILE_HELP = "YAML file (repeatable); - reads standard input"


def _namespace_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--namespace",
        default=_env("METALLB_NAMESPACE", "metallb-system"),
        help="the MetalLB namespace: metallb.io objects elsewhere are refused, as by "
        "upstream's webhook (env METALLB_NAMESPACE; default metallb-system)",
    )


def _offline_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="what-if: allocate and elect offline from YAML files",
        description="Allocate IPs to the Services in the files and elect the announcing "
        "nodes, as the controller and speakers would; nothing touches a cluster.",
        epilog=BGP_TYPE_EPILOG,
    )
    p.add_argument(
        "-f", "--filename", action="append", required=True, metavar="FILE", help=FILE_HELP
    )
    p.add_argument("-o", "--output", choices=("json", "table"), default="table")
    p.add_argument(
        "--down-node",
        action="append",
        default=[],
        metavar="NAME",
        help="a Node of the input whose speaker is down (repeatable)",
    )
    _namespace_flag(p)
    p.set_defaults(handler="plan_cmd:run")

    cfg = sub.add_parser("config", help="validate or convert MetalLB configuration offline")
    csub = cfg.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    v = csub.add_parser(
        "validate",
        help="check metallb.io objects; list every error",
        description="Check metallb.io objects (and a legacy `config` ConfigMap) with the "
        "webhook's rules; report every document that is not used, and why.",
        epilog=BGP_TYPE_EPILOG,
    )
    v.add_argument(
        "-f", "--filename", action="append", required=True, metavar="FILE", help=FILE_HELP
    )
    _namespace_flag(v)
    v.add_argument(
        "--strict-references",
        action="store_true",
        help="references to a BFDProfile, community alias or Secret that is not in the "
        "files are errors (default: warnings, as the webhook lets them through)",
    )
    v.set_defaults(handler="config_cmd:validate")
    c = csub.add_parser("convert", help="print metallb.io YAML from a legacy format")
    c.add_argument(
        "-f", "--filename", required=True, metavar="FILE", help="YAML file; - reads standard input"
    )
    c.add_argument("--from", dest="source", choices=("configmap", "gke"), required=True)
    c.set_defaults(handler="config_cmd:convert")


def _operator_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text, handler in (
        ("explain", "why a Service has (or has no) IP, and who announces it", "run_explain"),
        ("status", "pools, Services and announcing nodes at a glance", "run_status"),
        ("doctor", "check a cluster for common MetalLB misconfigurations", "run_doctor"),
    ):
        p = sub.add_parser(name, help=text, epilog=None if name == "status" else BGP_TYPE_EPILOG)
        p.add_argument(
            "--kubeconfig",
            default=_env("KUBECONFIG"),
            help="kubeconfig file (env KUBECONFIG; default ~/.kube/config, else in-cluster)",
        )
        p.add_argument(
            "--namespace",
            default=_env("METALLB_NAMESPACE", "metallb-system"),
            help="the MetalLB namespace",
        )
        p.add_argument("--lb-class", default="", help="the loadBalancerClass MetalLB serves")
        if name == "explain":
            # `metallb explain NS/NAME` or, as the lab's hints say, `explain service NS/NAME`.
            p.add_argument("words", nargs="+", metavar="[service] NAMESPACE/NAME")
        if name == "status":
            p.add_argument(
                "--metrics-port",
                type=int,
                default=9120,
                help="the speakers' metrics port (their --port; upstream uses 7472)",
            )
            p.add_argument(
                "--scrape-timeout", type=float, default=2.0, help="seconds per speaker scrape"
            )
            p.add_argument(
                "--metrics-token",
                default=_env("METALLB_METRICS_TOKEN"),
                help="bearer token for the speakers' metrics, one allowed to get /metrics "
                "(e.g. `kubectl create token SA`; env METALLB_METRICS_TOKEN); default: "
                "the kubeconfig's token, if it has one",
            )
        if name == "doctor":
            p.add_argument(
                "--node",
                action="store_true",
                help="also check this machine (ARP sysctls, excluded interfaces); run it on "
                "a node, or in the node's network namespace",
            )
        p.set_defaults(handler=f"ops_cmd:{handler}")


def _lab_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("lab", help="a simulated bare-metal cluster on this machine")
    lsub = p.add_subparsers(dest="lab_command", required=True, metavar="COMMAND")
    for name, text, handler in (
        ("up", "start the lab: control plane, 3 nodes, MetalLB, demo Services", "lab:up"),
        ("down", "stop the lab and remove everything it created", "lab:down"),
        ("status", "which node answers for each demo Service", "lab:status"),
        (
            "fail-node",
            "cut a node off the network (processes: also kill its speaker)",
            "lab:node_command",
        ),
        ("heal-node", "bring a failed node back", "lab:node_command"),
    ):
        q = lsub.add_parser(name, help=text)
        q.add_argument("--dir", default=".lab", help="where the lab keeps its state")
        if name.endswith("-node"):
            q.add_argument("node", metavar="NAME")
        if name == "up":
            q.add_argument(
                "--no-bgp-router",
                action="store_true",
                help="Layer 2 only: no FRR router, remote client or BGP pool",
            )
            q.add_argument(
                "--install",
                choices=("kustomize", "helm", "processes"),
                default="kustomize",
                help="MetalLB's images as Pods on real kubelet nodes, installed with "
                "`kubectl apply -k deploy` (default) or the Helm chart; or `processes`: "
                "the daemons as plain processes (starts in seconds, no images needed)",
            )
            q.add_argument(
                "--bgp-mode",
                choices=("native", "frr-k8s"),
                default="native",
                help="frr-k8s: BGP through frr-k8s (built from its Go module) on every node "
                "(MetalLB then runs as processes)",
            )
        q.set_defaults(handler=handler)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metallb",
        description="MetalLB, the network load balancer for bare-metal Kubernetes, in Python.",
    )
    parser.add_argument("--version", action="version", version=f"metallb-py {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _controller_parser(sub)
    _speaker_parser(sub)
    _offline_parsers(sub)
    _operator_parsers(sub)
    _lab_parsers(sub)
    return parser


def _controller_extra_flags(p: argparse.ArgumentParser) -> None:
    """Flags beyond upstream's, for running outside a Pod (tests, the lab)."""
    p.add_argument(
        "--kubeconfig",
        default=_env("KUBECONFIG", ""),
        help="kubeconfig file; empty means in-cluster",
    )
    p.add_argument("--webhook-port", type=int, default=9443)
    p.add_argument(
        "--webhook-cert-ips",
        default="",
        help="extra IP SANs for the webhook certificate (comma-separated)",
    )


def _speaker_extra_flags(p: argparse.ArgumentParser) -> None:
    """Flags beyond upstream's, for running outside a Pod (tests, the lab)."""
    p.add_argument(
        "--kubeconfig",
        default=_env("KUBECONFIG", ""),
        help="kubeconfig file; empty means in-cluster",
    )
    p.add_argument(
        "--excludel2-file",
        default="/etc/metallb/excludel2.yaml",
        help="YAML with announcedInterfacesToExclude (upstream's metallb-excludel2 ConfigMap)",
    )
    p.add_argument(
        "--interface-scan-interval",
        type=float,
        default=10.0,
        help="seconds between interface rescans (upstream: 10)",
    )
    p.add_argument(
        "--frr-workdir",
        default=_env("METALLB_FRR_WORKDIR", "/var/lib/metallb/frr"),
        help="FRR mode: where the rendered frr.conf and vtysh's configuration are kept",
    )
    p.add_argument(
        "--frr-pathspace",
        default=_env("METALLB_FRR_PATHSPACE", ""),
        help="FRR mode: FRR's -N path space (several FRRs on one machine)",
    )
    p.add_argument(
        "--frr-status-interval",
        type=float,
        default=5.0,
        help="FRR mode: seconds between readings of FRR's session state (metrics)",
    )
