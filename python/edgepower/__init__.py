"""edgepower: how much energy each layer of a PyTorch model costs at inference.

The native core (edgepower._core) samples power sensors on its own thread, timestamps every
reading on CLOCK_MONOTONIC and integrates energy over marked windows; this package wraps it.
"""
from __future__ import annotations

from ._native import core as _core
from .measurement import Measurement, Samples
from .monitor import PowerMonitor
from .sensors import SensorError, SensorUnavailable, create_sensor, sensors

__version__ = "0.1.0"


def now_ns() -> int:
    """Nanoseconds of CLOCK_MONOTONIC, the clock of every sample and mark.

    The same clock as :func:`time.monotonic_ns`, so Python timestamps and native ones compare
    directly.
    """
    return _core.now_ns()


__all__ = [
    "Measurement",
    "PowerMonitor",
    "Samples",
    "SensorError",
    "SensorUnavailable",
    "create_sensor",
    "now_ns",
    "sensors",
    "__version__",
]
