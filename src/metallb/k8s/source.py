"""List and watch one resource over lightkube, with what lightkube's own watch lacks.

lightkube's public ``AsyncClient.watch`` cannot ask for bookmarks, and on
``410 Gone`` it either raises or silently re-watches from "now", losing the
deletions that happened in between. An informer needs more control, so this
module issues the watch request itself: lightkube builds the request (URL,
namespace, authentication, TLS, all from its kubeconfig handling) and we send
it on lightkube's own httpx client and read the stream line by line.

What comes out is a plain sequence of :class:`WatchEvent` values, so the
informer's logic does not depend on HTTP; ``ERROR`` events become exceptions:
:class:`Expired` for 410 (the caller must relist), :class:`WatchError` for
anything else. An HTTP 410 on the request itself is reported the same way.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, cast

import httpx2
from lightkube import AsyncClient
from lightkube.core import decoders
from lightkube.core import resource as lkr

from metallb.k8s.cache import KubeObject

T = TypeVar("T", bound=KubeObject)
T_co = TypeVar("T_co", bound=KubeObject, covariant=True)

# Objects per list page: bounds the size of one response at 10k Services.
DEFAULT_LIST_CHUNK = 500
HTTP_GONE = 410


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


@dataclass(frozen=True, slots=True)
class WatchEvent(Generic[T_co]):
    """One decoded watch event; ``object`` is None for a BOOKMARK (it carries only an RV)."""

    type: EventType
    resource_version: str
    object: T_co | None


class Expired(Exception):  # noqa: N818 - the apiserver's own word for 410 ("Expired"/"Gone")
    """410 Gone: the resourceVersion is older than the server keeps; only a relist helps."""


class WatchError(Exception):
    """The watch failed in another way (an ERROR event or an HTTP error); retry with backoff."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code}: {message}" if code is not None else message)
        self.code = code


class ListWatch(Protocol[T]):
    """What an informer needs from the API: a consistent list, and a watch from an RV."""

    async def list(self) -> tuple[builtins.list[T], str]:
        """All current objects and the collection's resourceVersion."""
        ...

    def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> AsyncGenerator[WatchEvent[T], None]:
        """Events after ``resource_version``; ends when the server closes the stream cleanly."""
        ...


def strip_managed_fields(obj: T) -> T:
    """Drop ``metadata.managedFields`` (client-go's ``TransformStripManagedFields``).

    Nothing in MetalLB reads them, and they are most of a cached Service's memory: about
    5 KB of 7 KB for a LoadBalancer Service written by two managers.
    """
    if obj.metadata is not None:
        obj.metadata.managedFields = None
    return obj


def decode_watch_line(line: bytes | str, res: type[T]) -> WatchEvent[T]:
    """Decode one line of a watch stream; raise for ERROR events.

    A BOOKMARK's object holds only ``metadata.resourceVersion`` (and maybe an
    annotation), so it is not decoded into the resource type at all.
    """
    raw_line = line.encode() if isinstance(line, str) else line
    event = decoders.decode_watch_event(raw_line)
    kind = event.type
    if kind == "ERROR":
        status = decoders.decode_status(bytes(event.object))
        if status.code == HTTP_GONE:
            raise Expired(status.message or "resourceVersion expired")
        raise WatchError(status.code, status.message or status.reason or "watch error")
    if kind == EventType.BOOKMARK:
        meta = json.loads(bytes(event.object)).get("metadata") or {}
        return WatchEvent(EventType.BOOKMARK, str(meta.get("resourceVersion") or ""), None)
    try:
        etype = EventType(kind)
    except ValueError:
        raise WatchError(None, f"unknown watch event type {kind!r}") from None
    obj = cast(T, decoders.decode_object(bytes(event.object), res))
    meta = obj.metadata
    rv = (meta.resourceVersion or "") if meta is not None else ""
    return WatchEvent(etype, rv, obj)


class LightkubeListWatch(Generic[T]):
    """List and watch ``res`` (a lightkube resource class, typed or generic) through a client.

    ``namespace=None`` means all namespaces for a namespaced resource.
    Selectors are Kubernetes selector strings (``"app=x,tier!=db"``). ``transform``
    is applied to every object as it is decoded, before anything keeps it (for example
    :func:`strip_managed_fields`), so a 10k-object list never holds the full objects at once.
    """

    def __init__(
        self,
        client: AsyncClient,
        res: type[T],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        chunk_size: int = DEFAULT_LIST_CHUNK,
        transform: Callable[[T], T] | None = None,
    ) -> None:
        self.res = res
        self._client = client
        # lightkube reads namespace=None as "the kubeconfig's namespace"; "*" is all.
        namespaced = issubclass(cast(type[Any], res), lkr.NamespacedResource)
        self._namespace = namespace if namespace is not None or not namespaced else "*"
        self._selectors = {"labelSelector": label_selector, "fieldSelector": field_selector}
        self._chunk_size = chunk_size
        self._transform = transform

    @property
    def _generic(self) -> Any:
        # The request builder and the httpx client behind lightkube's AsyncClient.
        # Private, but stable across 0.x and 1.0, and the one way to ask for
        # bookmarks without re-implementing kubeconfig handling.
        return self._client._client

    async def list(self) -> tuple[builtins.list[T], str]:
        br = self._generic.prepare_request(
            "list",
            res=self.res,
            namespace=self._namespace,
            params={"limit": self._chunk_size, **self._selectors},
        )
        try:
            result = self._generic.list(br)
            tf = self._transform
            items: builtins.list[T] = [obj if tf is None else tf(obj) async for obj in result]
        except httpx2.HTTPStatusError as err:
            # An expired continue token between chunks is a 410 too; relisting fixes it.
            if err.response.status_code == HTTP_GONE:
                raise Expired(str(err)) from err
            raise
        return items, str(result.resourceVersion)

    def watch_request(self, resource_version: str, timeout_seconds: int) -> httpx2.Request:
        """The HTTP request a watch sends (exposed so tests can check what it asks for)."""
        params = {
            "resourceVersion": resource_version,
            # Bookmarks keep our RV fresh on quiet resources, so a reconnect after
            # a long quiet spell resumes instead of hitting 410 and relisting.
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
            **self._selectors,
        }
        br = self._generic.prepare_request(
            "list", res=self.res, namespace=self._namespace, watch=True, params=params
        )
        # The server ends the watch after timeoutSeconds; a read that stays
        # silent well past that means a dead connection, not a quiet resource.
        br.timeout = httpx2.Timeout(10.0, read=timeout_seconds + 30.0)
        return cast(httpx2.Request, self._generic.build_adapter_request(br))

    async def watch(
        self, resource_version: str, timeout_seconds: int
    ) -> AsyncGenerator[WatchEvent[T], None]:
        request = self.watch_request(resource_version, timeout_seconds)
        http = cast(httpx2.AsyncClient, self._generic._client)
        response = await http.send(request, stream=True)
        try:
            if response.status_code >= 400:
                body = (await response.aread()).decode(errors="replace")
                if response.status_code == HTTP_GONE:
                    raise Expired(body)
                raise WatchError(response.status_code, body[:500])
            async for line in response.aiter_lines():
                if line.strip():
                    event = decode_watch_line(line, self.res)
                    if self._transform is not None and event.object is not None:
                        event = WatchEvent(
                            event.type, event.resource_version, self._transform(event.object)
                        )
                    yield event
        finally:
            await response.aclose()
