"""The cache keys objects like client-go and keeps its secondary indexes in step with writes."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import Node, Service

from metallb.k8s.cache import (
    Cache,
    UnkeyableObjectError,
    namespace_index,
    object_key,
    split_key,
)


def svc(ns: str, name: str, *, rv: str = "1", pool: str | None = None) -> Service:
    labels = {"pool": pool} if pool else None
    return Service(metadata=ObjectMeta(name=name, namespace=ns, resourceVersion=rv, labels=labels))


def by_pool(obj: Service) -> Iterable[str]:
    labels = (obj.metadata.labels if obj.metadata else None) or {}
    return [labels["pool"]] if "pool" in labels else []


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        pytest.param(svc("ns", "web"), "ns/web", id="namespaced"),
        pytest.param(Node(metadata=ObjectMeta(name="n1")), "n1", id="cluster-scoped"),
    ],
)
def test_object_key_and_split_key_round_trip(obj: Service | Node, key: str) -> None:
    """Keys are namespace/name or name, and split back into their parts."""
    assert object_key(obj) == key
    meta = obj.metadata
    assert meta is not None
    assert split_key(key) == (meta.namespace, meta.name)


def test_object_without_name_cannot_be_keyed() -> None:
    """A nameless object is an error, not a key of "None"."""
    with pytest.raises(UnkeyableObjectError):
        object_key(Service(metadata=ObjectMeta(namespace="ns")))


def test_index_follows_upsert_and_delete() -> None:
    """Changing an object's index value moves it between buckets; deleting removes it."""
    cache: Cache[Service] = Cache({"pool": by_pool})
    cache.upsert("a/x", svc("a", "x", pool="blue"))
    cache.upsert("a/y", svc("a", "y", pool="blue"))
    assert cache.index_keys("pool", "blue") == ["a/x", "a/y"]
    old = cache.upsert("a/x", svc("a", "x", rv="2", pool="red"))
    assert old is not None
    assert cache.index_keys("pool", "blue") == ["a/y"]
    assert cache.index_keys("pool", "red") == ["a/x"]
    cache.delete("a/y")
    assert cache.index_keys("pool", "blue") == []
    assert cache.index_values("pool") == ["red"], "empty buckets must disappear"
    assert [o.metadata.name for o in cache.by_index("pool", "red") if o.metadata] == ["x"]


def test_replace_rebuilds_items_and_indexes() -> None:
    """After replace() the cache holds exactly the new objects, indexes included."""
    cache: Cache[Service] = Cache({"pool": by_pool, "namespace": namespace_index})
    cache.upsert("a/old", svc("a", "old", pool="blue"))
    cache.replace({"b/new": svc("b", "new", rv="7", pool="green")})
    assert cache.keys() == ["b/new"]
    assert "a/old" not in cache
    assert cache.index_values("pool") == ["green"]
    assert cache.index_keys("namespace", "b") == ["b/new"]
    assert cache.resource_versions() == {"b/new": "7"}


def test_add_indexer_indexes_existing_objects() -> None:
    """An index added late covers what is already cached."""
    cache: Cache[Service] = Cache()
    cache.upsert("a/x", svc("a", "x", pool="blue"))
    cache.add_indexer("pool", by_pool)
    assert cache.index_keys("pool", "blue") == ["a/x"]
    with pytest.raises(ValueError, match="exists"):
        cache.add_indexer("pool", by_pool)


def test_unknown_index_is_an_error() -> None:
    """Asking for an index that was never defined fails loudly instead of returning nothing."""
    cache: Cache[Service] = Cache()
    with pytest.raises(LookupError, match="no index"):
        cache.index_keys("pool", "blue")
    with pytest.raises(LookupError, match="no index"):
        cache.index_values("pool")


def test_delete_of_missing_key_returns_none() -> None:
    """Deleting what is not there is harmless."""
    cache: Cache[Service] = Cache({"pool": by_pool})
    assert cache.delete("a/none") is None
    assert len(cache) == 0
