"""The API double's storage: objects kept as the kube-apiserver keeps them, and watch streams.

What it does as the apiserver does (each checked against the real one in
tests/integration/k8s/test_apidouble_matches.py):

- one resourceVersion counter for everything (etcd's revision), moved by every write
  that changes something; a write that changes nothing moves nothing and tells no
  watcher;
- ``uid``, ``creationTimestamp``, ``generateName``; ``generation`` for custom resources,
  counting changes outside metadata and status;
- the status subresource: create drops status (a Service gets ``loadBalancer: {}``), the
  main endpoint ignores status, ``/status`` ignores everything else;
- 404 NotFound (also for a namespace that does not exist), 409 AlreadyExists, 409
  Conflict on a stale ``metadata.resourceVersion`` precondition, 415 for patch types
  other than merge and JSON patch (strategic merge is not implemented: nothing under
  test sends one);
- Service defaults (cluster IP, families, policies, node ports, ingress ``ipMode``) and
  the clearing of ``status.loadBalancer`` when a Service stops being a LoadBalancer;
  Namespace defaults (the ``kubernetes.io/metadata.name`` label); CRD schema defaults;
- watches from a resourceVersion, replaying what came after it, filtered by namespace
  and selectors; 410 Expired for a resourceVersion older than :meth:`Store.compact`
  kept; bookmarks when asked.

What it does not do: admission and schema validation, RBAC, finalizers and garbage
collection, the controllers (no EndpointSlice appears by itself), version conversion
(every served version returns the object as stored).
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import ipaddress
import itertools
import random
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .kinds import CORE, Kind, apply_defaults, crd_kinds
from .selectors import Selector

Obj = dict[str, Any]


class Failure(Exception):  # noqa: N818 - a Status of failure, as the apiserver names it
    """An apiserver failure: becomes a ``Status`` body with this code and reason."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def not_found(kind: Kind, name: str) -> Failure:
    return Failure(
        404, "NotFound", f'{kind.plural} "{name}" not found', {"name": name, "kind": kind.plural}
    )


def conflict(kind: Kind, name: str) -> Failure:
    return Failure(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.plural} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "kind": kind.plural},
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(target: Obj, ops: list[Obj]) -> Obj:
    """RFC 6902 JSON patch: add, replace, remove (what a caller of this project sends)."""
    doc = copy.deepcopy(target)
    for op in ops:
        *parents, last = [
            p.replace("~1", "/").replace("~0", "~") for p in op["path"][1:].split("/")
        ]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if op["op"] == "remove":
                del node[index]
            elif op["op"] == "add":
                node.insert(index, op["value"])
            else:
                node[index] = op["value"]
        elif op["op"] == "remove":
            del node[last]
        else:
            node[last] = op["value"]
    return doc


@dataclass(eq=False)  # each stream is its own (kept in a set)
class Watch:
    """One open watch stream: its filter, and the queue of events (None ends it)."""

    kind: Kind
    namespace: str | None
    selector: Selector
    bookmarks: bool
    queue: asyncio.Queue[Obj | None] = field(default_factory=asyncio.Queue)

    def offer(self, etype: str, old: Obj | None, new: Obj) -> None:
        """Queue the event this watcher sees of a change from ``old`` to ``new``: an object
        entering the selector is ADDED, one leaving it DELETED, as the apiserver does."""
        if self.namespace is not None and new["metadata"].get("namespace") != self.namespace:
            return
        was = old is not None and self.selector.matches(old)
        now = self.selector.matches(new)
        if etype == "MODIFIED" and was != now:
            etype = "ADDED" if now else "DELETED"
        if now or (was and etype == "DELETED"):
            self.queue.put_nowait({"type": etype, "object": copy.deepcopy(new)})


class Store:
    """Every object of every kind, the history since the last compaction, the watchers."""

    def __init__(self) -> None:
        self.kinds = {(k.group, k.plural): k for k in (*CORE, *crd_kinds())}
        self.rv = 1
        self.objects: dict[tuple[str, str], dict[str, Obj]] = {k: {} for k in self.kinds}
        # Every change: (rv, kind key, type, object before, object after).
        self.history: list[tuple[int, tuple[str, str], str, Obj | None, Obj]] = []
        self.compacted = 0  # watches from a resourceVersion below this get 410
        self.watches: set[Watch] = set()
        self._ips = (
            str(ip) for ip in itertools.islice(ipaddress.ip_network("10.96.0.0/16"), 10, None)
        )
        self._ports = itertools.count(30000)

    # -- reading ----------------------------------------------------------------
    def kind(self, group: str, version: str, plural: str) -> Kind:
        kind = self.kinds.get((group, plural))
        if kind is None or version not in kind.versions:
            raise Failure(404, "NotFound", "the server could not find the requested resource")
        return kind

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        obj = self.objects[(kind.group, kind.plural)].get(_key(namespace, name))
        if obj is None:
            raise not_found(kind, name)
        return copy.deepcopy(obj)

    def list(self, kind: Kind, namespace: str | None, selector: Selector) -> tuple[list[Obj], int]:
        """The matching objects in key order (etcd's), and the revision they are at."""
        items = self.objects[(kind.group, kind.plural)]
        out = [
            copy.deepcopy(obj)
            for key, obj in sorted(items.items())
            if (namespace is None or obj["metadata"].get("namespace") == namespace)
            and selector.matches(obj)
        ]
        return out, self.rv

    # -- writing ------------------------------------------------------------------
    def create(self, kind: Kind, namespace: str | None, body: Obj) -> Obj:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if namespace is None:
                raise Failure(400, "BadRequest", "the namespace of the object must be set")
            if namespace not in self.objects[("", "namespaces")]:
                raise not_found(self.kinds[("", "namespaces")], namespace)
            meta["namespace"] = namespace
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            meta["name"] = meta["generateName"] + suffix
        name = meta.get("name")
        if not name:
            raise Failure(400, "BadRequest", "name or generateName is required")
        items = self.objects[(kind.group, kind.plural)]
        if _key(namespace, name) in items:
            raise Failure(
                409,
                "AlreadyExists",
                f'{kind.plural} "{name}" already exists',
                {"name": name, "kind": kind.plural},
            )
        for stamp in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            meta.pop(stamp, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if kind.generation:
            meta["generation"] = 1
        if kind.status and kind.kind not in ("Node", "Pod"):
            obj.pop("status", None)  # the status subresource's: a create cannot set it
        self._defaults(kind, obj, None)
        return self._commit(kind, None, obj)

    def update(
        self, kind: Kind, namespace: str | None, name: str, body: Obj, subresource: str = ""
    ) -> Obj:
        """A PUT (``body`` whole) of the object or of its ``status`` subresource."""
        old = self.get(kind, namespace, name)
        want_rv = (body.get("metadata") or {}).get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(kind, name)
        new = copy.deepcopy(body)
        meta = new.setdefault("metadata", {})
        for stamp in ("uid", "creationTimestamp", "generation", "name", "namespace"):
            meta.pop(stamp, None)
            if stamp in old["metadata"]:
                meta[stamp] = old["metadata"][stamp]
        if subresource == "status":
            # Core kinds take metadata (labels, annotations) through /status too, custom
            # resources nothing but the status.
            keep = meta if not kind.generation else old["metadata"]
            new = {**old, "metadata": keep, "status": new.get("status")}
            if new["status"] is None:
                del new["status"]
        elif kind.status:
            new.pop("status", None)
            if "status" in old:
                new["status"] = old["status"]
        self._defaults(kind, new, old)
        if _same(old, new):
            return old  # nothing changed: no new resourceVersion, no event
        if kind.generation and _spec(old) != _spec(new):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        return self._commit(kind, old, new)

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: Any,
        content_type: str,
        subresource: str = "",
    ) -> Obj:
        old = self.get(kind, namespace, name)
        if content_type == "application/merge-patch+json":
            body = merge_patch(old, patch)
        elif content_type == "application/json-patch+json":
            body = json_patch(old, patch)
        else:
            raise Failure(
                415,
                "UnsupportedMediaType",
                f"the API double does not implement {content_type} patches",
            )
        # The body keeps the old resourceVersion unless the patch set one: a precondition.
        return self.update(kind, namespace, name, body, subresource)

    def delete(self, kind: Kind, namespace: str | None, name: str) -> Obj:
        old = self.get(kind, namespace, name)
        del self.objects[(kind.group, kind.plural)][_key(namespace, name)]
        self.rv += 1
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = str(self.rv)
        self._tell(kind, "DELETED", old, gone)
        return gone

    def _commit(self, kind: Kind, old: Obj | None, new: Obj) -> Obj:
        self.rv += 1
        new["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[(kind.group, kind.plural)][
            _key(new["metadata"].get("namespace"), new["metadata"]["name"])
        ] = new
        self._tell(kind, "ADDED" if old is None else "MODIFIED", old, new)
        return copy.deepcopy(new)

    def _tell(self, kind: Kind, etype: str, old: Obj | None, new: Obj) -> None:
        self.history.append((self.rv, (kind.group, kind.plural), etype, old, copy.deepcopy(new)))
        for w in self.watches:
            if w.kind is kind:
                w.offer(etype, old, new)

    # -- defaults -----------------------------------------------------------------
    def _defaults(self, kind: Kind, obj: Obj, old: Obj | None) -> None:
        if kind.schema:
            spec_schema = (kind.schema.get("properties") or {}).get("spec") or {}
            if "spec" in obj:
                obj["spec"] = apply_defaults(spec_schema, obj["spec"])
        if kind.kind == "Namespace":
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj[
                "metadata"
            ]["name"]
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj.setdefault("status", {}).setdefault("phase", "Active")
        if kind.kind == "Service":
            self._service_defaults(obj, old)

    def _service_defaults(self, svc: Obj, old: Obj | None) -> None:
        spec = svc.setdefault("spec", {})
        kind = spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if kind == "ExternalName":
            return
        old_spec = (old or {}).get("spec") or {}
        if old_spec.get("clusterIPs"):
            spec["clusterIP"], spec["clusterIPs"] = old_spec["clusterIP"], old_spec["clusterIPs"]
        elif spec.get("clusterIP") != "None":
            spec["clusterIP"] = spec.get("clusterIP") or next(self._ips)
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        external = kind in ("LoadBalancer", "NodePort")
        for port in spec.get("ports") or ():
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if external:
                port.setdefault("nodePort", next(self._ports))
            else:
                port.pop("nodePort", None)
        if external:
            spec.setdefault("externalTrafficPolicy", "Cluster")
        else:
            spec.pop("externalTrafficPolicy", None)
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        else:
            spec.pop("allocateLoadBalancerNodePorts", None)
            # The apiserver clears a former LoadBalancer's ingress itself.
            svc["status"] = {**(svc.get("status") or {}), "loadBalancer": {}}
        if old is None:
            svc["status"] = {"loadBalancer": {}}
        for entry in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or ():
            if entry.get("ip"):
                entry.setdefault("ipMode", "VIP")

    # -- watching -----------------------------------------------------------------
    def watch(
        self, kind: Kind, namespace: str | None, selector: Selector, rv: str, bookmarks: bool
    ) -> Watch:
        """Open a watch from ``rv`` ("" or "0": the current objects as ADDED first)."""
        w = Watch(kind, namespace, selector, bookmarks)
        if rv in ("", "0"):
            for obj in self.list(kind, namespace, selector)[0]:
                w.queue.put_nowait({"type": "ADDED", "object": obj})
        else:
            since = int(rv)
            if since < self.compacted:
                raise Failure(
                    410, "Expired", f"too old resource version: {since} ({self.compacted})"
                )
            for at, key, etype, old, new in self.history:
                if at > since and key == (kind.group, kind.plural):
                    w.offer(etype, old, new)
        self.watches.add(w)
        return w

    def compact(self) -> None:
        """Forget the history up to now (etcd's compaction): older watches get 410."""
        self.history.clear()
        self.compacted = self.rv

    def bookmark(self) -> None:
        """Send every watch that asked for them a BOOKMARK at the current revision."""
        for w in self.watches:
            if w.bookmarks:
                meta = {"resourceVersion": str(self.rv)}
                w.queue.put_nowait(
                    {"type": "BOOKMARK", "object": {"kind": w.kind.kind, "metadata": meta}}
                )

    def close_watches(self) -> None:
        """End every open watch stream, as the apiserver does at its timeoutSeconds."""
        for w in list(self.watches):
            w.queue.put_nowait(None)

    def all_objects(self) -> Iterator[tuple[Kind, Obj]]:
        for key, items in self.objects.items():
            for obj in items.values():
                yield self.kinds[key], copy.deepcopy(obj)


def _key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name


def _same(old: Obj, new: Obj) -> bool:
    """Equal but for metadata.resourceVersion."""

    def strip(o: Obj) -> Obj:
        meta = {k: v for k, v in o["metadata"].items() if k != "resourceVersion"}
        return {**o, "metadata": meta}

    return strip(old) == strip(new)


def _spec(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
