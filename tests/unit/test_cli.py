"""The command line answers --version and --help and lists every subcommand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metallb import __version__
from metallb.cli.controller_cmd import warn_unapplied
from metallb.cli.main import build_parser, main
from metallb.cli.speaker_cmd import exclude_patterns, read_secret

SUBCOMMANDS = ("controller", "speaker", "plan", "config", "explain", "status", "doctor", "lab")


def test_version_is_printed_by_the_installed_script() -> None:
    """The console script is installed and reports the package version."""
    out = subprocess.run(
        [sys.executable, "-m", "metallb.cli.main", "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == f"metallb-py {__version__}"


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    """--help names each subcommand, so users can discover the tool."""
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize(
    ("argv", "attr", "expected"),
    [
        pytest.param(["controller"], "webhook_mode", "enabled", id="controller webhook default"),
        pytest.param(["controller"], "port", 9120, id="controller metrics port"),
        pytest.param(["speaker"], "health_probe_port", 17472, id="speaker health port"),
        pytest.param(["speaker"], "bgp_debounce_timeout", 3000, id="speaker debounce ms"),
        pytest.param(
            ["config", "convert", "-f", "x", "--from", "gke"], "source", "gke", id="convert source"
        ),
        pytest.param(
            ["plan", "-f", "a", "-f", "b"], "filename", ["a", "b"], id="plan takes several files"
        ),
    ],
)
def test_upstream_flag_defaults(argv: list[str], attr: str, expected: object) -> None:
    """Flags carry upstream MetalLB's names and defaults."""
    assert getattr(build_parser().parse_args(argv), attr) == expected


def test_unknown_log_level_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """Bad input names the flag and the allowed values."""
    with pytest.raises(SystemExit) as exc:
        main(["controller", "--log-level", "loud"])
    assert exc.value.code == 2
    assert "--log-level" in capsys.readouterr().err


def test_speaker_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment variables fill flags as in upstream's manifests."""
    monkeypatch.setenv("METALLB_NODE_NAME", "node-a")
    monkeypatch.setenv("METALLB_ML_BIND_ADDR", "192.0.2.10")
    args = build_parser().parse_args(["speaker"])
    assert (args.node_name, args.ml_bindaddr) == ("node-a", "192.0.2.10")


def test_speaker_exclusions_come_from_the_file_only(tmp_path: Path) -> None:
    """As upstream: the mounted ConfigMap's list, and nothing excluded without the file."""
    conf = tmp_path / "excludel2.yaml"
    conf.write_text("announcedInterfacesToExclude: ['^eth1$', '^lo$']\n")
    assert exclude_patterns(conf) == ("^eth1$", "^lo$")
    assert exclude_patterns(tmp_path / "missing.yaml") == ()


@pytest.mark.parametrize(
    ("bgp_type", "argv", "error"),
    [
        ("native", ["--frrk8s-namespace=x"], "requires METALLB_BGP_TYPE=frr-k8s"),
        ("frr-k8s", [], "requires --frrk8s-namespace to be set"),
    ],
)
def test_speaker_secret_passthrough_checks(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    bgp_type: str,
    argv: list[str],
    error: str,
) -> None:
    """--frrk8s-secret-passthrough refuses to start outside frr-k8s mode or without
    --frrk8s-namespace, as upstream's speaker."""
    monkeypatch.setenv("METALLB_BGP_TYPE", bgp_type)
    monkeypatch.delenv("FRRK8S_NAMESPACE", raising=False)
    argv = ["speaker", "--node-name=n1", "--frrk8s-secret-passthrough", *argv]
    assert main(argv) == 2
    assert error in caplog.text


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["controller", "--pprof-bind-address=:6060"], ["--pprof-bind-address"]),
        (["controller", "--webhook-http2"], ["--webhook-http2"]),
        (["speaker", "--node-name=n1", "--host=x"], ["--host"]),
        (["controller"], []),
    ],
)
def test_flags_accepted_but_not_applied_say_so(argv: list[str], expected: list[str]) -> None:
    """Upstream flags that change nothing here are accepted (a manifest keeps working)
    and, when set, a warning says each is not applied."""
    said = warn_unapplied(build_parser().parse_args(argv))
    assert [w.split(":")[0].split(" ")[0] for w in said] == expected


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--tls-cipher-suites", "TLS_NOT_A_SUITE"),
        ("--tls-curve-preferences", "7"),
    ],
)
def test_bad_tls_flags_stop_the_process_naming_the_flag(
    capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    assert main(["controller", f"{flag}={value}"]) == 2
    err = capsys.readouterr().err
    assert flag in err
    assert value in err


def test_the_memberlist_secret_is_used_as_stored(tmp_path: Path) -> None:
    """Upstream's speaker keys memberlist with the file's bytes, untrimmed: so do we, or a
    Secret ending in a newline would key our speakers differently from upstream's."""
    (tmp_path / "secretkey").write_bytes(b"c2VjcmV0\n")
    assert read_secret(str(tmp_path)) == b"c2VjcmV0\n"
