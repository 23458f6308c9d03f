"""Ctrl-C while the command line starts (imports torch, builds the parser): one line and exit 130.

A ``KeyboardInterrupt`` raised inside an import of torch is not safe to catch: it can cross
pybind11 code that cannot carry it (``terminate called after throwing ... error_already_set``,
exit -6), and CPython can mark it "unhandled" on its way through C code that ran Python source,
so that even after the exception was caught and ``sys.exit(130)`` called, the interpreter kills
itself with SIGINT at exit (exit -2). Both were seen when SIGINT landed in the first second of
``edgepower profile`` (8 of 80 instants between 0.2 and 1.2 s). So while the command line starts,
SIGINT does not raise: a handler prints the one line and leaves with ``os._exit(130)``; nothing
has been measured or written yet, so there is nothing to flush or close. The handler is only
installed for a real command line (``main()`` without argv) and only where SIGINT still has
Python's default handler, and the previous handler is restored once the arguments are parsed.

What it cannot cover: SIGINT before edgepower's own code runs (the interpreter starting and
``import edgepower``, numpy included: about 0.25 s on an idle 2-core x86 machine, 0.4 s beside two
busy loops) gets Python's usual traceback, as for any Python program.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Iterator

MESSAGE = "edgepower: interrupted (Ctrl-C) during start-up: nothing was measured or written\n"


def _leave(signum, frame) -> None:  # pragma: no cover - runs in a child process (test_profile_spool)
    os.write(2, MESSAGE.encode())
    os._exit(130)


@contextlib.contextmanager
def guard(enabled: bool = True) -> Iterator[None]:
    """Within the block, Ctrl-C prints :data:`MESSAGE` and exits 130 at once."""
    if not enabled or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    signal.signal(signal.SIGINT, _leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
