"""edgepower: how much energy each layer of a PyTorch model costs at inference.

The native core (edgepower._core) samples power sensors on its own thread, timestamps every
reading on CLOCK_MONOTONIC and integrates energy over marked windows; this package wraps it,
one subpackage per stage of the flow (docs/architecture.md)::

    sensors/ -> monitor -> profile/ -> energy/ -> report -> export/   (cli/, testing/, edgeprofiler/)
"""
from __future__ import annotations

from ._native import core as _core
from .measure import measure
from .measurement import Measurement, Samples, WindowResult
from .monitor import CompensatedMonitor, PowerMonitor
from .sensors import SensorError, SensorUnavailable, create_sensor, sensors
from .spool import Spool, read_spool

__version__ = "0.1.0"

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type checkers see the real names; at run time they load on first use
    from .profile import LayerProfiler, profile_layers
    from .report import Report

# The profiler needs torch; it is imported on first use so that edgepower imports without it.
_LAZY = {"LayerProfiler": "profile", "profile_layers": "profile", "Report": "report"}


def __getattr__(name: str) -> Any:
    if name in _LAZY or name == "predict":
        import importlib

        if name == "predict":  # the subpackage, callable as edgepower.predict(model, x, predictor=...)
            return importlib.import_module(".predict", __name__)

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
    "Spool",
    "SensorError",
    "SensorUnavailable",
    "WindowResult",
    "create_sensor",
    "measure",
    "now_ns",
    "predict",
    "profile_layers",
    "read_spool",
    "sensors",
    "__version__",
]
