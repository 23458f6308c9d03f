"""Command line: edgepower COMMAND ... (also python -m edgepower); one module a subcommand."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import List, Optional

from .._startup import MESSAGE as STARTUP_INTERRUPTED
from .._startup import guard
from ..sensors import SensorError
from . import accuracy as _accuracy
from . import compare as _compare
from . import edgeprofiler as _edgeprofiler
from . import monitor as _monitor
from . import predict as _predict
from . import profile as _profile
from . import profile_trace as _profile_trace
from . import sensors as _sensors

DESCRIPTION = "Energy per layer of PyTorch models, and power sensors, from the command line."
EPILOG = "Every timestamp is CLOCK_MONOTONIC; energies are trapezoid integrals of the samples."


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="edgepower", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"edgepower {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what edgepower decides")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _monitor.add_parser(sub)
    _sensors.add_parser(sub)
    _profile.add_parser(sub)
    _edgeprofiler.add_parser(sub)
    _accuracy.add_parser(sub)
    _predict.add_parsers(sub)
    _compare.add_parser(sub)
    _profile_trace.add_parser(sub)
    return parser


def _warning_to_stderr(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    try:
        # A real command line (argv None): Ctrl-C here prints one line and exits 130 at once, as a
        # KeyboardInterrupt inside torch's import is not safe to catch (_startup.py says why).
        with guard(enabled=argv is None):
            parser = build_parser()  # imports what the subcommands need (torch, for `predict`): seconds
            args = parser.parse_args(argv)
    except KeyboardInterrupt:  # in-process callers (argv given) keep the exception's path
        print(STARTUP_INTERRUPTED, end="", file=sys.stderr)
        return 130
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # what was typed (profile --resume checks it)
    # Logs and warnings go to stderr (stdout carries the results, e.g. --json).
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s",
                        stream=sys.stderr)
    old_show = warnings.showwarning
    warnings.showwarning = _warning_to_stderr
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling (start-up): one line, no traceback
        print(f"edgepower {args.command}: interrupted (Ctrl-C) before any results were written", file=sys.stderr)
        if argv is None:
            # Caught, but CPython may have marked it unhandled on its way through C code that ran
            # Python source (torch imported by the model factory): it would then kill itself with
            # SIGINT at exit (-2, seen in CI; _startup.py). Nothing was written: leave at once.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130
    except (ValueError, KeyError, OSError, SensorError, ImportError) as exc:  # user errors: no traceback
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2
    finally:
        warnings.showwarning = old_show


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
