"""The ``metallb`` command: parse the arguments, import the chosen subcommand, run it.

The parser lives in :mod:`metallb.cli.parsers` and names each handler by module, so only
the subcommand that runs pays for its imports. Each handler takes the parsed arguments
and returns an exit code. A reader that closes the pipe early (``metallb plan -o json |
head``) ends the command quietly, as Unix tools do.
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
