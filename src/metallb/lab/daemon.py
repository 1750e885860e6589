"""One long-running process of the lab (the controller, say), started and stopped cleanly."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path


class LabError(RuntimeError):
    """The lab could not be built or a part of it failed."""


class Daemon:
    """A process with a log file, ready when ``ready_url`` answers 200."""

    def __init__(self, name: str, argv: list[str], log: Path, *, ready_url: str = "") -> None:
        self.name, self.argv, self.log, self.ready_url = name, argv, log, ready_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while self.ready_url:
            if self.proc.poll() is not None:
                raise LabError(f"{self.name} exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.ready_url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise LabError(f"{self.name} not ready in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 15 s; always reaped."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
