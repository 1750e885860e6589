"""Helpers for Layer 2 tests in namespaces: a LAN of two nodes and a client, the demo
announcer run inside a node, real clients (arping, ip neigh, tcpdump), and sockets
opened inside a namespace from a helper thread."""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from metallb.lab.netlab import Host, Netlab

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"
MAC_CLIENT = "02:00:00:00:00:0c"
VIP = "192.0.2.100"
VIP6 = "2001:db8::100"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` every 50 ms until it returns a value; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Speaker:
    """A ``python -m bench.demo_announcer`` process inside a node namespace."""

    proc: subprocess.Popen[bytes]
    log: Path

    def events(self, name: str) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                event = json.loads(line)
                if event["event"] == name:
                    out.append(event)
        return out

    def wait_ready(self, timeout: float = 15) -> dict[str, object]:
        def ready() -> dict[str, object] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"announcer exited:\n{self.log.read_text()}")
            events = self.events("ready")
            return events[0] if events else None

        return wait_for(ready, timeout, "the announcer to be ready")

    def stats(self, timeout: float = 5) -> dict[str, object]:
        """Ask for the counters (SIGUSR1) and return the next stats report."""
        before = len(self.events("stats"))
        self.proc.send_signal(signal.SIGUSR1)

        def report() -> dict[str, object] | None:
            events = self.events("stats")
            return events[-1] if len(events) > before else None

        return wait_for(report, timeout, "a stats report")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def start_speaker(host: Host, log_dir: Path, *args: str) -> Speaker:
    log = log_dir / f"announcer-{host.name}-{time.monotonic_ns()}.log"
    log.write_text("")
    proc = host.start(
        sys.executable, "-m", "bench.demo_announcer", "--scan-interval", "0.5", *args, log=log
    )
    speaker = Speaker(proc, log)
    speaker.wait_ready()
    return speaker


_REPLY = re.compile(r"reply from (\S+) \[([0-9A-Fa-f:]+)\]\s+([\d.]+)ms")


@dataclass(frozen=True)
class ArpingResult:
    sent: int
    macs: list[str]  # one per reply, lower case
    output: str


def arping(
    client: Host, iface: str, target: str, *, count: int = 3, source: str | None = None
) -> ArpingResult:
    """iputils arping, broadcasting every probe (``-b``) so every node sees each one.

    This arping takes whole seconds for ``-i`` (and sends a single probe with ``-i 0``).
    """
    argv = ["arping", "-b", "-c", str(count), "-i", "1", "-w", str(count + 1), "-I", iface]
    if source:
        argv += ["-s", source]
    proc = client.call(*argv, target, timeout=count + 10)
    sent = re.search(r"Sent (\d+) probes", proc.stdout)
    macs = [m.group(2).lower() for m in _REPLY.finditer(proc.stdout)]
    return ArpingResult(int(sent.group(1)) if sent else 0, macs, proc.stdout + proc.stderr)


def neighbour_mac(host: Host, ip: str, iface: str = "eth0") -> str | None:
    """The link-layer address of ``ip`` in the host's neighbour table, if any."""
    out = host.run("ip", "neigh", "show", ip, "dev", iface)
    found = re.search(r"lladdr ([0-9a-f:]+)", out)
    return found.group(1) if found else None


@pytest.fixture
def l2lan(tmp_path: Path) -> Iterator[Netlab]:
    """Nodes ``a`` and ``b`` and a ``client`` on one bridged LAN, dual stack."""
    with Netlab() as lab:
        seg = lab.add_lan("lan")
        for name, mac, host_id in (("a", MAC_A, 1), ("b", MAC_B, 2), ("client", MAC_CLIENT, 10)):
            host = lab.add_host(name)
            addrs = [f"192.0.2.{host_id}/24", f"2001:db8::{host_id}/64"]
            lab.connect(host, seg, "eth0", addrs, mac=mac)
        yield lab


_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(netns: str, make: Callable[[], T]) -> T:
    """Run ``make`` in a thread switched into ``netns``; sockets it opens stay there.

    ``setns`` changes only the calling thread's namespace, so the test process itself
    never leaves the root namespace.
    """
    result: list[T] = []
    errors: list[BaseException] = []

    def worker() -> None:
        fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            result.append(make())
        except BaseException as exc:  # handed to the caller's thread
            errors.append(exc)
        finally:
            os.close(fd)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(30)
    if errors:
        raise errors[0]
    return result[0]


def raw_sender(netns: str, iface: str) -> socket.socket:
    """An unfiltered AF_PACKET socket in ``netns`` to inject frames on ``iface``."""

    def make() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.bind((iface, 0))
        return sock

    return in_netns(netns, make)
