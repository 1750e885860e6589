"""Fault table, invalid configuration: every kind of bad field, applied with `kubectl apply`.

The real apiserver runs the CRDs' schemas (types, enums, minimums, CEL rules) and then our
admission webhook (``tests/integration/webhook_harness.py``), which builds the whole
configuration the way the controller and the speakers do. Each row is one object with one
bad field; what a user sees is kubectl's stderr, and it must name the field (or the value
the field holds, where upstream's message quotes the value). A valid object of the same
kind goes first in each namespace so the refusals are about the field, not the kind.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from metallb.lab.controlplane import ControlPlane
from tests.integration.webhook_harness import Webhook, wait_until_enforced

pytestmark = [pytest.mark.controlplane, pytest.mark.usefixtures("metallb_crds")]

KUBECTL = str(Path(sys.executable).with_name("kubectl"))

# A valid base the rows refer to: a pool, a community alias and a BFD profile.
BASE = """\
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: base}
spec: {addresses: [192.0.2.0/28]}
---
apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: base}
spec: {communities: [{name: gold, value: "64500:1"}]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: base}
spec: {}
"""

# (kind, apiVersion, spec as YAML flow text, what kubectl's stderr must contain)
ROWS = [
    ("IPAddressPool", "v1beta1", "{addresses: [192.0.2.300/32]}", "192.0.2.300/32"),
    ("IPAddressPool", "v1beta1", "{addresses: [198.51.100.10-198.51.100.5]}", "spec.addresses[0]"),
    ("IPAddressPool", "v1beta1", "{addresses: [192.0.2.8/29]}", "overlaps"),
    ("IPAddressPool", "v1beta1", "{addresses: 192.0.2.64/28}", "spec.addresses"),
    ("IPAddressPool", "v1beta1", "{}", "spec.addresses"),
    ("IPAddressPool", "v1beta1", "{addresses: [192.0.2.64/28], autoAssign: maybe}", "autoAssign"),
    (
        "IPAddressPool",
        "v1beta1",
        "{addresses: [192.0.2.64/28], serviceAllocation: {priority: 1,"
        " namespaceSelectors: [{matchLabels: {'bad key!': x}}]}}",
        "bad key!",
    ),
    ("L2Advertisement", "v1beta1", "{ipAddressPools: [5]}", "ipAddressPools"),
    (
        "L2Advertisement",
        "v1beta1",
        "{nodeSelectors: [{matchExpressions: [{key: a, operator: Sideways, values: [b]}]}]}",
        "Sideways",
    ),
    ("BGPAdvertisement", "v1beta1", "{aggregationLength: 0}", "aggregationLength"),
    ("BGPAdvertisement", "v1beta1", "{aggregationLength: 24}", "aggregation length"),
    ("BGPAdvertisement", "v1beta1", "{localPref: -1}", "localPref"),
    ("BGPAdvertisement", "v1beta1", "{communities: ['64500:99999999']}", "64500:99999999"),
    ("BGPAdvertisement", "v1beta1", "{communities: ['64500:1', '64500:1']}", "duplicate"),
    ("BGPPeer", "v1beta2", "{myASN: 64500, peerASN: 64501}", "peerAddress"),
    (
        "BGPPeer",
        "v1beta2",
        "{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.999}",
        "192.0.2.999",
    ),
    (
        "BGPPeer",
        "v1beta2",
        "{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1, holdTime: 1s}",
        "hold",
    ),
    (
        "BGPPeer",
        "v1beta2",
        "{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1,"
        " holdTime: 90s, keepaliveTime: 120s}",
        "keepalive",
    ),
    (
        "BGPPeer",
        "v1beta2",
        "{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1, connectTime: 0.5s}",
        "connect",
    ),
    (
        "BGPPeer",
        "v1beta2",
        "{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1,"
        " ebgpMultiHop: true, bfdProfile: base, sourceAddress: nope}",
        "nope",
    ),
    ("Community", "v1beta1", "{communities: [{name: bad, value: '64500:x'}]}", "64500:x"),
    ("Community", "v1beta1", "{communities: [{name: gold, value: '64500:2'}]}", "gold"),
    ("BFDProfile", "v1beta1", "{receiveInterval: 5}", "receiveInterval"),
    ("BFDProfile", "v1beta1", "{detectMultiplier: 300}", "detectMultiplier"),
    ("BFDProfile", "v1beta1", "{echoMode: sometimes}", "echoMode"),
]


async def _kubectl_apply(
    control_plane: ControlPlane, namespace: str, manifest: str
) -> tuple[int, str]:
    # Asynchronous: the webhook answering the apiserver runs in this event loop.
    proc = await asyncio.create_subprocess_exec(
        KUBECTL,
        f"--kubeconfig={control_plane.kubeconfig}",
        "-n",
        namespace,
        "apply",
        "-f",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(manifest.encode()), 60)
    return proc.returncode or 0, err.decode()


@pytest.mark.asyncio
@pytest.mark.parametrize(("kind", "version", "spec", "says"), ROWS)
async def test_kubectl_apply_of_an_invalid_field_is_refused_naming_it(
    webhook: Webhook,
    control_plane: ControlPlane,
    kind: str,
    version: str,
    spec: str,
    says: str,
) -> None:
    await wait_until_enforced(webhook)
    code, err = await _kubectl_apply(control_plane, webhook.namespace, BASE)
    assert code == 0, err
    manifest = (
        f"apiVersion: metallb.io/{version}\nkind: {kind}\nmetadata: {{name: bad}}\nspec: {spec}\n"
    )
    code, err = await _kubectl_apply(control_plane, webhook.namespace, manifest)
    print(f"{kind} {spec}\n  -> {err.strip()}")
    assert code == 1, f"{kind} {spec} was accepted"
    assert says in err


# References to objects that may be created later: upstream's webhook ignores them, so
# `kubectl apply -f dir/` works in any order; the controller and speakers report a
# reference still missing in their ConfigurationState (tests/integration/controller/test_events.py).
LATER = [
    ("BGPAdvertisement", "v1beta1", "{communities: [silver]}"),
    (
        "BGPPeer",
        "v1beta2",
        "{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1, bfdProfile: later}",
    ),
    (
        "BGPPeer",
        "v1beta2",
        "{myASN: 64500, peerASN: 64501, peerAddress: 192.0.2.1, passwordSecret: {name: later}}",
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("kind", "version", "spec"), LATER)
async def test_kubectl_apply_of_a_reference_to_a_later_object_is_accepted(
    webhook: Webhook, control_plane: ControlPlane, kind: str, version: str, spec: str
) -> None:
    await wait_until_enforced(webhook)
    manifest = (
        f"apiVersion: metallb.io/{version}\nkind: {kind}\nmetadata: {{name: ref}}\nspec: {spec}\n"
    )
    code, err = await _kubectl_apply(control_plane, webhook.namespace, manifest)
    assert code == 0, err
