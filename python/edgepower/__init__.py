"""edgepower: how much energy each layer of a PyTorch model costs at inference.

The native core (edgepower._core) samples power sensors on its own thread, timestamps every
reading on CLOCK_MONOTONIC and integrates energy over marked windows; this package wraps it,
one subpackage per stage of the flow (docs/architecture.md)::

    sensors/ -> monitor -> profile/ -> energy/ -> report -> export/   (cli/, testing/, edgeprofiler/)
"""
from __future__ import annotations

from ._native import core as _core
from .measurement import Measurement, Samples
from .monitor import CompensatedMonitor, PowerMonitor
from .sensors import SensorError, SensorUnavailable, create_sensor, sensors

__version__ = "0.1.0"

# The profiler needs torch; it is imported on first use so that edgepower imports without it.
_LAZY = {"LayerProfiler": "profile", "profile_layers": "profile", "Report": "report"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'edgepower' has no attribute {name!r}")


def now_ns() -> int:
    """Nanoseconds of CLOCK_MONOTONIC, the clock of every sample and mark.

    The same clock as :func:`time.monotonic_ns`, so Python timestamps and native ones compare
    directly.
    """
    return _core.now_ns()


__all__ = [
    "CompensatedMonitor",
    "LayerProfiler",
    "Measurement",
    "PowerMonitor",
    "Report",
    "Samples",
    "SensorError",
    "SensorUnavailable",
    "create_sensor",
    "now_ns",
    "profile_layers",
    "sensors",
    "__version__",
]
