"""``metallb config validate`` on the inputs users paste (issue 14), one row per case.

Each row is a file as users have them (an empty file, a Helm values file, a GKE cluster
file, which is validated as what ``convert --from gke`` makes of it, a removed or
misspelt kind, a ConfigMap under the wrong key, legacy pools with a wrong protocol,
``status`` blocks, references to objects in other files, a tab before a comment, an
object in another namespace), the exit code, and the texts that must be on stderr: the
object and the field, and what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from metallb.cli.main import main

POOL = """
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
"""

PEER_WITH_SECRET = """
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec:
  myASN: 64500
  peerASN: 64501
  peerAddress: 192.0.2.1
  passwordSecret: {name: bgp-auth}
"""

PEER_WITH_BFD = """
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: tor, namespace: metallb-system}
spec: {myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1, bfdProfile: fast}
"""

AD_WITH_ALIAS = (
    POOL
    + """---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: ads, namespace: metallb-system}
spec: {communities: [no-export-alias]}
"""
)


def legacy(pools: str) -> str:
    body = "\n".join("    " + line for line in pools.strip().splitlines())
    return (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config, namespace: metallb-system}\n"
        f"data:\n  config: |\n{body}\n"
    )


@dataclass(frozen=True)
class Case:
    text: str
    code: int
    err: tuple[str, ...] = ()  # each must be on stderr
    out: str = ""  # must be on stdout
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    not_err: tuple[str, ...] = ()  # must not be on stderr


CASES = {
    "empty file": Case("", 1, ("empty: no YAML documents",)),
    "only comments": Case("# nothing here\n---\n", 1, ("empty: no YAML documents",)),
    "helm values file": Case(
        "controller:\n  logLevel: debug\nspeaker:\n  frr: {enabled: false}\n",
        1,
        ("document 1: a Helm values file", "helm install -f"),
    ),
    "GKE user cluster file": Case(
        "apiVersion: v1\nkind: UserCluster\nname: c1\nloadBalancer:\n  kind: MetalLB\n"
        "  metalLB:\n    addressPools:\n    - {name: p, addresses: [192.0.2.0/28]}\n",
        0,  # validated as what it converts to (issue 20), with the shape it was read as
        ("read GKE on VMware user cluster file",),
    ),
    "GKE fragment": Case(
        "metalLB:\n  addressPools:\n  - {name: p, addresses: [192.0.2.0/28]}\n",
        0,
        ("read GKE on VMware", "metalLB"),
    ),
    "legacy data without its ConfigMap": Case(
        "address-pools:\n- {name: p, protocol: layer2, addresses: [192.0.2.0/28]}\n",
        1,
        ("legacy ConfigMap's data.config", "--from configmap"),
    ),
    "removed AddressPool kind": Case(
        "apiVersion: metallb.io/v1beta1\nkind: AddressPool\n"
        "metadata: {name: old, namespace: metallb-system}\n"
        "spec: {protocol: layer2, addresses: [192.0.2.0/28]}\n",
        1,
        ("AddressPool metallb-system/old: AddressPool was removed", "IPAddressPool"),
    ),
    "kind typo": Case(
        POOL.replace("IPAddressPool", "IpAddressPool"),
        1,
        ("IpAddressPool metallb-system/lan: unknown metallb.io kind IpAddressPool",),
    ),
    "kind typo suggests the right one": Case(
        POOL.replace("IPAddressPool", "IPAdressPool"), 1, ("did you mean IPAddressPool?",)
    ),
    "apiVersion with an unknown version is not read as a pool": Case(
        POOL.replace("v1beta1", "v1alpha1"),
        1,
        (
            "IPAddressPool metallb-system/lan: unknown apiVersion metallb.io/v1alpha1 for "
            "IPAddressPool (served: metallb.io/v1beta1)",
        ),
    ),
    "apiVersion group typo": Case(
        POOL.replace("metallb.io/", "metalb.io/"),
        1,
        ("IPAddressPool belongs to metallb.io", "did you mean metallb.io?"),
    ),
    "legacy ConfigMap under config.yaml": Case(
        legacy("address-pools:\n- {name: p, protocol: layer2, addresses: [192.0.2.0/28]}").replace(
            "  config: |", "  config.yaml: |"
        ),
        1,
        ("ConfigMap metallb-system/config: data.config.yaml", "rename data.config.yaml"),
    ),
    "legacy ConfigMap is read": Case(
        legacy("address-pools:\n- {name: p, protocol: layer2, addresses: [192.0.2.0/28]}"),
        0,
        out="1 pools, 1 L2 advertisements",
    ),
    "legacy protocol l2": Case(
        legacy("address-pools:\n- {name: p, protocol: l2, addresses: [192.0.2.0/28]}"),
        1,
        ('ConfigMap metallb-system/config: address-pools[0].protocol: unknown protocol "l2"',),
    ),
    "legacy pool without protocol": Case(
        legacy("address-pools:\n- {name: p, addresses: [192.0.2.0/28]}"),
        1,
        ("address-pools[0].protocol: address pool is missing the protocol field",),
    ),
    "legacy layer2 pool with BGP advertisements": Case(
        legacy(
            "address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/28]\n"
            "  bgp-advertisements: [{localpref: 100}]"
        ),
        1,
        ("address-pools[0].bgp-advertisements: cannot have bgp-advertisements",),
    ),
    "status block is ignored": Case(POOL + "status: {}\n", 0, out="1 pools", not_err=("status",)),
    "converter output with zero status": Case(
        POOL + "status: {assignedIPv4: 0, assignedIPv6: 0, availableIPv4: 0, availableIPv6: 0}\n",
        0,
        out="1 pools",
    ),
    "community alias defined elsewhere is a warning": Case(
        AD_WITH_ALIAS,
        0,
        (
            "warning: BGPAdvertisement metallb-system/ads: spec.communities[0]: "
            'unknown community alias "no-export-alias"',
        ),
        out="1 BGP advertisements",
    ),
    "community alias with --strict-references is an error": Case(
        AD_WITH_ALIAS,
        1,
        ("BGPAdvertisement metallb-system/ads: spec.communities[0]: unknown community alias",),
        args=("--strict-references",),
    ),
    "BFD profile defined elsewhere is a warning": Case(
        PEER_WITH_BFD,
        0,
        (
            "warning: BGPPeer metallb-system/tor: spec.bfdProfile: peer tor referencing non "
            "existing bfd profile fast",
        ),
        out="1 peers",
        env={"METALLB_BGP_TYPE": "frr"},
    ),
    "password Secret not in the input is a warning naming the Secret": Case(
        PEER_WITH_SECRET,
        0,
        ("BGPPeer metallb-system/tor: spec.passwordSecret", 'Secret "metallb-system"/"bgp-auth"'),
        out="1 peers",
    ),
    "password Secret with --strict-references is an error naming the Secret": Case(
        PEER_WITH_SECRET,
        1,
        ("spec.passwordSecret: secret ref not found", 'Secret "metallb-system"/"bgp-auth"'),
        args=("--strict-references",),
    ),
    "tab before a comment": Case(
        POOL.replace("namespace: metallb-system}", "namespace: metallb-system}\t# ours").replace(
            "kind: IPAddressPool", "kind: IPAddressPool\t# a pool"
        ),
        0,
        out="1 pools",
    ),
    "object outside the MetalLB namespace": Case(
        POOL.replace("namespace: metallb-system", "namespace: default"),
        1,
        (
            "IPAddressPool default/lan: metadata.namespace: resource must be created in "
            "metallb-system namespace",
        ),
    ),
    "--namespace sets the MetalLB namespace": Case(
        POOL.replace("namespace: metallb-system", "namespace: lb"),
        0,
        out="1 pools",
        args=("--namespace", "lb"),
    ),
    "kind List items are read": Case(
        "apiVersion: v1\nkind: List\nitems:\n"
        + "".join(
            f"- apiVersion: metallb.io/v1beta1\n  kind: IPAddressPool\n"
            f"  metadata: {{name: p{i}, namespace: metallb-system}}\n"
            f"  spec: {{addresses: [192.0.2.{16 * i}/28]}}\n"
            for i in range(3)
        ),
        0,
        out="3 pools",
    ),
    "only a Service: nothing MetalLB": Case(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: LoadBalancer}\n",
        1,
        ("ignored:", "Service web: not configuration", "no MetalLB configuration found"),
    ),
    "other kinds beside a pool are skipped, not errors": Case(
        POOL + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n",
        0,
        ("ignored:", "Deployment app: not MetalLB configuration (apps/v1 Deployment)"),
        out="1 pools",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_validate(
    case: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("METALLB_NAMESPACE", raising=False)
    monkeypatch.delenv("METALLB_BGP_TYPE", raising=False)
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    f = tmp_path / "input.yaml"
    f.write_text(case.text)
    code = main(["config", "validate", "-f", str(f), *case.args])
    out, err = capsys.readouterr()
    assert code == case.code, err
    for text in case.err:
        assert text in err, err
    for text in case.not_err:
        assert text not in err, err
    assert case.out in out
    if case.code != 0:
        assert "valid (" not in out
