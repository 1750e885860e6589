"""An in-memory kube-apiserver for in-process tests of the controller and the speaker.

It sits under lightkube, as an httpx transport: the code under test gets a real
``lightkube.AsyncClient`` (``ApiDouble.client()``), so every call it makes (get, list
with selectors and pages, create, merge patch of an object or of its status, replace,
delete, and the informers' own watch requests with bookmarks) goes through lightkube's
request building and decoding, and failures come back as the ``ApiError`` lightkube
raises from the apiserver's ``Status`` bodies. The REST semantics live in
:mod:`.store`; which of them match the real apiserver is checked by running the same
assertions on both (tests/unit/k8s/test_apidouble.py here,
tests/integration/k8s/test_apidouble_matches.py on the real one).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import AsyncClient, KubeConfig

from .selectors import Selector
from .store import Failure, Obj, Store, Watch

__all__ = ["ApiDouble", "Failure", "Request", "Store"]

SERVER = "http://apidouble.invalid"
JSON = {"Content-Type": "application/json"}
KUBECONFIG = {
    "clusters": [{"name": "double", "cluster": {"server": SERVER}}],
    "users": [{"name": "double", "user": {"token": "double"}}],
    "contexts": [
        {
            "name": "double",
            "context": {"cluster": "double", "user": "double", "namespace": "default"},
        }
    ],
    "current-context": "double",
}


@dataclass(frozen=True)
class Request:
    """One request the double answered (for tests that count writes)."""

    method: str
    plural: str
    name: str
    subresource: str
    watch: bool


class _WatchStream(httpx2.AsyncByteStream):
    def __init__(self, store: Store, watch: Watch, timeout: float | None, version: str) -> None:
        self.store, self.watch, self.timeout, self.version = store, watch, timeout, version

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # The end at timeoutSeconds is a None queued by a timer, not asyncio.wait_for:
        # Python 3.11's wait_for can swallow a cancellation that races with a result,
        # and an informer cancelled then would wait on forever.
        timer = None
        if self.timeout is not None:
            timer = asyncio.get_running_loop().call_later(
                self.timeout, self.watch.queue.put_nowait, None
            )
        try:
            while (event := await self.watch.queue.get()) is not None:
                obj = event["object"]
                if event["type"] != "BOOKMARK":
                    obj["apiVersion"] = self.watch.kind.api_version(self.version)
                    obj["kind"] = self.watch.kind.kind
                yield json.dumps(event).encode() + b"\n"
        finally:
            if timer is not None:
                timer.cancel()

    async def aclose(self) -> None:
        self.store.watches.discard(self.watch)


class ApiDouble(httpx2.AsyncBaseTransport):
    """The transport: parses each request, asks the :class:`Store`, answers as the apiserver."""

    def __init__(self) -> None:
        self.store = Store()
        self.requests: list[Request] = []

    def client(self, field_manager: str | None = None) -> AsyncClient:
        """A lightkube client talking to this double (default namespace ``default``)."""
        return AsyncClient(
            config=KubeConfig.from_dict(KUBECONFIG),
            transport=self,
            field_manager=field_manager,
        )

    def writes(self, plural: str = "") -> list[Request]:
        """The create/update/patch/delete requests so far (of ``plural`` if given)."""
        return [
            r for r in self.requests if r.method != "GET" and (not plural or r.plural == plural)
        ]

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return self._handle(request)
        except Failure as failure:
            return httpx2.Response(
                failure.code, headers=JSON, content=json.dumps(failure.status()).encode()
            )

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        parts = request.url.path.strip("/").split("/")
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) > 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise Failure(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        kind = self.store.kind(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub not in ("", "status") or (sub == "status" and not kind.status):
            raise Failure(404, "NotFound", "the server could not find the requested resource")
        params = request.url.params
        watch = params.get("watch") in ("true", "1")
        self.requests.append(Request(request.method, kind.plural, name, sub, watch))
        body: Any = json.loads(request.content) if request.content else None
        store, method = self.store, request.method

        def answer(obj: Obj, code: int = 200) -> httpx2.Response:
            obj["apiVersion"], obj["kind"] = kind.api_version(version), kind.kind
            return httpx2.Response(code, headers=JSON, content=json.dumps(obj).encode())

        if method == "GET" and name:
            return answer(store.get(kind, namespace, name))
        if method == "GET":
            selector = Selector.parse(
                params.get("labelSelector", ""), params.get("fieldSelector", "")
            )
            if watch:
                return self._watch(kind, namespace, selector, version, params)
            return self._list(kind, namespace, selector, version, params)
        if method == "POST" and not name:
            return answer(store.create(kind, namespace, body), 201)
        if method == "PUT" and name:
            return answer(store.update(kind, namespace, name, body, sub))
        if method == "PATCH" and name:
            content_type = request.headers.get("Content-Type", "")
            return answer(store.patch(kind, namespace, name, body, content_type, sub))
        if method == "DELETE" and name and not sub:
            store.delete(kind, namespace, name)
            status = {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}
            return httpx2.Response(200, headers=JSON, content=json.dumps(status).encode())
        raise Failure(405, "MethodNotAllowed", f"{method} is not supported here")

    def _list(
        self, kind: Any, namespace: str | None, selector: Selector, version: str, params: Any
    ) -> httpx2.Response:
        items, rv = self.store.list(kind, namespace, selector)
        start = 0
        if params.get("continue"):
            rv, start = json.loads(base64.b64decode(params["continue"]))
        limit = int(params.get("limit") or 0) or len(items)
        page = items[start : start + limit]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if start + limit < len(items):
            meta["continue"] = base64.b64encode(json.dumps([rv, start + limit]).encode()).decode()
        body = {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version(version),
            "metadata": meta,
            "items": page,
        }
        return httpx2.Response(200, headers=JSON, content=json.dumps(body).encode())

    def _watch(
        self, kind: Any, namespace: str | None, selector: Selector, version: str, params: Any
    ) -> httpx2.Response:
        try:
            watch = self.store.watch(
                kind,
                namespace,
                selector,
                params.get("resourceVersion", ""),
                params.get("allowWatchBookmarks") == "true",
            )
        except Failure as failure:
            # The apiserver answers 200 and sends the 410 as the stream's one ERROR event.
            line = json.dumps({"type": "ERROR", "object": failure.status()}).encode() + b"\n"
            return httpx2.Response(200, headers=JSON, content=line)
        timeout = float(params["timeoutSeconds"]) if params.get("timeoutSeconds") else None
        return httpx2.Response(
            200, headers=JSON, stream=_WatchStream(self.store, watch, timeout, version)
        )
