"""`metallb lab` as a user runs it: up, a request through the VIP, fail-node, down."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metallb.lab.netlab import list_namespaces

pytestmark = pytest.mark.timeout(600)


def lab(labdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", "lab", *args, f"--dir={labdir}"],
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )


def client_curl(ip: str) -> str:
    ns = next(n for n in list_namespaces() if n.endswith("-client"))
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, "curl", "-s", "--max-time", "2", f"http://{ip}/"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.stdout.strip()


def test_lab_up_failover_and_down(tmp_path: Path) -> None:
    """The README's main command works end to end and leaves nothing behind."""
    labdir = tmp_path / "lab"
    before = set(list_namespaces())
    try:
        up = lab(labdir, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "lab: ready" in up.stdout
        assert "the client fetched http://" in up.stdout
        state = json.loads((labdir / "state.json").read_text())
        ip = state["services"]["web"]
        assert (labdir / "kubeconfig").is_file()
        first = client_curl(ip)
        assert first in ("n1", "n2", "n3")
        again = lab(labdir, "up")  # idempotent
        assert again.returncode == 0
        assert "already up" in again.stdout

        failed = lab(labdir, "fail-node", first)
        assert failed.returncode == 0, failed.stderr
        deadline = time.monotonic() + 30
        while (answer := client_curl(ip)) in ("", first) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer in {"n1", "n2", "n3"} - {first}
        status = lab(labdir, "status")
        assert "stopped (failed by lab fail-node)" in status.stdout
        bad = lab(labdir, "fail-node", "n9")
        assert bad.returncode == 1
        assert "unknown node" in bad.stderr
    finally:
        down = lab(labdir, "down")
    assert down.returncode == 0, down.stderr
    assert set(list_namespaces()) <= before
    assert not (labdir / "kubeconfig").exists()
    assert not (labdir / "work").exists()
