"""The command line on real inputs (issue 14): ``plan`` on manifests as users write them,
standard input, unknown ``--down-node`` names; commands that talk to a cluster failing in
one line; a closed pipe; per-subcommand help; and what ``--version`` imports.

Run as the user runs it: ``python -m metallb.cli.main`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

POOLS = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28, 2001:db8::/124]}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
"""


def service(name: str, extra: str = "") -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\n"
        f"spec:\n  type: LoadBalancer\n  ports: [{{port: 80}}]\n{extra}"
    )


def metallb(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        input=stdin,
        env={**os.environ, **(env or {})},
    )


def plan(tmp_path: Path, text: str, *args: str) -> dict[str, dict[str, Any]]:
    f = tmp_path / "in.yaml"
    f.write_text(text)
    proc = metallb("plan", "-f", str(f), "-o", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return {s["name"]: s for s in json.loads(proc.stdout)["services"]}


def test_plan_reads_services_written_as_manifests(tmp_path: Path) -> None:
    """No clusterIP (as users write Services): treated as the apiserver would on create."""
    out = plan(
        tmp_path,
        POOLS
        + "---\n"
        + service("web")
        + "---\n"
        + service("dual", "  ipFamilyPolicy: RequireDualStack\n")
        + "---\n"
        + service("v6", "  ipFamilies: [IPv6]\n"),
    )
    assert out["web"]["error"] is None
    assert out["web"]["ips"] == ["192.0.2.0"]
    assert out["dual"]["error"] is None
    assert sorted(out["dual"]["ips"], key=len) == ["192.0.2.1", "2001:db8::"]
    assert out["v6"]["ips"] == ["2001:db8::1"]


def test_plan_reads_kind_list_as_kubectl_prints_it(tmp_path: Path) -> None:
    """`kubectl get svc -o yaml` prints a List: each item is planned."""
    items = "".join("- " + service(n).replace("\n", "\n  ").rstrip() + "\n" for n in ("a", "b"))
    out = plan(tmp_path, POOLS + "---\napiVersion: v1\nkind: List\nitems:\n" + items)
    assert [out["a"]["ips"], out["b"]["ips"]] == [["192.0.2.0"], ["192.0.2.1"]]


def test_plan_reads_standard_input() -> None:
    """`-f -` is standard input, as in kubectl."""
    proc = metallb("plan", "-f", "-", "-o", "json", stdin=POOLS + "---\n" + service("web"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["services"][0]["ips"] == ["192.0.2.0"]


def test_validate_reads_standard_input() -> None:
    proc = metallb("config", "validate", "-f", "-", stdin=POOLS)
    assert proc.returncode == 0, proc.stderr
    assert "1 pools" in proc.stdout


def test_plan_refuses_an_unknown_down_node(tmp_path: Path) -> None:
    """A misspelt --down-node would silently plan with every node up: refused, named."""
    f = tmp_path / "in.yaml"
    f.write_text(POOLS)
    proc = metallb("plan", "-f", str(f), "--down-node", "n2")
    assert proc.returncode == 2
    assert "--down-node n2: no such Node in the input (Nodes: n1)" in proc.stderr


def test_plan_refuses_pools_outside_the_metallb_namespace(tmp_path: Path) -> None:
    """Upstream's webhook refuses them, so plan does not allocate from them."""
    f = tmp_path / "in.yaml"
    f.write_text(POOLS.replace("namespace: metallb-system", "namespace: apps"))
    proc = metallb("plan", "-f", str(f))
    assert proc.returncode == 1
    assert "IPAddressPool apps/lan: metadata.namespace: resource must be created" in proc.stderr
    ok = metallb("plan", "-f", str(f), "--namespace", "apps")
    assert ok.returncode == 0, ok.stderr


def test_plan_warns_about_documents_meant_for_metallb(tmp_path: Path) -> None:
    f = tmp_path / "in.yaml"
    f.write_text(POOLS.replace("IPAddressPool", "IpAddressPool") + "---\n" + service("web"))
    proc = metallb("plan", "-f", str(f), "-o", "json")
    assert proc.returncode == 0
    assert "did you mean IPAddressPool?" in proc.stderr


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("spec: []", "Service default/bad: spec: must be an object"),
        (
            "spec: {type: LoadBalancer, ports: '80'}",
            "Service default/bad: spec.ports: must be a list",
        ),
        (
            "spec: {type: LoadBalancer, ports: [{port: http}]}",
            "Service default/bad: spec.ports[0].port: must be an integer",
        ),
        (
            "spec: {type: LoadBalancer, ipFamilies: IPv4}",
            "Service default/bad: spec.ipFamilies: must be a list",
        ),
    ],
)
def test_plan_names_malformed_services(tmp_path: Path, spec: str, field: str) -> None:
    """A Service the apiserver would refuse is reported with its field, no traceback."""
    f = tmp_path / "in.yaml"
    bad = "apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: default}\n" + spec
    f.write_text(POOLS + "---\n" + bad + "\n")
    proc = metallb("plan", "-f", str(f))
    assert proc.returncode == 1
    assert field in proc.stderr
    assert "Traceback" not in proc.stderr


# Port 1 on loopback: nothing listens there, the connection is refused at once.
UNREACHABLE = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


@pytest.mark.parametrize("command", [["status"], ["doctor"], ["explain", "default/web"]])
@pytest.mark.parametrize("kubeconfig", ["missing", "unreachable", "not yaml", "none"])
def test_cluster_commands_fail_in_one_line(
    tmp_path: Path, command: list[str], kubeconfig: str
) -> None:
    """Which kubeconfig, what failed, what to do: one line, exit 1, no traceback."""
    path = tmp_path / "kubeconfig"
    if kubeconfig == "unreachable":
        path.write_text(UNREACHABLE)
    elif kubeconfig == "not yaml":
        path.write_text("clusters: [\n")
    env = {"HOME": str(tmp_path), "KUBECONFIG": ""}
    flags = [] if kubeconfig == "none" else ["--kubeconfig", str(path)]
    proc = metallb(*command, *flags, env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    expected = {
        "missing": (f"cannot use the kubeconfig {path}", "--kubeconfig"),
        "unreachable": ("cannot reach the Kubernetes API", "cluster is up"),
        "not yaml": (f"cannot read the kubeconfig {path}", "check the file"),
        "none": ("~/.kube/config (no --kubeconfig, KUBECONFIG unset)", "set KUBECONFIG"),
    }[kubeconfig]
    for text in expected:
        assert text in lines[0]


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`metallb plan -o json | head`: the reader goes away, no BrokenPipeError traceback."""
    f = tmp_path / "in.yaml"
    services = "".join("---\n" + service(f"s{i}") for i in range(1500))
    f.write_text(POOLS.replace("192.0.2.0/28", "10.0.0.0/20") + services)
    proc = subprocess.Popen(
        [sys.executable, "-m", "metallb.cli.main", "plan", "-f", str(f), "-o", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"{")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err
    assert "BrokenPipe" not in err


@pytest.mark.parametrize(
    ("command", "present", "absent"),
    [
        (["status"], ["--metrics-port", "--scrape-timeout"], ["--node", "METALLB_BGP_TYPE"]),
        (["doctor"], ["--node", "METALLB_BGP_TYPE"], ["--metrics-port", "--scrape-timeout"]),
        (["explain"], ["NAMESPACE/NAME", "METALLB_BGP_TYPE"], ["--node", "--metrics-port"]),
        (["plan"], ["--down-node", "--namespace", "METALLB_BGP_TYPE"], ["--kubeconfig"]),
        (["config", "validate"], ["--strict-references", "METALLB_BGP_TYPE"], ["--down-node"]),
    ],
)
def test_each_help_lists_only_its_own_options(
    command: list[str], present: list[str], absent: list[str]
) -> None:
    proc = metallb(*command, "--help")
    assert proc.returncode == 0
    for text in present:
        assert text in proc.stdout
    for text in absent:
        assert text not in proc.stdout


def test_version_and_help_import_no_subcommand() -> None:
    """--version and --help build the parser only: none of the heavy libraries load."""
    code = (
        "import sys\n"
        "from metallb.cli.main import main\n"
        "for argv in (['--version'], ['--help'], ['plan', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('pydantic', 'lightkube', 'aiohttp', 'pyroute2', 'yaml', 'rich')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stderr.strip() == "[]"


def test_convert_follows_upstreams_converter_and_warns_about_protocols() -> None:
    """`protocol: l2` converts as upstream's converter does (a pool, no advertisement),
    with a warning that MetalLB v0.12 refused it; `-f -` is standard input."""
    configmap = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
        "data:\n  config: |\n    address-pools:\n    - name: lan\n      protocol: l2\n"
        "      addresses: [192.0.2.0/28]\n"
    )
    proc = metallb("config", "convert", "--from", "configmap", "-f", "-", stdin=configmap)
    assert proc.returncode == 0, proc.stderr
    assert "kind: IPAddressPool" in proc.stdout
    assert "L2Advertisement" not in proc.stdout
    assert 'address-pools[0].protocol: unknown protocol "l2"' in proc.stderr
    assert "MetalLB v0.12 refused this" in proc.stderr
