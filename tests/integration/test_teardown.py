"""The control plane leaves nothing behind: not after a stop, a failed start, or a killed parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from metallb.lab.components import ControlPlaneError
from metallb.lab.controlplane import Binaries, ControlPlane


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_stop_ends_every_process_and_removes_the_workdir() -> None:
    """A full start and stop: all three components end and the temp dir is gone."""
    cp = ControlPlane(Binaries.locate())
    cp.start()
    pids = [c.process.pid for c in cp.components.values() if c.process]
    workdir = cp.dir
    assert len(pids) == 3
    assert all(_alive(p) for p in pids)
    cp.stop()
    assert not any(_alive(p) for p in pids)
    assert not workdir.exists()


def _processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and _alive(int(proc.name)):
            found.append(int(proc.name))
    return found


def test_failed_start_stops_what_already_runs(tmp_path: Path) -> None:
    """If the apiserver cannot start, the error shows its log and etcd is stopped too."""
    real = Binaries.locate()
    broken = tmp_path / "kube-apiserver"
    broken.write_text("#!/bin/sh\necho 'simulated apiserver crash' >&2\nexit 3\n")
    broken.chmod(0o755)
    workdir = tmp_path / "cp"
    cp = ControlPlane(Binaries(real.etcd, broken, real.kube_controller_manager), workdir=workdir)
    with pytest.raises(ControlPlaneError, match="simulated apiserver crash"):
        cp.start(timeout=60)
    # etcd ran (its data dir exists) and no process started for this workdir survives.
    assert (workdir / "etcd").is_dir()
    assert _processes_mentioning(str(workdir)) == []
    assert not cp.components


def test_children_die_with_a_killed_parent(tmp_path: Path) -> None:
    """A parent killed with SIGKILL cannot clean up; PR_SET_PDEATHSIG ends its children."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from metallb.lab.components import Component
        c = Component("sleeper", ["sleep", "120"], Path({str(tmp_path / "log")!r}))
        c.start()
        print(c.process.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _alive(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    assert _wait_gone(child), "the child outlived its killed parent"
