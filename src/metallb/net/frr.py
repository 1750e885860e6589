"""The FRR backend's adapter: apply a node's rendered ``frr.conf`` to a running FRR.

``METALLB_BGP_TYPE=frr`` (upstream's internal/bgp/frr): FRR (zebra, bgpd, bfdd) runs next to the
speaker, in the same network namespace; the speaker owns its configuration. Each
:meth:`FRRBackend.set` hands over the node's desired state
(:class:`~metallb.frr.render.NodeConfig`); the backend renders it and, after a
debounce, applies the newest text.

Applying is incremental (:mod:`metallb.frr.diff`): the new text is diffed
structurally against the text FRR was last given, and only the changed lines (``no
...`` for what went, the new lines, each in its ``router bgp`` / ``address-family`` /
``route-map`` / ``bfd`` context) go to FRR in one ``vtysh -f`` run. A neighbour whose
lines did not change is never touched, so adding a Service does not reset any session,
and one prefix more or less on a table of 10,000 is two commands. FRR's own
``frr-reload.py`` did the same job in 50 s for 1,000 prefixes: it reads and parses
``show running-config`` twice, sends every added line twice and runs one ``vtysh -c``
process per removed line.

When the backend does not know what FRR holds (its first apply, after FRR's daemons
restarted, or after :meth:`FRRBackend.forget`), it diffs against the running
configuration instead (``show running-config bgpd`` and ``... bfdd``: vtysh's merged
view would hide what a restarted bgpd lost), restricted to what the backend writes
(:func:`~metallb.frr.diff.owned`): a previous speaker run's stale prefixes and
neighbours are removed, unchanged sessions are kept. If a delta fails, the backend
resynchronises once against the running configuration, and if that fails too, with
``frr-reload.py --reload`` of the whole file. Between changes the task watches the
daemons' pid files (``watch`` seconds); a restarted daemon gets everything again.

Debounce: upstream coalesces reloads for ``--bgp-debounce-timeout`` (3 s by default)
because each reload costs FRR a full ``show running-config`` and parse; Service events
come in bursts (a restart replays every Service). The first change after a quiet period
starts the timer, later ones ride along, and the newest state is applied when it fires;
an unchanged rendering is never applied twice. A failed apply is retried after
``retry`` seconds with the newest state.

Without ``frr-reload.py`` (Debian package ``frr-pythontools``) the last resort is ``vtysh
-f`` of the whole file, which adds and changes lines but removes nothing; the
incremental path does not need the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from metallb.frr.diff import Config, delta, owned, parse
from metallb.frr.render import NodeConfig, render

log = logging.getLogger(__name__)

RELOAD_SCRIPT = Path("/usr/lib/frr/frr-reload.py")
FRR_RUNDIR = Path("/var/run/frr")  # FRR's state directory: sockets and pid files
DAEMONS = ("zebra", "bgpd", "bfdd")  # whose restart loses the configuration we gave
DEFAULT_DEBOUNCE = 3.0  # seconds; upstream's --bgp-debounce-timeout default (3000 ms)
DEFAULT_RETRY = 5.0  # seconds before a failed reload is tried again
DEFAULT_WATCH = 5.0  # seconds between checks that FRR's daemons did not restart
COMMAND_TIMEOUT = 60.0  # seconds any one vtysh or reload run may take


class ApplyError(RuntimeError):
    """FRR refused the configuration, or a tool failed or timed out."""


@dataclass(frozen=True)
class FRRTarget:
    """Which FRR to drive and where the backend keeps its files.

    ``pathspace`` is FRR's ``-N`` (several FRRs on one machine, as in tests); ``workdir``
    holds the rendered file and the vtysh configuration directory.
    """

    workdir: Path
    pathspace: str = ""
    vtysh: str = "vtysh"
    reload_script: Path = RELOAD_SCRIPT
    timeout: float = COMMAND_TIMEOUT  # frr-reload.py takes minutes for 10k+ prefixes
    rundir: Path = FRR_RUNDIR

    @property
    def config_file(self) -> Path:
        return self.workdir / "frr.conf"

    @property
    def confdir(self) -> Path:
        return self.workdir / "etc"

    @property
    def delta_file(self) -> Path:
        return self.workdir / "delta.conf"

    def daemon_ids(self) -> tuple[str, ...]:
        """The FRR daemons' pid files' contents ("" when absent): a change means a
        daemon restarted and lost what it was configured with."""
        piddir = self.rundir / self.pathspace if self.pathspace else self.rundir
        out = []
        for daemon in DAEMONS:
            try:
                out.append((piddir / f"{daemon}.pid").read_text().strip())
            except OSError:
                out.append("")
        return tuple(out)

    def vtysh_argv(self) -> list[str]:
        argv = [self.vtysh, "--config_dir", str(self.confdir)]
        return argv + (["-N", self.pathspace] if self.pathspace else [])

    def prepare(self) -> None:
        """vtysh (and so frr-reload.py) insists on a vtysh.conf in its config directory;
        an empty one keeps the default, integrated configuration."""
        vtydir = self.confdir / self.pathspace if self.pathspace else self.confdir
        vtydir.mkdir(parents=True, exist_ok=True)
        (vtydir / "vtysh.conf").touch()
        (self.workdir / "run").mkdir(exist_ok=True)


async def _run(*argv: str, limit: float = COMMAND_TIMEOUT) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ApplyError(f"{argv[0]} did not finish within {limit} s") from None
    return proc.returncode or 0, out.decode(errors="replace")


@dataclass
class FRRBackend:
    """Applies the newest desired state to FRR, debounced; one task, started by
    :meth:`start` or ``async with``."""

    target: FRRTarget
    debounce: float = DEFAULT_DEBOUNCE
    retry: float = DEFAULT_RETRY
    watch: float = DEFAULT_WATCH  # 0: never check for restarted daemons between changes
    reloads: int = 0  # successful applies
    failures: int = 0
    last_error: str = ""
    applied: str | None = None  # the text FRR was last given successfully
    mode: str = ""  # how the last apply went: delta, running, reload or file
    fallbacks: int = 0  # applies that needed a resync after a failed delta
    last_apply_seconds: float = 0.0
    last_script_lines: int = 0  # vtysh lines the last incremental apply sent
    _known: str | None = None  # what FRR holds, as far as the backend knows
    _known_config: Config | None = None  # the same, parsed
    _daemons: tuple[str, ...] = ()
    _wanted: NodeConfig | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _settled: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    @property
    def uses_frr_reload(self) -> bool:
        return self.target.reload_script.exists() and shutil.which("python3") is not None

    def set(self, state: NodeConfig) -> None:
        """Desire ``state``; it is applied at most ``debounce`` seconds from now. Cheap:
        rendering (a fifth of a second for 10,000 prefixes) happens in the task, off the
        event loop."""
        if state == self._wanted:
            return
        self._wanted = state
        self._settled.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self.target.prepare()
            self._task = asyncio.create_task(self._loop(), name="frr-backend")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> FRRBackend:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def settled(self) -> None:
        """Wait until the newest desired state is what FRR was last given (callers bound
        the wait with ``asyncio.timeout``)."""
        await self._settled.wait()

    def _restarted(self) -> bool:
        """Did an FRR daemon restart (and lose its configuration) since the last apply?"""
        return bool(self._daemons) and self.target.daemon_ids() != self._daemons

    async def _loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.watch or None):
                    await self._wake.wait()
            except TimeoutError:
                if self._wanted is not None and self._restarted():
                    log.warning("an FRR daemon restarted; applying the configuration again")
                    self.applied = None
                    self._settled.clear()
                    self._wake.set()
                continue
            # Coalesce the burst: everything set() during the debounce rides along.
            await asyncio.sleep(self.debounce)
            self._wake.clear()
            state = self._wanted
            text = None if state is None else await asyncio.to_thread(render, state)
            if text is None or text == self.applied:
                if state is self._wanted:
                    self._settled.set()
                continue
            try:
                await self.apply(text)
            except (ApplyError, OSError) as err:
                self.failures += 1
                self.last_error = str(err)
                log.warning("applying the FRR configuration failed: %s", err)
                await asyncio.sleep(self.retry)
                self._wake.set()
                continue
            self.applied = text
            self.reloads += 1
            if state is self._wanted:
                self._settled.set()

    def forget(self) -> None:
        """Make the next apply diff against FRR's running configuration (call it when
        FRR may have been restarted or configured behind the backend's back)."""
        self._known = self._known_config = None

    async def apply(self, text: str) -> None:
        """Make FRR run ``text``, now (no debounce): incrementally when possible."""
        t0 = time.monotonic()
        t = self.target
        staged = t.config_file.with_suffix(".tmp")
        staged.write_text(text)
        # FRR's daemons run as user frr and vtysh may hand them the path: keep it readable.
        staged.chmod(0o644)
        os.replace(staged, t.config_file)
        daemons = t.daemon_ids()
        if daemons != self._daemons:
            self._known = self._known_config = None  # first apply, or FRR restarted
        # Parsing and diffing 10k-prefix texts takes a tenth of a second: off the loop.
        new = await asyncio.to_thread(parse, text)
        try:
            if self._known is not None:
                try:
                    old = self._known_config or parse(self._known)
                    await self._send(await asyncio.to_thread(delta, old, new), text, new)
                    self.mode = "delta"
                    return
                except ApplyError as err:
                    self.fallbacks += 1
                    log.warning("FRR delta failed, resynchronising: %s", err)
            self._known = self._known_config = None
            try:
                was = await self._running()
                await self._send(await asyncio.to_thread(delta, was, new), text, new)
                self.mode = "running"
                return
            except ApplyError as err:
                log.warning("FRR resync from the running config failed: %s", err)
            await self._reload(text)
        finally:
            self.last_apply_seconds = time.monotonic() - t0

    async def _running(self) -> Config:
        """What FRR holds of ours: bgpd's running configuration and bfdd's ``bfd``
        block (none when bfdd does not run)."""
        bgpd = await self.show("show running-config bgpd")
        try:
            bfdd = await self.show("show running-config bfdd")
        except ApplyError:
            bfdd = ""
        return await asyncio.to_thread(lambda: owned(parse(bgpd), parse(bfdd)))

    async def _send(self, script: list[str], text: str, config: Config) -> None:
        """Run ``script`` with ``vtysh -f``; on success FRR holds ``text``."""
        self.last_script_lines = len(script)
        if script:
            t = self.target
            staged = t.delta_file.with_suffix(".tmp")
            staged.write_text("\n".join(script) + "\n")
            staged.chmod(0o644)
            os.replace(staged, t.delta_file)
            argv = [*t.vtysh_argv(), "-f", str(t.delta_file)]
            code, out = await _run(*argv, limit=t.timeout)
            if code != 0:
                raise ApplyError(f"vtysh -f exited {code}: {out.strip()[-2000:]}")
        self._known, self._known_config = text, config
        self._daemons = self.target.daemon_ids()

    async def _reload(self, text: str) -> None:
        """The whole file, with frr-reload.py (or, without it, vtysh -f)."""
        t = self.target
        if self.uses_frr_reload:
            argv = ["python3", str(t.reload_script), "--reload", "--stdout"]
            argv += ["--bindir", str(Path(shutil.which(t.vtysh) or t.vtysh).parent)]
            argv += ["--confdir", str(t.confdir), "--rundir", str(t.workdir / "run")]
            argv += ["-N", t.pathspace] if t.pathspace else []
            argv.append(str(t.config_file))
            self.mode = "reload"
        else:
            argv = [*t.vtysh_argv(), "-f", str(t.config_file)]
            self.mode = "file"
        code, out = await _run(*argv, limit=t.timeout)
        if code != 0:
            raise ApplyError(f"{' '.join(argv[:2])} exited {code}: {out.strip()[-2000:]}")
        self._known = text if self.uses_frr_reload else None
        self._known_config = None
        self._daemons = t.daemon_ids()

    async def show(self, command: str) -> str:
        """Run a vtysh ``show`` command against this FRR (for status and metrics)."""
        code, out = await _run(*self.target.vtysh_argv(), "-c", command)
        if code != 0:
            raise ApplyError(f"vtysh -c {command!r} exited {code}: {out.strip()}")
        return out
