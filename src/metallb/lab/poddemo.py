"""What the real-node lab shows: the demo pools and Services, backed by real Pods.

The same pools, advertisements and Services as :mod:`metallb.lab.demo`, but the
backends are the Pods of a ``web`` DaemonSet (one per node, answering its node's name
on port 8080) selected by the Services, so the EndpointSlices, their readiness and
``externalTrafficPolicy: Local`` come from the kubelets and the endpointslice
controller, not from the harness. Everything is applied with ``kubectl apply`` as a
user would.
"""

from __future__ import annotations

from typing import Any

from metallb.lab.bgplab import BGP_RANGE, NODE_ASN, ROUTER_ASN, ROUTER_IP
from metallb.lab.demo import BGP_POOL, DEMO_NS, POOL_V4, POOL_V6
from metallb.lab.topology import NS

WEB_PORT = 8080
L2_POOL = "lab-l2"


def pool_docs() -> list[dict[str, Any]]:
    """The Layer 2 pool and its advertisement (on the data LAN's ``eth0`` only: the
    management LAN is not where clients are)."""
    return [
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": L2_POOL, "namespace": NS},
            "spec": {"addresses": [POOL_V4, POOL_V6]},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": L2_POOL, "namespace": NS},
            "spec": {"ipAddressPools": [L2_POOL], "interfaces": ["eth0"]},
        },
    ]


def bgp_docs() -> list[dict[str, Any]]:
    """The BGPPeer for the lab's router, the BGP pool (not auto-assigned) and its
    advertisement."""
    return [
        {
            "apiVersion": "metallb.io/v1beta2",
            "kind": "BGPPeer",
            "metadata": {"name": "lab-router", "namespace": NS},
            "spec": {"myASN": NODE_ASN, "peerASN": ROUTER_ASN, "peerAddress": ROUTER_IP},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": BGP_POOL, "namespace": NS},
            "spec": {"addresses": [BGP_RANGE], "autoAssign": False},
        },
        {
            "apiVersion": "metallb.io/v1beta1",
            "kind": "BGPAdvertisement",
            "metadata": {"name": BGP_POOL, "namespace": NS},
            "spec": {"ipAddressPools": [BGP_POOL]},
        },
    ]


def backend_docs(image: str) -> list[dict[str, Any]]:
    """The demo namespace and the ``web`` DaemonSet answering each node's name."""
    labels = {"app": "web"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DEMO_NS}},
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "web", "namespace": DEMO_NS},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "automountServiceAccountToken": False,
                        "containers": [
                            {
                                "name": "web",
                                "image": image,
                                "env": [
                                    {
                                        "name": "NODE_NAME",
                                        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                    },
                                    {
                                        "name": "POD_NAME",
                                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                    },
                                ],
                                "ports": [{"containerPort": WEB_PORT, "name": "http"}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/", "port": WEB_PORT},
                                    "periodSeconds": 2,
                                },
                            }
                        ],
                    },
                },
            },
        },
    ]


def service_doc(
    name: str,
    *,
    family: str = "IPv4",
    policy: str = "Cluster",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A LoadBalancer Service on port 80 in front of the ``web`` Pods."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": DEMO_NS, "annotations": annotations or {}},
        "spec": {
            "type": "LoadBalancer",
            "ipFamilies": [family],
            "selector": {"app": "web"},
            "externalTrafficPolicy": policy,
            "ports": [{"port": 80, "targetPort": WEB_PORT, "protocol": "TCP"}],
        },
    }


def demo_docs(image: str, *, bgp: bool) -> list[dict[str, Any]]:
    """Everything ``metallb lab up`` applies after MetalLB is Ready."""
    docs = [*pool_docs(), *backend_docs(image)]
    docs += [service_doc("web"), service_doc("web6", family="IPv6")]
    if bgp:
        docs += bgp_docs()
        docs.append(service_doc("web-bgp", annotations={"metallb.io/address-pool": BGP_POOL}))
    return docs
