"""Fixtures for the Layer 2 speaker tests: one :class:`L2Cluster` per module, and
Services (with hand-made EndpointSlices: no kubelet runs pods here) deleted after each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Service
from lightkube.resources.discovery_v1 import EndpointSlice

from metallb.lab.demo import create_service
from tests.integration.speaker.harness import (
    NS,
    L2Adv,
    L2Cluster,
    Pool,
    wait_for,
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[L2Cluster]:
    with L2Cluster() as c:
        assert c.kube is not None
        c.kube.create(
            Pool(
                metadata=ObjectMeta(name="l2", namespace=NS),
                spec={"addresses": ["192.0.2.200-192.0.2.215", "2001:db8::200-2001:db8::20f"]},
            )
        )
        c.kube.create(
            Pool(
                metadata=ObjectMeta(name="sel", namespace=NS),
                spec={"addresses": ["192.0.2.216-192.0.2.223"], "autoAssign": False},
            )
        )
        c.kube.create(
            L2Adv(metadata=ObjectMeta(name="all", namespace=NS), spec={"ipAddressPools": ["l2"]})
        )
        c.kube.create(
            L2Adv(
                metadata=ObjectMeta(name="n2n3", namespace=NS),
                spec={
                    "ipAddressPools": ["sel"],
                    "nodeSelectors": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": ["n2", "n3"],
                                }
                            ]
                        }
                    ],
                },
            )
        )
        yield c


class Services:
    """Creates LoadBalancer Services with an endpoint on every node; deletes them after."""

    def __init__(self, cluster: L2Cluster) -> None:
        self.cluster = cluster
        self.created: list[str] = []

    def create(self, *, ips: str = "", family: str = "IPv4", **spec: Any) -> str:
        kube = self.cluster.kube
        assert kube is not None
        name = f"web-{uuid.uuid4().hex[:6]}"
        annotations = {"metallb.io/loadBalancerIPs": ips} if ips else None
        create_service(kube, name, "default", family, annotations, **spec)
        self.created.append(name)
        return name

    def ip(self, name: str, timeout: float = 30) -> str:
        kube = self.cluster.kube
        assert kube is not None

        def assigned() -> str | None:
            svc = kube.get(Service, name, namespace="default")
            lb = svc.status.loadBalancer if svc.status else None
            ingress = (lb.ingress or []) if lb else []
            return ingress[0].ip if ingress else None

        return wait_for(assigned, timeout, f"an IP for {name}")

    def delete_all(self) -> None:
        kube = self.cluster.kube
        assert kube is not None
        for name in self.created:
            for res, obj in ((Service, name), (EndpointSlice, f"{name}-1")):
                try:
                    kube.delete(res, obj, namespace="default")
                except ApiError as err:
                    if err.status.code != 404:
                        raise


@pytest.fixture
def services(cluster: L2Cluster) -> Iterator[Services]:
    s = Services(cluster)
    yield s
    s.delete_all()
