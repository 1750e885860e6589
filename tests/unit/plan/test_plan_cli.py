"""`metallb plan` as a user runs it: a small file in table and JSON form, --down-node,
an invalid file, and the legacy ConfigMap."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "plan"


def metallb(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def plan_json(*args: str) -> dict[str, Any]:
    proc = metallb("plan", "-f", str(DATA / "demo.yaml"), "-o", "json", *args)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in doc["services"]}


def test_json_follows_the_documented_shape() -> None:
    """Every Service appears with exactly the keys PlanOutput.to_json documents, in document
    order."""
    doc = plan_json()
    assert [s["name"] for s in doc["services"]] == [
        "web",
        "dns",
        "dns-tcp",
        "v6svc",
        "internal",
        "toomany",
    ]
    for s in doc["services"]:
        assert set(s) == {"namespace", "name", "ips", "pool", "error", "layer2", "bgp"}
    assert [p["name"] for p in doc["pools"]] == ["lan", "v6"]
    assert set(doc["pools"][0]) == {
        "name",
        "assignedIPv4",
        "assignedIPv6",
        "availableIPv4",
        "availableIPv6",
    }


def test_allocation_outcomes() -> None:
    """Restart order, sharing, pool annotation, ignored ClusterIP and a clear error."""
    s = by_name(plan_json())
    # dns already holds .12, so it keeps it although web is listed first; web gets .10.
    assert s["dns"]["ips"] == ["192.0.2.12"]
    assert s["web"]["ips"] == ["192.0.2.10"]
    # Same sharing key, different protocol: dns-tcp shares dns's IP.
    assert s["dns-tcp"]["ips"] == ["192.0.2.12"]
    # autoAssign false pool, used on request through the annotation.
    assert (s["v6svc"]["ips"], s["v6svc"]["pool"]) == (["2001:db8::"], "v6")
    assert s["internal"] == {
        "namespace": "default",
        "name": "internal",
        "ips": [],
        "pool": None,
        "error": None,
        "layer2": None,
        "bgp": None,
    }
    assert s["toomany"]["ips"] == []
    assert s["toomany"]["error"] == '["198.51.100.1"] is not allowed in config'


def test_pool_counters() -> None:
    """Counters count distinct IPs: two Services sharing .12 use one address."""
    pools = {p["name"]: p for p in plan_json()["pools"]}
    assert (pools["lan"]["assignedIPv4"], pools["lan"]["availableIPv4"]) == (2, 1)
    assert (pools["v6"]["assignedIPv6"], pools["v6"]["availableIPv6"]) == (1, 3)


def test_layer2_owner_and_down_node() -> None:
    """The elected node answers for the IP; when it is down another node takes over."""
    owner = by_name(plan_json())["web"]["layer2"]
    assert owner is not None
    assert owner["interfaces"] == []
    other = {"node-a": "node-b", "node-b": "node-a"}[owner["node"]]
    moved = by_name(plan_json("--down-node", owner["node"]))["web"]["layer2"]
    assert moved == {"node": other, "interfaces": []}
    # No endpoint is ready for dns: nobody announces, as upstream.
    assert by_name(plan_json())["dns"]["layer2"] is None


def test_table_output_for_people() -> None:
    """The default output is a table naming Services, IPs, pools, nodes and errors."""
    proc = metallb("plan", "-f", str(DATA / "demo.yaml"))
    assert proc.returncode == 0, proc.stderr
    for text in (
        "web",
        "192.0.2.10",
        "lan",
        "is not allowed in config",
        "no ready endpoint",
        "Pools",
    ):
        assert text in proc.stdout


def test_invalid_configuration_exits_non_zero_with_every_error() -> None:
    """A bad file fails the whole plan and lists each problem with object and field."""
    proc = metallb("plan", "-f", str(DATA / "invalid.yaml"), "-o", "json")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "IPAddressPool metallb-system/b: spec.addresses[0]" in proc.stderr
    assert "overlaps" in proc.stderr
    assert "spec.addresses[1]" in proc.stderr


def test_not_yaml_is_an_input_error(tmp_path: Path) -> None:
    """Garbage input gets one clear line, not a traceback."""
    bad = tmp_path / "x.yaml"
    bad.write_text("kind: [unclosed\n")
    proc = metallb("plan", "-f", str(bad))
    assert proc.returncode == 2
    assert "not valid YAML" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "empty",
    [
        "",
        "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
        "spec: {type: LoadBalancer, clusterIP: 10.96.0.1}\n",
    ],
)
def test_input_without_pools_is_valid(tmp_path: Path, empty: str) -> None:
    """No pools is a valid configuration; a LoadBalancer Service then says why it waits."""
    f = tmp_path / "in.yaml"
    f.write_text(empty)
    proc = metallb("plan", "-f", str(f), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["pools"] == []
    for s in doc["services"]:
        assert s["ips"] == []
        assert s["error"]


def test_legacy_configmap_is_planned(tmp_path: Path) -> None:
    """The old `config` ConfigMap works as input, as for `config validate`."""
    f = tmp_path / "cm.yaml"
    f.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
        "data:\n  config: |\n    address-pools:\n    - name: default\n      protocol: layer2\n"
        "      addresses: [198.51.100.171-198.51.100.175]\n---\n"
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: default}\n"
        "spec: {type: LoadBalancer, clusterIP: 10.96.0.1, ports: [{port: 80}]}\n"
    )
    proc = metallb("plan", "-f", str(f), "-o", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["services"][0]["ips"] == ["198.51.100.171"]
    assert doc["services"][0]["pool"] == "default"
