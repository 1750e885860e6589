"""What ``metallb lab up`` shows: an L2 pool and demo Services with backends on each node,
and, when the lab has its BGP router, a BGPPeer, a BGP pool and a Service announced by BGP.

Services are selector-less with hand-made EndpointSlices (no kubelet runs Pods in the
lab); each node's backend is the small HTTP server the cluster starts on it, answering
its node name, so a request through the service IP shows which node answered.
"""

from __future__ import annotations

from typing import Any

from lightkube import Client
from lightkube.models.core_v1 import ServicePort, ServiceSpec
from lightkube.models.discovery_v1 import Endpoint, EndpointConditions, EndpointPort
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Namespace, Service
from lightkube.resources.discovery_v1 import EndpointSlice

from metallb.lab.bgplab import BGP_RANGE, NODE_ASN, ROUTER_ASN, ROUTER_IP, BGPAdv, BGPPeer
from metallb.lab.topology import DATA_IP, DATA_IP6, NODES, NS, L2Adv, Pool

DEMO_NS = "demo"
POOL_V4 = "192.0.2.200-192.0.2.215"
POOL_V6 = "2001:db8::200-2001:db8::20f"
BGP_POOL = "lab-bgp"


def create_service(
    kube: Client,
    name: str,
    namespace: str,
    family: str = "IPv4",
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> None:
    """A LoadBalancer Service on port 80 with a ready endpoint on every node."""
    kube.create(
        Service(
            metadata=ObjectMeta(name=name, namespace=namespace, annotations=annotations),
            spec=ServiceSpec(
                type="LoadBalancer",
                ipFamilies=[family],
                ports=[ServicePort(port=80, protocol="TCP")],
                **spec,
            ),
        )
    )
    addresses = DATA_IP if family == "IPv4" else DATA_IP6
    kube.create(
        EndpointSlice(
            metadata=ObjectMeta(
                name=f"{name}-1", namespace=namespace, labels={"kubernetes.io/service-name": name}
            ),
            addressType=family,
            endpoints=[
                Endpoint(
                    addresses=[addresses[n]], nodeName=n, conditions=EndpointConditions(ready=True)
                )
                for n in NODES
            ],
            ports=[EndpointPort(port=80, protocol="TCP")],
        )
    )


def deploy_demo(kube: Client) -> list[str]:
    """The pool, its L2Advertisement and two demo Services; returns their names."""
    kube.create(
        Pool(
            metadata=ObjectMeta(name="lab-l2", namespace=NS), spec={"addresses": [POOL_V4, POOL_V6]}
        )
    )
    kube.create(
        L2Adv(metadata=ObjectMeta(name="lab-l2", namespace=NS), spec={"ipAddressPools": ["lab-l2"]})
    )
    kube.create(Namespace(metadata=ObjectMeta(name=DEMO_NS)))
    create_service(kube, "web", DEMO_NS)
    create_service(kube, "web6", DEMO_NS, family="IPv6")
    return ["web", "web6"]


def deploy_bgp_demo(kube: Client) -> list[str]:
    """The BGPPeer for the lab's router, the BGP pool, its BGPAdvertisement and the
    Service ``web-bgp`` (policy Cluster: every node advertises it); returns its name.

    The pool is not auto-assigned (the Service asks for it by annotation): pools are
    tried by name, and ``lab-bgp`` sorts before ``lab-l2``, so the Layer 2 demo Services
    would otherwise take BGP addresses. Call after :func:`deploy_demo` (it creates the
    namespace).
    """
    kube.create(
        BGPPeer(
            metadata=ObjectMeta(name="lab-router", namespace=NS),
            spec={"myASN": NODE_ASN, "peerASN": ROUTER_ASN, "peerAddress": ROUTER_IP},
        )
    )
    kube.create(
        Pool(
            metadata=ObjectMeta(name=BGP_POOL, namespace=NS),
            spec={"addresses": [BGP_RANGE], "autoAssign": False},
        )
    )
    kube.create(
        BGPAdv(
            metadata=ObjectMeta(name=BGP_POOL, namespace=NS), spec={"ipAddressPools": [BGP_POOL]}
        )
    )
    create_service(
        kube,
        "web-bgp",
        DEMO_NS,
        annotations={"metallb.io/address-pool": BGP_POOL},
        externalTrafficPolicy="Cluster",
    )
    return ["web-bgp"]
