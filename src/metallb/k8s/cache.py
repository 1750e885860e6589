"""The informer's local copy of a resource: objects by key, plus named secondary indexes.

Keys follow client-go's ``MetaNamespaceKeyFunc``: ``"namespace/name"`` for
namespaced objects, ``"name"`` for cluster-scoped ones. Reconcilers get keys
from the workqueue and read the object here; a key that is absent means the
object is gone, which is how a level-triggered reconcile sees a deletion.

Index functions map an object to zero or more index values (for example an
EndpointSlice to the name of its Service); :meth:`Cache.by_index` then answers
"which objects have this value" without a scan. Only the informer writes to a
cache; everyone else reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, Protocol, TypeVar

from lightkube.models.meta_v1 import ObjectMeta


class KubeObject(Protocol):
    """Anything with Kubernetes object metadata: typed lightkube models and generic CRs alike."""

    @property
    def metadata(self) -> ObjectMeta | None: ...


T = TypeVar("T", bound=KubeObject)
IndexFunc = Callable[[T], Iterable[str]]


class UnkeyableObjectError(LookupError):
    """An object without a name cannot be keyed."""


def object_key(obj: KubeObject) -> str:
    """``"namespace/name"``, or ``"name"`` for a cluster-scoped object."""
    meta = obj.metadata
    if meta is None or not meta.name:
        raise UnkeyableObjectError(f"object has no metadata.name: {obj!r:.200}")
    return f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of :func:`object_key`: ``(namespace or None, name)``."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def resource_version(obj: KubeObject) -> str:
    meta = obj.metadata
    return (meta.resourceVersion or "") if meta is not None else ""


def namespace_index(obj: KubeObject) -> Iterable[str]:
    """Index by namespace (cluster-scoped objects go under ``""``)."""
    meta = obj.metadata
    return ((meta.namespace or "") if meta is not None else "",)


class Cache(Generic[T]):
    """Objects by key, with secondary indexes kept in step on every write."""

    def __init__(self, indexers: Mapping[str, IndexFunc[T]] | None = None) -> None:
        self._items: dict[str, T] = {}
        self._indexers: dict[str, IndexFunc[T]] = dict(indexers or {})
        # index name -> index value -> keys of the objects that have it
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}

    # -- reading -----------------------------------------------------------------
    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    def objects(self) -> list[T]:
        return list(self._items.values())

    def by_index(self, index: str, value: str) -> list[T]:
        """Objects whose index function returned ``value``, in key order."""
        return [self._items[k] for k in self.index_keys(index, value)]

    def index_keys(self, index: str, value: str) -> list[str]:
        if index not in self._indices:
            raise LookupError(f"no index named {index!r}")
        return sorted(self._indices[index].get(value, ()))

    def index_values(self, index: str) -> list[str]:
        """Every value the index currently holds."""
        if index not in self._indices:
            raise LookupError(f"no index named {index!r}")
        return sorted(self._indices[index])

    def resource_versions(self) -> dict[str, str]:
        """Key to resourceVersion of every object (what a relist diffs against)."""
        return {k: resource_version(o) for k, o in self._items.items()}

    # -- writing (the informer only) ---------------------------------------------
    def add_indexer(self, name: str, func: IndexFunc[T]) -> None:
        """Add an index, built at once from the objects already cached."""
        if name in self._indexers:
            raise ValueError(f"index {name!r} exists")
        self._indexers[name] = func
        self._indices[name] = {}
        for key, obj in self._items.items():
            self._index(name, key, obj)

    def upsert(self, key: str, obj: T) -> T | None:
        """Store ``obj`` under ``key``; return the object it replaced, if any."""
        old = self._items.get(key)
        if old is not None:
            self._unindex_all(key, old)
        self._items[key] = obj
        for name in self._indexers:
            self._index(name, key, obj)
        return old

    def delete(self, key: str) -> T | None:
        """Remove ``key``; return the object that was there, if any."""
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex_all(key, old)
        return old

    def replace(self, items: Mapping[str, T]) -> None:
        """Make the cache hold exactly ``items`` (after a list), rebuilding every index."""
        self._items = dict(items)
        self._indices = {n: {} for n in self._indexers}
        for key, obj in self._items.items():
            for name in self._indexers:
                self._index(name, key, obj)

    def _index(self, name: str, key: str, obj: T) -> None:
        index = self._indices[name]
        for value in set(self._indexers[name](obj)):
            index.setdefault(value, set()).add(key)

    def _unindex_all(self, key: str, obj: T) -> None:
        for name, func in self._indexers.items():
            index = self._indices[name]
            for value in set(func(obj)):
                keys = index.get(value)
                if keys is None:
                    continue
                keys.discard(key)
                if not keys:
                    # Drop empty buckets so index_values() lists only live values.
                    del index[value]
