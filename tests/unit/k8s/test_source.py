"""Watch lines decode into events, and the watch request asks for what the informer needs.

The recorded lines below are what a kube-apiserver sends (copied from a watch
on the test control plane, trimmed); no network is used here.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from lightkube import AsyncClient, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import Node, Service

from metallb.k8s.source import (
    EventType,
    Expired,
    LightkubeListWatch,
    WatchError,
    decode_watch_line,
)

BOOKMARK = (
    b'{"type":"BOOKMARK","object":{"kind":"Service","apiVersion":"v1","metadata":'
    b'{"resourceVersion":"4242","creationTimestamp":null,'
    b'"annotations":{"k8s.io/initial-events-end":"true"}},"spec":{},"status":{"loadBalancer":{}}}}'
)
ADDED = (
    b'{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{"name":"web",'
    b'"namespace":"t1","uid":"0b7c","resourceVersion":"4300"},"spec":{"ports":[{"port":80,'
    b'"protocol":"TCP","targetPort":80}],"type":"LoadBalancer"},"status":{"loadBalancer":{}}}}'
)
GONE = (
    b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},'
    b'"status":"Failure","message":"too old resource version: 1 (4301)",'
    b'"reason":"Expired","code":410}}'
)
INTERNAL = (
    b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},'
    b'"status":"Failure","message":"etcdserver: leader changed","code":500}}'
)


def test_bookmark_line_carries_only_its_resource_version() -> None:
    """A BOOKMARK becomes an event with the RV and no object."""
    event = decode_watch_line(BOOKMARK, Service)
    assert event.type is EventType.BOOKMARK
    assert event.resource_version == "4242"
    assert event.object is None


def test_object_line_decodes_into_the_resource_type() -> None:
    """An ADDED line gives a typed Service and its RV."""
    event = decode_watch_line(ADDED.decode(), Service)
    assert event.type is EventType.ADDED
    assert event.resource_version == "4300"
    assert isinstance(event.object, Service)
    assert event.object.spec is not None
    assert event.object.spec.type == "LoadBalancer"


def test_error_410_line_raises_expired() -> None:
    """An ERROR event with code 410 means: relist."""
    with pytest.raises(Expired, match="too old resource version"):
        decode_watch_line(GONE, Service)


def test_other_error_line_raises_watch_error_with_code() -> None:
    """Any other ERROR event is a retryable watch error, not an expiry."""
    with pytest.raises(WatchError) as info:
        decode_watch_line(INTERNAL, Service)
    assert info.value.code == 500
    assert not isinstance(info.value, Expired)


def test_unknown_event_type_is_an_error() -> None:
    """An event type we do not know is refused rather than guessed."""
    with pytest.raises(WatchError, match="unknown watch event"):
        decode_watch_line(b'{"type":"SURPRISE","object":{}}', Service)


def offline_client() -> AsyncClient:
    """A client for a server that is never contacted: only requests are built."""
    config = KubeConfig.from_dict(
        {
            "clusters": [{"name": "c", "cluster": {"server": "https://192.0.2.1:6443"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )
    return AsyncClient(config=config)


def query(url: object) -> dict[str, list[str]]:
    return parse_qs(str(url).partition("?")[2])


def test_watch_request_asks_for_bookmarks_from_the_given_rv() -> None:
    """The watch request sets watch, allowWatchBookmarks, resourceVersion and a server timeout."""
    source = LightkubeListWatch(offline_client(), Service, label_selector="app=web")
    request = source.watch_request("1234", 321)
    assert request.url.path == "/api/v1/services", "namespace=None must watch all namespaces"
    params = query(request.url)
    assert params["watch"] == ["true"]
    assert params["allowWatchBookmarks"] == ["true"]
    assert params["resourceVersion"] == ["1234"]
    assert params["timeoutSeconds"] == ["321"]
    assert params["labelSelector"] == ["app=web"]


def test_watch_request_for_namespace_cluster_scoped_and_crd() -> None:
    """Namespaced, cluster-scoped and custom resources get the right paths."""
    client = offline_client()
    ns = LightkubeListWatch(client, Service, namespace="t1").watch_request("1", 300)
    assert ns.url.path == "/api/v1/namespaces/t1/services"
    node = LightkubeListWatch(client, Node).watch_request("1", 300)
    assert node.url.path == "/api/v1/nodes"
    pool = create_namespaced_resource("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")
    crd = LightkubeListWatch(client, pool).watch_request("1", 300)
    assert crd.url.path == "/apis/metallb.io/v1beta1/ipaddresspools"
    assert query(crd.url)["allowWatchBookmarks"] == ["true"]
