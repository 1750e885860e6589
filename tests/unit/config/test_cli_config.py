"""``metallb config validate`` and ``convert`` run as a new user would, on real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from metallb.config.yamlio import load_documents

GOOD = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool, namespace: metallb-system}
spec:
  addresses: [192.168.100.171-192.168.100.175, 2001:db8::/120]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: example, namespace: metallb-system}
---
apiVersion: v1
kind: Service
metadata: {name: ignored}
spec: {type: LoadBalancer}
"""

THREE_MISTAKES = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: first-pool}
spec:
  addresses: [192.168.100.300/24]
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: router}
spec:
  myASN: 64500
  peerASN: 64501
  peerAddress: 192.0.2.1
  holdTime: 1s
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: ads}
spec:
  aggregationLength: 40
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata: {namespace: metallb-system, name: config}
data:
  config: |
    address-pools:
    - name: default
      protocol: layer2
      addresses: [192.168.100.171-192.168.100.175]
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", "config", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_good_file_is_valid(tmp_path: Path) -> None:
    """A correct multi-document file exits 0; the Service in it is ignored."""
    f = tmp_path / "good.yaml"
    f.write_text(GOOD)
    res = run("validate", "-f", str(f))
    assert res.returncode == 0, res.stderr
    assert "1 pools" in res.stdout


def test_three_mistakes_are_all_reported(tmp_path: Path) -> None:
    """Each mistake is listed with its object and field, and the exit code is non-zero."""
    f = tmp_path / "bad.yaml"
    f.write_text(THREE_MISTAKES)
    res = run("validate", "-f", str(f))
    assert res.returncode == 1
    assert "IPAddressPool first-pool: spec.addresses[0]: invalid CIDR" in res.stderr
    assert "BGPPeer router: spec.holdTime: invalid hold time" in res.stderr
    assert "BGPAdvertisement ads: spec.aggregationLength: invalid aggregation length" in res.stderr
    assert "3 problems" in res.stderr
    assert "Traceback" not in res.stderr


def test_not_yaml_is_a_clear_error(tmp_path: Path) -> None:
    """A file that is not YAML gets one line naming the file and position, no traceback."""
    f = tmp_path / "notes.txt"
    f.write_text("key: [unclosed\n  : : :\n")
    res = run("validate", "-f", str(f))
    assert res.returncode == 2
    assert f"{f}: not valid YAML" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    """A file that does not exist is reported, not raised."""
    res = run("validate", "-f", str(tmp_path / "nope.yaml"))
    assert res.returncode == 2
    assert "cannot read" in res.stderr


def test_mode_comes_from_environment(tmp_path: Path) -> None:
    """METALLB_BGP_TYPE=frr accepts a BFD profile that native mode refuses."""
    f = tmp_path / "bfd.yaml"
    f.write_text("apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: b}\n")
    assert run("validate", "-f", str(f), env={"METALLB_BGP_TYPE": "native"}).returncode == 1
    assert run("validate", "-f", str(f), env={"METALLB_BGP_TYPE": "frr"}).returncode == 0


@pytest.mark.parametrize("source", ["configmap", "gke"])
def test_convert_prints_metallb_yaml(tmp_path: Path, source: str) -> None:
    """convert prints metallb.io objects that validate in turn."""
    f = tmp_path / "in.yaml"
    if source == "configmap":
        f.write_text(CONFIGMAP)
    else:
        f.write_text(
            "loadBalancer:\n  metalLB:\n    addressPools:\n"
            "    - {name: p, addresses: [192.0.2.0/28]}\n"
            "nodePools:\n- {name: lb, enableLoadBalancer: true}\n"
        )
    res = run("convert", "-f", str(f), "--from", source)
    assert res.returncode == 0, res.stderr
    docs = load_documents(res.stdout)
    assert {d["kind"] for d in docs} == {"IPAddressPool", "L2Advertisement"}
    out = tmp_path / "out.yaml"
    out.write_text(res.stdout)
    assert run("validate", "-f", str(out)).returncode == 0
