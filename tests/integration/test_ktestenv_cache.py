"""A second setup rebuilds nothing in Go: the control-plane build is cached by version."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

BUILD = Path(__file__).resolve().parents[2] / "tools" / "ktestenv" / "build.sh"


def test_second_build_is_a_cache_hit_without_go() -> None:
    """With the binaries built once, build.sh answers from the cache: it does not even
    need the Go toolchain on PATH, and the binaries are not rewritten."""
    first = subprocess.run(["bash", str(BUILD)], check=True, capture_output=True, text=True)
    bindir = Path(first.stdout.strip().splitlines()[-1])
    if "METALLB_KTESTENV_BIN" in os.environ:
        assert bindir == Path(os.environ["METALLB_KTESTENV_BIN"])
    binaries = sorted(p for p in bindir.iterdir() if not p.name.startswith("."))
    assert [p.name for p in binaries] == ["etcd", "kube-apiserver", "kube-controller-manager"]
    before = {p: p.stat().st_mtime_ns for p in binaries}

    go_dir = str(Path(shutil.which("go") or "/usr/local/go/bin/go").parent)
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if d != go_dir)
    env = {**os.environ, "PATH": path}
    assert shutil.which("go", path=path) is None, "go must be off PATH for this check"
    second = subprocess.run(
        ["bash", str(BUILD)], check=True, capture_output=True, text=True, env=env
    )
    assert Path(second.stdout.strip().splitlines()[-1]) == bindir
    assert "nothing to do" in second.stderr
    assert {p: p.stat().st_mtime_ns for p in binaries} == before
