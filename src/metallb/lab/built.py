"""Where the lab finds what the project's build scripts make.

Each of ``tools/ktestenv``, ``tools/knode`` and ``tools/frrk8s`` builds upstream Go
programs at a pinned version into a cache outside the clone and prints that directory
last; an environment variable (set by ``make setup`` for the tests) names it directly.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from metallb.lab.daemon import LabError

REPO = Path(__file__).resolve().parents[3]


def built_dir(script: str, env: str | None = None, timeout: float = 3600) -> Path:
    """``$env`` if set, else the directory ``REPO/script`` prints last after building
    (or, once built, finding) what it makes. The script's progress goes to stderr."""
    if env and os.environ.get(env):
        return Path(os.environ[env])
    path = REPO / script
    if not path.is_file():
        unset = f"{env} is not set and " if env else ""
        raise LabError(
            f"{unset}{script} is not next to this package: run `make setup` in a "
            "metallb-py checkout"
        )
    proc = subprocess.run(
        ["bash", str(path)], check=False, stdout=subprocess.PIPE, text=True, timeout=timeout
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise LabError(f"{script} failed (exit {proc.returncode}); its messages are above")
    return Path(lines[-1])
