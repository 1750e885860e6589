"""explain and doctor name the real cause of the usual "no IP" / "unreachable" reports."""

from __future__ import annotations

from typing import Any

import pytest

from metallb.plan.doctor import Facts, doctor
from metallb.plan.explain import Finding, Level, explain

NS = "metallb-system"


def pool(name: str, *addresses: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"addresses": list(addresses), **spec},
    }


def l2ad(name: str, *pools: str) -> dict[str, Any]:
    return {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "L2Advertisement",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"ipAddressPools": list(pools)},
    }


def svc(
    name: str,
    *,
    type_: str = "LoadBalancer",
    ips: tuple[str, ...] = (),
    annotations: dict[str, str] | None = None,
    cls: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": type_, "clusterIP": "10.96.0.9", "ports": [{"port": 80}]}
    if cls:
        spec["loadBalancerClass"] = cls
    out: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
        "spec": spec,
    }
    if ips:
        out["status"] = {"loadBalancer": {"ingress": [{"ip": ip} for ip in ips]}}
    return out


NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
SLICE = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {
        "name": "web-x",
        "namespace": "default",
        "labels": {"kubernetes.io/service-name": "web"},
    },
    "endpoints": [{"addresses": ["10.1.0.1"], "nodeName": "n1", "conditions": {"ready": True}}],
}


def levels(findings: list[Finding]) -> list[tuple[Level, str]]:
    return [(f.level, f.text) for f in findings]


def first_error(findings: list[Finding]) -> str:
    return next(f.text for f in findings if f.level in (Level.ERROR, Level.WARN))


@pytest.mark.parametrize(
    ("objects", "says"),
    [
        pytest.param([svc("web", type_="ClusterIP")], "not LoadBalancer", id="not a LB Service"),
        pytest.param(
            [svc("web", cls="example.com/other")],
            "another implementation",
            id="other loadBalancerClass",
        ),
        pytest.param([svc("web")], "no IPAddressPool", id="no pool"),
        pytest.param(
            [svc("web"), pool("p", "192.0.2.0/32", "192.0.2.0/31")],
            "invalid",
            id="invalid configuration",
        ),
        pytest.param(
            [svc("web"), pool("p", "192.0.2.0/28", autoAssign=False)],
            "no IP can be assigned",
            id="only a manual pool",
        ),
        pytest.param(
            [
                svc("web", annotations={"metallb.io/loadBalancerIPs": "198.51.100.1"}),
                pool("p", "192.0.2.0/28"),
            ],
            "is not allowed in config",
            id="requested IP outside every pool",
        ),
        pytest.param(
            [svc("web", ips=("192.0.2.0",)), pool("p", "192.0.2.0/28")],
            "no L2Advertisement and no BGPAdvertisement",
            id="IP but never announced",
        ),
        pytest.param(
            [svc("web"), pool("p", "192.0.2.0/28"), l2ad("l2", "p")],
            "is the controller running",
            id="IP due but no status",
        ),
        pytest.param(
            [svc("web", ips=("192.0.2.0",)), pool("p", "192.0.2.0/28"), l2ad("l2", "p"), NODE],
            "no ready endpoint",
            id="no ready endpoint",
        ),
    ],
)
def test_explain_names_the_blocking_cause(objects: list[dict[str, Any]], says: str) -> None:
    """The first problem reported is the one that blocks, in the controller's order."""
    found = explain("default", "web", objects=objects)
    text = (
        first_error(found)
        if any(f.level in (Level.ERROR, Level.WARN) for f in found)
        else found[0].text
    )
    assert says in text, levels(found)


def test_explain_healthy_service_names_ip_pool_and_node() -> None:
    """All good: IP, pool and the announcing node are stated, with no warnings."""
    objects = [
        svc("web", ips=("192.0.2.0",)),
        pool("p", "192.0.2.0/28"),
        l2ad("l2", "p"),
        NODE,
        SLICE,
    ]
    status = [
        {
            "kind": "ServiceL2Status",
            "status": {"node": "n1", "serviceName": "web", "serviceNamespace": "default"},
        }
    ]
    found = explain("default", "web", objects=objects, statuses=status)
    assert all(f.level in (Level.OK, Level.INFO) for f in found), levels(found)
    oks = [f.text for f in found if f.level is Level.OK]
    assert "192.0.2.0 from pool p" in oks[0]
    assert "node n1 answers" in oks[1]
    # Why this pool: p has no serviceAllocation, so it is a fallback pool.
    assert any("pool p: auto-assign pool without serviceAllocation" in f.text for f in found)


def test_explain_reports_a_speaker_disagreement() -> None:
    """A ServiceL2Status naming another node points at a speaker not yet converged."""
    objects = [
        svc("web", ips=("192.0.2.0",)),
        pool("p", "192.0.2.0/28"),
        l2ad("l2", "p"),
        NODE,
        SLICE,
    ]
    status = [
        {
            "kind": "ServiceL2Status",
            "status": {"node": "n9", "serviceName": "web", "serviceNamespace": "default"},
        }
    ]
    found = explain("default", "web", objects=objects, statuses=status)
    assert any(f.level is Level.WARN and "n9" in f.text for f in found)


def test_missing_service() -> None:
    assert explain("default", "nope", objects=[])[0].level is Level.ERROR


WEBHOOK_OK = {"webhooks": [{"name": "x", "clientConfig": {"caBundle": "Zm9v"}}]}


@pytest.mark.parametrize(
    ("facts", "level", "says"),
    [
        pytest.param(
            Facts(objects=[], missing_kinds=["IPAddressPool"]),
            Level.ERROR,
            "CRDs are not installed",
            id="no CRDs",
        ),
        pytest.param(
            Facts(
                objects=[],
                webhook_configuration={
                    "webhooks": [
                        {"name": "ipaddresspoolvalidationwebhook.metallb.io", "clientConfig": {}}
                    ]
                },
            ),
            Level.ERROR,
            "without caBundle",
            id="webhook without CA",
        ),
        pytest.param(
            Facts(objects=[], webhook_configuration=None),
            Level.WARN,
            "no ValidatingWebhookConfiguration",
            id="no webhook",
        ),
        pytest.param(
            Facts(
                objects=[],
                webhook_configuration=WEBHOOK_OK,
                kube_proxy_config="mode: ipvs\nipvs:\n  strictARP: false\n",
            ),
            Level.ERROR,
            "strictARP",
            id="IPVS without strictARP",
        ),
        pytest.param(
            Facts(objects=[], webhook_configuration=WEBHOOK_OK, memberlist_secret=False),
            Level.WARN,
            "memberlist",
            id="no memberlist secret",
        ),
        pytest.param(
            Facts(objects=[pool("p", "192.0.2.0/28")], webhook_configuration=WEBHOOK_OK),
            Level.WARN,
            "has no L2Advertisement",
            id="pool never announced",
        ),
        pytest.param(
            Facts(
                objects=[
                    pool("p", "192.0.2.0/28"),
                    l2ad("l", "p"),
                    svc("web", annotations={"metallb.io/address-pool": "q"}),
                ],
                webhook_configuration=WEBHOOK_OK,
            ),
            Level.WARN,
            "default/web is pending",
            id="pending Service with its reason",
        ),
    ],
)
def test_doctor_findings(facts: Facts, level: Level, says: str) -> None:
    """Each misconfiguration produces a finding of the right severity, saying what to do."""
    found = doctor(facts)
    assert any(f.level is level and says in f.text for f in found), levels(found)


def test_doctor_healthy_cluster_has_no_warning() -> None:
    """A correct setup produces only ok/info lines (the checks can tell the difference)."""
    objects = [pool("p", "192.0.2.0/28"), l2ad("l", "p"), svc("web", ips=("192.0.2.0",))]
    facts = Facts(
        objects=[*objects, NODE, SLICE],
        webhook_configuration=WEBHOOK_OK,
        kube_proxy_config="mode: ipvs\nipvs:\n  strictARP: true\n",
    )
    found = doctor(facts)
    assert all(f.level in (Level.OK, Level.INFO) for f in found), levels(found)
    # Without a ready endpoint the IP is announced by nobody: that is worth a warning.
    silent = doctor(Facts(objects=[*objects, NODE], webhook_configuration=WEBHOOK_OK))
    assert any(
        f.level is Level.WARN and "no node announces it in Layer 2: no ready endpoint" in f.text
        for f in silent
    ), levels(silent)
