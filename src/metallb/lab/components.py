"""One long-running binary of the control plane, and the kubeconfig files that reach it.

:class:`Component` starts a binary (etcd, kube-apiserver, ...) with its log file and
``PR_SET_PDEATHSIG``, so it dies with the Python process even when that is killed
without a chance to clean up; :func:`write_kubeconfig` writes the one-context
kubeconfigs the lab hands to admins, daemons and kubelets.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from metallb.web.pki import KeyPair

_PR_SET_PDEATHSIG = 1


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, started or stopped."""


def _die_with_parent() -> None:
    """Run in the child between fork and exec: SIGTERM it when its parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Component:
    """One long-running binary with its arguments and log file."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process. Call from a thread that outlives it (the main thread):
        PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so a
        start from a short-lived worker thread (``asyncio.to_thread``) kills the child
        as soon as that thread ends."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - single-threaded at start
            )

    def stop(self, grace: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def check_alive(self) -> None:
        if self.process is None:
            raise ControlPlaneError(f"{self.name} is not running")
        code = self.process.poll()
        if code is not None:
            raise ControlPlaneError(
                f"{self.name} exited with code {code}; last log lines:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def rss_bytes(self) -> int:
        """Resident memory of the process, from /proc."""
        if self.process is None:
            return 0
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    ca: Path,
    user: str,
    client: KeyPair | None = None,
    token: str | None = None,
) -> Path:
    """Write a one-context kubeconfig that authenticates by client certificate or token."""
    creds: dict[str, str] = {}
    if client is not None:
        creds = {"client-certificate": str(client.cert), "client-key": str(client.key)}
    if token is not None:
        creds["token"] = token
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "metallb-py", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": user, "context": {"cluster": "metallb-py", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path
