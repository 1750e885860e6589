"""The ``metallb`` command: parse the arguments, import the chosen subcommand, run it.

The subcommands:

- ``controller`` and ``speaker``: the two daemons (upstream's controller and speaker
  binaries, same flags and environment variables);
- ``plan``: offline what-if, allocating and electing from YAML files as the daemons would;
- ``config validate`` and ``config convert``: check metallb.io YAML offline, or turn a
  legacy ConfigMap or GKE file into it;
- ``explain``, ``status`` and ``doctor``: read a running cluster and say why a Service
  has its IP and announcer, what the pools hold, and what is misconfigured;
- ``lab up|down|status|fail-node|heal-node``: a simulated bare-metal cluster on this
  machine.

The parser (:mod:`metallb.cli.parsers`) names each handler as ``"module:function"``
inside this package, so only the subcommand that runs pays for its imports. Each handler
takes the parsed arguments and returns an exit code. A reader that closes the pipe early
(``metallb plan -o json | head``) ends the command quietly, as Unix tools do.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import cast

from metallb.cli.parsers import build_parser

__all__ = ["build_parser", "main"]

Handler = Callable[..., int]


def _handler(spec: str) -> Handler:
    module, _, function = spec.partition(":")
    return cast(Handler, getattr(importlib.import_module(f"metallb.cli.{module}"), function))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = _handler(args.handler)(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's recommended ending: point stdout at /dev/null so the interpreter's
        # final flush does not raise again, and exit as a killed writer would not.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
