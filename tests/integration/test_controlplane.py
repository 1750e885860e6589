"""The test control plane is the real thing: storage, RBAC, CRD schemas and controllers.

These tests prove the ground every later adapter test stands on; each would
fail against a fake that skipped the behaviour it checks.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from lightkube import ApiError, Client
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.apiextensions_v1 import (
    CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec,
    CustomResourceDefinitionVersion,
    CustomResourceValidation,
    JSONSchemaProps,
)
from lightkube.models.authentication_v1 import TokenRequestSpec
from lightkube.models.core_v1 import (
    Container,
    NodeSpec,
    PodCondition,
    PodIP,
    PodSpec,
    PodStatus,
    ServicePort,
    ServiceSpec,
)
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import PolicyRule, RoleRef, Subject
from lightkube.resources.apiextensions_v1 import CustomResourceDefinition
from lightkube.resources.core_v1 import Node, Pod, Service, ServiceAccount
from lightkube.resources.discovery_v1 import EndpointSlice
from lightkube.resources.rbac_authorization_v1 import Role, RoleBinding

from metallb.lab.controlplane import SERVICE_CIDR, ControlPlane
from tests.conftest import client_for

pytestmark = pytest.mark.controlplane
T = TypeVar("T")
KUBECTL = str(Path(sys.executable).with_name("kubectl"))


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30.0) -> T:
    """Poll until ``probe`` returns a value; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def kubectl(cp: ControlPlane, *args: str) -> str:
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={cp.kubeconfig}", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout


def test_loadbalancer_service_round_trips(
    kube: Client, control_plane: ControlPlane, namespace: str
) -> None:
    """A LoadBalancer Service is stored, gets a ClusterIP from the apiserver, and reads back
    identically through lightkube and through the real kubectl."""
    kube.create(
        Service(
            metadata=ObjectMeta(name="web", namespace=namespace),
            spec=ServiceSpec(type="LoadBalancer", ports=[ServicePort(port=80, protocol="TCP")]),
        )
    )
    got = kube.get(Service, "web", namespace=namespace)
    assert got.spec is not None
    assert got.spec.type == "LoadBalancer"
    assert got.spec.clusterIP is not None
    assert ipaddress.ip_address(got.spec.clusterIP) in ipaddress.ip_network(SERVICE_CIDR)
    # The apiserver also allocated a NodePort, as it does for every LoadBalancer Service.
    assert got.spec.ports is not None
    assert got.spec.ports[0].nodePort

    doc = json.loads(kubectl(control_plane, "get", "service", "web", "-n", namespace, "-o", "json"))
    assert doc["spec"]["type"] == "LoadBalancer"
    assert doc["spec"]["clusterIP"] == got.spec.clusterIP
    assert got.metadata is not None
    assert doc["metadata"]["uid"] == got.metadata.uid
    assert "EXTERNAL-IP" in kubectl(control_plane, "get", "service", "-n", namespace)


def test_server_reports_the_pinned_release(control_plane: ControlPlane) -> None:
    """Version ldflags reach the binary: /version names a real Kubernetes release."""
    version = json.loads(kubectl(control_plane, "get", "--raw", "/version"))
    assert version["gitVersion"].startswith("v1.36.")
    assert version["major"] == "1"
    assert version["minor"] == "36"


@pytest.fixture
def service_account_client(
    kube: Client, control_plane: ControlPlane, namespace: str
) -> Iterator[Client]:
    """A client authenticated by a real ServiceAccount token from the TokenRequest API."""
    kube.create(ServiceAccount(metadata=ObjectMeta(name="reader", namespace=namespace)))
    req = kube.create(
        ServiceAccount.Token(
            metadata=ObjectMeta(name="reader", namespace=namespace),
            spec=TokenRequestSpec(audiences=[], expirationSeconds=3600),
        ),
        "reader",
        namespace=namespace,
    )
    assert req.status is not None
    assert req.status.token
    path = control_plane.token_kubeconfig(f"reader-{namespace}", req.status.token)
    yield client_for(str(path))
    path.unlink()


def test_rbac_denies_then_allows(
    kube: Client, service_account_client: Client, namespace: str
) -> None:
    """RBAC is enforced: a bare ServiceAccount gets 403; after a RoleBinding it may list."""
    with pytest.raises(ApiError) as denied:
        list(service_account_client.list(Service, namespace=namespace))
    assert denied.value.status.code == 403

    kube.create(
        Role(
            metadata=ObjectMeta(name="svc-reader", namespace=namespace),
            rules=[PolicyRule(apiGroups=[""], resources=["services"], verbs=["list"])],
        )
    )
    kube.create(
        RoleBinding(
            metadata=ObjectMeta(name="svc-reader", namespace=namespace),
            roleRef=RoleRef(apiGroup="rbac.authorization.k8s.io", kind="Role", name="svc-reader"),
            subjects=[Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
        )
    )

    def may_list() -> bool | None:
        try:
            list(service_account_client.list(Service, namespace=namespace))
        except ApiError as err:
            if err.status.code != 403:
                raise
            return None  # the authorizer's cache has not seen the binding yet
        return True

    eventually(may_list, "the RoleBinding to take effect", timeout=15)
    # The grant is exactly `list services`: other verbs stay forbidden.
    with pytest.raises(ApiError) as still_denied:
        service_account_client.create(
            Service(
                metadata=ObjectMeta(name="x", namespace=namespace),
                spec=ServiceSpec(ports=[ServicePort(port=1)]),
            )
        )
    assert still_denied.value.status.code == 403


@pytest.fixture(scope="module")
def widget_crd(kube: Client) -> Iterator[str]:
    """A tiny CRD whose schema requires spec.size to be an integer from 1 to 10."""
    name = "widgets.test.metallb-py.io"
    schema = JSONSchemaProps(
        type="object",
        required=["spec"],
        properties={
            "spec": JSONSchemaProps(
                type="object",
                required=["size"],
                properties={"size": JSONSchemaProps(type="integer", minimum=1, maximum=10)},
            )
        },
    )
    kube.create(
        CustomResourceDefinition(
            metadata=ObjectMeta(name=name),
            spec=CustomResourceDefinitionSpec(
                group="test.metallb-py.io",
                names=CustomResourceDefinitionNames(
                    kind="Widget", plural="widgets", singular="widget", listKind="WidgetList"
                ),
                scope="Namespaced",
                versions=[
                    CustomResourceDefinitionVersion(
                        name="v1",
                        served=True,
                        storage=True,
                        schema=CustomResourceValidation(openAPIV3Schema=schema),
                    )
                ],
            ),
        )
    )

    def established() -> bool | None:
        crd = kube.get(CustomResourceDefinition, name)
        conds = crd.status.conditions if crd.status and crd.status.conditions else []
        return True if any(c.type == "Established" and c.status == "True" for c in conds) else None

    eventually(established, "the CRD to be established")
    yield name
    kube.delete(CustomResourceDefinition, name)


@pytest.mark.usefixtures("widget_crd")
@pytest.mark.parametrize(
    ("spec", "accepted"),
    [
        pytest.param({"size": 3}, True, id="valid"),
        pytest.param({"size": 0}, False, id="below minimum"),
        pytest.param({"size": "big"}, False, id="wrong type"),
        pytest.param({}, False, id="missing required field"),
    ],
)
def test_crd_schema_is_enforced(
    kube: Client, namespace: str, spec: dict[str, object], accepted: bool
) -> None:
    """The apiserver itself validates custom resources against their OpenAPI schema."""
    widget = create_namespaced_resource("test.metallb-py.io", "v1", "Widget", "widgets")
    obj = widget(metadata=ObjectMeta(name="w", namespace=namespace), spec=spec)
    if accepted:
        kube.create(obj)
        assert kube.get(widget, "w", namespace=namespace)["spec"] == spec
    else:
        with pytest.raises(ApiError) as refused:
            kube.create(obj)
        assert refused.value.status.code == 422
        assert "spec" in (refused.value.status.message or "")


def test_endpointslice_controller_builds_slices(kube: Client, namespace: str) -> None:
    """With no kubelet, a Pod patched Ready with a podIP still yields an EndpointSlice:
    the endpointslice controller of the real kube-controller-manager is running."""
    node = f"node-{namespace}"
    kube.create(Node(metadata=ObjectMeta(name=node), spec=NodeSpec()))
    try:
        kube.create(
            Service(
                metadata=ObjectMeta(name="web", namespace=namespace),
                spec=ServiceSpec(
                    type="LoadBalancer",
                    selector={"app": "web"},
                    ports=[ServicePort(port=80, protocol="TCP")],
                ),
            )
        )
        kube.create(
            Pod(
                metadata=ObjectMeta(name="web-0", namespace=namespace, labels={"app": "web"}),
                spec=PodSpec(nodeName=node, containers=[Container(name="c", image="none")]),
            )
        )
        kube.patch(
            Pod.Status,
            "web-0",
            {
                "status": PodStatus(
                    phase="Running",
                    podIP="10.244.1.7",
                    podIPs=[PodIP(ip="10.244.1.7")],
                    conditions=[PodCondition(type="Ready", status="True")],
                ).to_dict()
            },
            namespace=namespace,
        )

        def ready_address() -> list[str] | None:
            slices = kube.list(
                EndpointSlice,
                namespace=namespace,
                labels={"kubernetes.io/service-name": "web"},
            )
            for s in slices:
                for ep in s.endpoints or []:
                    if ep.conditions and ep.conditions.ready and ep.nodeName == node:
                        return list(ep.addresses)
            return None

        assert eventually(ready_address, "an EndpointSlice for the ready Pod") == ["10.244.1.7"]
    finally:
        kube.delete(Node, node)


def test_dual_stack_services_get_both_cluster_ips(kube: Client, namespace: str) -> None:
    """The service CIDRs are dual-stack, so IPv6 and dual-stack Services can be tested."""
    kube.create(
        Service(
            metadata=ObjectMeta(name="dual", namespace=namespace),
            spec=ServiceSpec(
                type="LoadBalancer",
                ipFamilyPolicy="RequireDualStack",
                ports=[ServicePort(port=80, protocol="TCP")],
            ),
        )
    )
    got = kube.get(Service, "dual", namespace=namespace)
    assert got.spec is not None
    families = [ipaddress.ip_address(ip).version for ip in got.spec.clusterIPs or []]
    assert sorted(families) == [4, 6]
