"""The images `make images` builds (tools/images/build.sh), run in the project's private
Docker engine: each runs metallb offline, the controller as nobody, no wheel or pip left
in any image, FRR in speaker-frr, and the lab's pause and web images do their job.

The images are built through `make images` when missing (cached: a second run builds
nothing and starts no engine); the engine is started for this module and stopped after.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import metallb
from tests.conftest import REPO

# A cold build (two mmdebstrap runs, the wheels, five images) takes a few minutes.
pytestmark = pytest.mark.timeout(1200)

ENGINE = REPO / "tools" / "images" / "engine.sh"
DOCKER = os.environ.get("METALLB_PY_DOCKER", "/usr/bin/docker")
APP_IMAGES = ("controller", "speaker", "speaker-frr")


@dataclass(frozen=True)
class Engine:
    host: str  # DOCKER_HOST of the private engine
    refs: dict[str, str]  # image name (controller, lab-web, ...) -> reference

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DOCKER, *args],
            env={**os.environ, "DOCKER_HOST": self.host},
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def run(self, image: str, *args: str, entrypoint: str = "sh", user: str = "") -> str:
        """Runs ``args`` in a throwaway container of ``image`` with no network (as the
        image's user, or ``user``); its stdout."""
        as_user = ["--user", user] if user else []
        out = self.docker(
            "run", "--rm", "--network", "none", *as_user, "--entrypoint", entrypoint,
            self.refs[image], *args,
        )  # fmt: skip
        return out.stdout


def built_images() -> dict[str, tuple[str, Path]]:
    """`make images` (builds what is missing), parsed: name -> (reference, tarball)."""
    out = subprocess.run(
        ["make", "-s", "images"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    images: dict[str, tuple[str, Path]] = {}
    for line in out.stdout.splitlines():
        m = re.fullmatch(r"(\S+/([\w-]+):\S+) (/\S+\.tar)", line)
        if m:
            images[m[2]] = (m[1], Path(m[3]))
    assert set(images) == {*APP_IMAGES, "lab-pause", "lab-web"}, out.stdout
    return images


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    images = built_images()
    cache = Path(os.environ.get("METALLB_PY_CACHE", Path.home() / ".cache" / "metallb-py"))
    # The lock build.sh takes: no build stops the engine while these tests use it.
    with (cache / "images" / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        host = subprocess.run(
            ["bash", str(ENGINE), "start"], capture_output=True, text=True, check=True
        ).stdout.strip()
        try:
            eng = Engine(host, {name: ref for name, (ref, _) in images.items()})
            for ref, tarball in images.values():
                # The engine's data root may have lost an image its tarball still holds.
                if eng.docker("image", "inspect", ref, check=False).returncode != 0:
                    eng.docker("load", "-i", str(tarball))
            yield eng
        finally:
            subprocess.run(["bash", str(ENGINE), "stop"], check=True)


@pytest.mark.parametrize("image", APP_IMAGES)
def test_metallb_runs_offline_in_each_image(engine: Engine, image: str) -> None:
    # One container for the three commands (each start of metallb imports the package).
    out = engine.run(
        image, "-c", "metallb --version && metallb controller --help && metallb speaker --help"
    )
    assert out.splitlines()[0] == f"metallb-py {metallb.__version__}"
    assert "usage: metallb controller" in out
    assert "usage: metallb speaker" in out
    # The compiled parts of the dependencies' wheels load with Debian's Python and libc.
    compiled = (
        "import cryptography.hazmat.bindings._rust, pydantic_core._pydantic_core,"
        " yaml._yaml, multidict._multidict, aiohttp._http_parser; print('ok')"
    )
    assert engine.run(image, "-c", compiled, entrypoint="/opt/metallb/bin/python3") == "ok\n"


def test_controller_runs_as_nobody(engine: Engine) -> None:
    user = engine.docker("image", "inspect", "-f", "{{.Config.User}}", engine.refs["controller"])
    assert user.stdout.strip() == "65534:65534"
    assert engine.run("controller", "-c", "id -u; id -g").split() == ["65534", "65534"]


@pytest.mark.parametrize("image", [*APP_IMAGES, "lab-web"])
def test_no_wheel_and_no_pip_in_the_image(engine: Engine, image: str) -> None:
    # find (as root, to see every directory) prints nothing when no wheel or wheel
    # directory is anywhere in the image.
    found = engine.run(
        image,
        "-c",
        "find / -xdev \\( -name '*.whl' -o -path /ctx -o -path /wheels \\) -print",
        user="0",
    )
    assert found == ""
    history = engine.docker(
        "history", "--no-trunc", "--format", "{{.CreatedBy}}", engine.refs[image]
    )
    assert "/ctx" not in history.stdout
    assert "wheels" not in history.stdout
    if image != "lab-web":
        # pip ran from its wheel in the install stage: the virtualenv has none.
        probe = "import importlib.util as u; print(u.find_spec('pip') is None)"
        assert engine.run(image, "-c", probe, entrypoint="/opt/metallb/bin/python3") == "True\n"


def test_speaker_frr_has_frr(engine: Engine) -> None:
    out = engine.run(
        "speaker-frr",
        "-c",
        "vtysh --help | head -n 3; python3 /usr/lib/frr/frr-reload.py --help | head -n 1;"
        " grep -E '^(bgpd|bfdd)=' /etc/frr/daemons; id -Gn; echo $METALLB_BGP_TYPE",
    )
    assert re.search(r"Integrated shell for FRR \(version \d+\.\d+", out), out
    assert "usage: frr-reload.py" in out
    assert "bgpd=yes" in out
    assert "bfdd=yes" in out
    assert {"frr", "frrvty"} <= set(out.splitlines()[-2].split())
    assert out.splitlines()[-1] == "frr"


def test_lab_pause_exits_on_sigterm_and_reaps_orphans(engine: Engine) -> None:
    pause = engine.docker("run", "-d", "--network", "none", engine.refs["lab-pause"]).stdout.strip()
    try:
        # In pause's PID namespace, a grandchild whose parent has exited is reparented
        # to pause (PID 1); once it exits only pause can reap it, else it stays a zombie.
        orphan = (
            "import os, time\n"
            "if os.fork() == 0:\n"
            "    if os.fork() == 0:\n"
            "        time.sleep(0.3); os._exit(0)\n"
            "    os._exit(0)\n"
            "os.wait()\n"
            "deadline = time.monotonic() + 10\n"
            "while time.monotonic() < deadline:\n"
            "    states = [open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[0]\n"
            "              for p in os.listdir('/proc') if p.isdigit()]\n"
            "    if 'Z' not in states and len(states) <= 2: break\n"
            "    time.sleep(0.1)\n"
            "print(sorted(states))\n"
        )
        out = engine.docker(
            "run", "--rm", "--network", "none", "--pid", f"container:{pause}",
            "--entrypoint", "python3", engine.refs["lab-web"], "-c", orphan,
        )  # fmt: skip
        # pause (S) and this script (R): the orphan was reaped.
        assert out.stdout.strip() == "['R', 'S']"
        engine.docker("stop", "-t", "30", pause)
        state = engine.docker("inspect", "-f", "{{.State.ExitCode}}", pause).stdout.strip()
        # A PID 1 that ignored SIGTERM would have been killed (137) after 30 s.
        assert state == "0"
        assert "got signal 15" in engine.docker("logs", pause).stderr
    finally:
        engine.docker("rm", "-f", pause, check=False)


def test_lab_web_answers_with_its_node_name(engine: Engine) -> None:
    """The body is the node's name (what the lab's clients compare), the Pod's name is
    in the X-Pod header."""
    web = engine.docker(
        "run", "-d", "--network", "none", "-e", "POD_NAME=web-1", "-e", "NODE_NAME=n1",
        engine.refs["lab-web"],
    ).stdout.strip()  # fmt: skip
    try:
        get = (
            "import time\n"
            "from urllib.request import urlopen\n"
            "for _ in range(50):\n"
            "    try:\n"
            "        r = urlopen('http://127.0.0.1:8080/')\n"
            "        print(r.headers['X-Pod'], r.read().decode()); break\n"
            "    except OSError:\n"
            "        time.sleep(0.1)\n"
        )
        out = engine.docker("exec", web, "python3", "-c", get).stdout
        assert out.split() == ["web-1", "n1"]
    finally:
        engine.docker("rm", "-f", web, check=False)


def test_engine_adds_no_bridge_and_no_firewall_rule(engine: Engine) -> None:
    # While the engine runs (with Docker's defaults it would have made docker0 and its
    # DOCKER chains by now).
    assert engine.docker("info", "-f", "{{.ServerVersion}}").stdout.strip()
    bridges = subprocess.run(
        ["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True, check=True
    ).stdout
    assert "docker" not in bridges
    for cmd in (["iptables-save"], ["ip6tables-save"], ["nft", "list", "ruleset"]):
        rules = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        assert "docker" not in rules.lower(), cmd
    networks = engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    # --bridge=none: only host and none networks exist.
    assert sorted(networks) == ["host", "none"]
