"""``metallb config convert --from gke`` and ``config validate`` on GKE on VMware files,
run as a new user would, on files written to disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from metallb.config.yamlio import load_documents

from .test_cli_config import run
from .test_gke import ADDRESS_POOLS, LOAD_BALANCER_NO_KIND, METALLB, USER_CLUSTER


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        pytest.param(USER_CLUSTER, "user cluster file", id="user-cluster"),
        pytest.param(LOAD_BALANCER_NO_KIND, "loadBalancer fragment (no kind)", id="loadBalancer"),
        pytest.param(METALLB, "metalLB fragment", id="metalLB"),
        pytest.param(ADDRESS_POOLS, "addressPools fragment", id="addressPools"),
    ],
)
def test_convert_says_which_shape_it_read(tmp_path: Path, text: str, shape: str) -> None:
    """stdout is only the YAML (it validates in turn); stderr names the shape read."""
    f = tmp_path / "in.yaml"
    f.write_text(text)
    res = run("convert", "-f", str(f), "--from", "gke")
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines()[0] == f"read GKE on VMware {shape}"
    docs = load_documents(res.stdout)
    assert [d["kind"] for d in docs] == ["IPAddressPool", "IPAddressPool", "L2Advertisement"]
    out = tmp_path / "out.yaml"
    out.write_text(res.stdout)
    assert run("validate", "-f", str(out)).returncode == 0


def test_convert_refuses_a_platform_rule_with_the_field_path(tmp_path: Path) -> None:
    """Every node pool with enableLoadBalancer false: refused, exit 1, no YAML printed."""
    f = tmp_path / "user-cluster.yaml"
    f.write_text(USER_CLUSTER.replace("enableLoadBalancer: true", "enableLoadBalancer: false"))
    res = run("convert", "-f", str(f), "--from", "gke")
    assert res.returncode == 1
    assert res.stdout == ""
    assert "GKE user cluster my-user-cluster: nodePools: no node pool has" in res.stderr
    assert "Traceback" not in res.stderr


def test_validate_takes_the_gke_file_directly(tmp_path: Path) -> None:
    """validate converts the GKE file in passing and counts what it converts to."""
    f = tmp_path / "user-cluster.yaml"
    f.write_text(USER_CLUSTER)
    res = run("validate", "-f", str(f))
    assert res.returncode == 0, res.stderr
    assert "2 pools, 1 L2 advertisements" in res.stdout
    assert "read GKE on VMware user cluster file" in res.stderr
    assert "warning: announcing nodes are chosen by the node label" in res.stderr


def test_validate_reports_gke_problems_by_field_path(tmp_path: Path) -> None:
    f = tmp_path / "user-cluster.yaml"
    f.write_text(USER_CLUSTER.replace("ingressVIP: 198.51.100.40", "ingressVIP: 203.0.113.9"))
    res = run("validate", "-f", str(f))
    assert res.returncode == 1
    assert "loadBalancer.vips.ingressVIP: 203.0.113.9 is in no address pool" in res.stderr


def test_readme_example_is_what_convert_prints(tmp_path: Path) -> None:
    """The README's converter example (input, stderr, stdout) is the tool's real output."""
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    block = readme.split("$ cat lb.yaml\n", 1)[1].split("\n```", 1)[0]
    given, printed = block.split("$ metallb config convert -f lb.yaml --from gke", 1)
    f = tmp_path / "lb.yaml"
    f.write_text(given)
    res = run("convert", "-f", str(f), "--from", "gke")
    assert res.returncode == 0, res.stderr
    lines = printed.split("\n", 1)[1]
    stderr_lines, stdout_text = lines.split("\n", 2)[:2], lines.split("\n", 2)[2]
    assert res.stderr.splitlines() == stderr_lines
    assert res.stdout == stdout_text + "\n"
