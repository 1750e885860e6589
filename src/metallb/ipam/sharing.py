"""Who uses each IP, on which ports, under which sharing key; and the sharing rule.

An IP may carry several Services only when (upstream `checkSharing`/`sharingOK`):

* every user and the newcomer have the same non-empty sharing key
  (`metallb.io/allow-shared-ip`),
* and the same backend key (empty under externalTrafficPolicy Cluster, the rendered pod
  selector under Local),
* and no (protocol, port) of the newcomer is already used there by another Service.

A Service alone on an IP may change its keys in place. The table also keeps, per
sharing key, the sorted list of IPs carrying it, so that a Service with a key finds the
first shareable IP of a range without walking the range.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence

from metallb.ipam.addresses import from_key, is_v6_key
from metallb.ipam.freelist import FreeCursor
from metallb.ipam.model import Port, ServiceKey

SharingKeys = tuple[str, str]
"""(sharing key, backend key) of an IP's users."""


class IPTable:
    """The in-use side of the allocator, keyed by integer IP key.

    Most IPs have one user, so a lone user is stored as its key and its ports as the
    allocation's own tuple; only a shared IP gets a dict of users and a dict of
    port -> user. This halves memory and garbage-collector work at 100k Services.
    """

    def __init__(self) -> None:
        self.users: dict[int, ServiceKey | dict[ServiceKey, None]] = {}
        self.ports: dict[int, tuple[Port, ...] | dict[Port, ServiceKey]] = {}
        self.keys: dict[int, SharingKeys] = {}
        self.groups: dict[SharingKeys, list[int]] = {}
        self.in_use: dict[str, tuple[int, int]] = {}

    def used_keys(self) -> Iterable[int]:
        """Every IP with at least one user."""
        return self.users.keys()

    def users_of(self, key: int) -> tuple[ServiceKey, ...]:
        """The Services on an IP, sorted."""
        users = self.users.get(key)
        if users is None:
            return ()
        return (users,) if isinstance(users, str) else tuple(sorted(users))

    def check(
        self, svc: ServiceKey, key: int, ports: Sequence[Port], sharing: str, backend: str
    ) -> str | None:
        """Why `svc` may not use IP `key` with these ports and keys; None if it may."""
        users = self.users.get(key)
        if users is None:
            return None
        held = self.keys[key]
        if not held[0] or not sharing or held != (sharing, backend):
            others = [u for u in self.users_of(key) if u != svc]
            if others:
                return (
                    f'can\'t change sharing key for "{svc}", '
                    f"address also in use by {','.join(others)}"
                )
        used = self.ports[key]
        if isinstance(used, tuple):  # a lone user and its own ports
            clash = None if users == svc else next((p for p in ports if p in used), None)
        else:
            clash = next((p for p in ports if used.get(p, svc) != svc), None)
        if clash is not None:
            return f'port {clash} is already in use on "{from_key(key)}"'
        return None

    def pick(
        self,
        cursor: FreeCursor,
        svc: ServiceKey,
        ports: Sequence[Port],
        sharing: str,
        backend: str,
    ) -> int | None:
        """The first IP of the cursor's range this Service may use: free or shareable.

        Upstream walks the range and takes the first address that passes the sharing
        check, so a shareable IP wins only when it lies before the first free one.
        """
        free = cursor.first_free(self.users)
        group = self.groups.get((sharing, backend)) if sharing else None
        if not group:
            return free
        limit = cursor.last if free is None else free - 1
        i = bisect.bisect_left(group, cursor.first)
        while i < len(group) and group[i] <= limit:
            if self.check(svc, group[i], ports, sharing, backend) is None:
                return group[i]
            i += 1
        return free

    def add(
        self,
        svc: ServiceKey,
        pool: str,
        keys: Iterable[int],
        ports: tuple[Port, ...],
        sharing: SharingKeys,
    ) -> None:
        """Record that `svc` uses these IPs; the caller has checked that it may."""
        for key in keys:
            users = self.users.get(key)
            if users is None:
                self.users[key] = svc
                self.ports[key] = ports
                self._count(pool, key, +1)
            else:
                if isinstance(users, str):
                    # Second user: switch this IP to the shared representation.
                    lone = self.ports[key]
                    assert isinstance(lone, tuple)
                    users = self.users[key] = {users: None}
                    self.ports[key] = {p: next(iter(users)) for p in lone}
                users[svc] = None
                used = self.ports[key]
                assert isinstance(used, dict)
                for port in ports:
                    used[port] = svc
            old = self.keys.get(key)
            if old != sharing:
                if old is not None:
                    self._ungroup(old, key)
                self.keys[key] = sharing
                if sharing[0]:
                    bisect.insort(self.groups.setdefault(sharing, []), key)

    def remove(
        self, svc: ServiceKey, pool: str, keys: Iterable[int], ports: Sequence[Port]
    ) -> list[int]:
        """Forget that `svc` uses these IPs; returns the IPs that became free."""
        freed = []
        for key in keys:
            users = self.users[key]
            if isinstance(users, str):
                if users != svc:
                    # A broken invariant, not an outcome: crash loudly, as upstream panics.
                    raise RuntimeError(f"incoherent state: {key} belongs to {users}, not {svc}")
                empty = True
            else:
                used = self.ports[key]
                assert isinstance(used, dict)
                for port in ports:
                    if used.get(port) != svc:
                        raise RuntimeError(f"incoherent state: port {port} on {key} is not {svc}'s")
                    del used[port]
                del users[svc]
                empty = not users
            if empty:
                del self.users[key], self.ports[key]
                self._ungroup(self.keys.pop(key), key)
                self._count(pool, key, -1)
                freed.append(key)
        return freed

    def recount(self, owners: Mapping[int, str]) -> None:
        """Recompute per-pool in-use counts from scratch (after a configuration change)."""
        self.in_use = {}
        for key, pool in owners.items():
            self._count(pool, key, +1)

    def _count(self, pool: str, key: int, delta: int) -> None:
        v4, v6 = self.in_use.get(pool, (0, 0))
        self.in_use[pool] = (v4, v6 + delta) if is_v6_key(key) else (v4 + delta, v6)

    def _ungroup(self, sharing: SharingKeys, key: int) -> None:
        group = self.groups.get(sharing)
        if not group:
            return
        i = bisect.bisect_left(group, key)
        if i < len(group) and group[i] == key:
            del group[i]
        if not group:
            del self.groups[sharing]
