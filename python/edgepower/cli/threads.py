"""How torch's threads wait, set by ``edgepower profile`` before torch is imported."""
from __future__ import annotations

import os
import sys
from typing import Any

from ..sensors.info import CPU_TIME_KINDS


def passive_waits(kind: str, environ: Any = None, modules: Any = None) -> str:
    """On the CPU estimates, makes torch's OpenMP threads sleep while they wait at a barrier
    (``OMP_WAIT_POLICY=PASSIVE``) instead of spinning, and says what was decided.

    The estimate counts this process's CPU time as energy. A thread that reaches a barrier first
    spins until the others arrive, and how long depends on the other load: a partner thread
    descheduled behind another process keeps it spinning. On the 2-CPU VM with a 2-thread busy
    loop beside it, VGG11's forward cost 611 ms of CPU time spinning against 394 ms on the idle
    machine (+55 %), and 338 ms against 369 ms waiting passively (-8 %); the whole profile's net
    energy came out +47 % (spinning) and -2.6 % (passive) off the idle machine's passive run
    (docs/accuracy.md).
    libgomp reads the variable once, when torch is imported: set before that, it applies; a
    policy the user set is kept; a real sensor measures what the deployment does, so nothing is
    changed there."""
    env = os.environ if environ is None else environ
    mods = sys.modules if modules is None else modules
    if kind not in CPU_TIME_KINDS:
        return ""
    if "OMP_WAIT_POLICY" in env:
        return f"OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']} (set by the user)"
    if "torch" in mods:
        return ("torch was imported before the sensor was chosen: its threads spin at barriers, which the "
                "CPU estimate counts as energy (set OMP_WAIT_POLICY=PASSIVE before importing torch)")
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return ("OMP_WAIT_POLICY=PASSIVE, set by edgepower for the CPU estimate: torch's threads sleep at barriers "
            "instead of spinning, so the CPU time counted as energy does not depend on other processes")


__all__ = ["passive_waits"]
