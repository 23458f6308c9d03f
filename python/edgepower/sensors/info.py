"""Facts about a sensor that the rest of the pipeline must agree on, each stated once.

The board total is the sensor's total rail when it has one (``SensorInfo.total_rail >= 0``: the
Jetson's VDD_IN / POM_5V_IN), else the sum of its rails. Every figure that says "total" (window
energy, the power column of a report, traces, estimators) goes through :func:`board_total`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

# The CPU estimates (not power sensors): from the kernel's CPU time, this process's (cpu-process)
# or the whole system's utilisation (cpu-estimate).
CPU_TIME_KINDS = ("cpu-process", "cpu-estimate")


def total_rail_name(info: Any) -> str:
    """The rail that stands for the whole board, or ``"sum of rails"``."""
    i = int(info.total_rail)
    rails = list(info.rails)
    return rails[i] if 0 <= i < len(rails) else "sum of rails"


def board_total(info: Any, per_rail: Any) -> Any:
    """The board total of per-rail values: the total rail's column, else the sum over rails.

    Parameters
    ----------
    info : SensorInfo
        The sensor's info (``total_rail``).
    per_rail : array [..., n_rails]
        Power per sample ``[n, rails]``, counters ``[n, rails]`` or one value per rail ``[rails]``.

    Returns
    -------
    array [...] (a float for a 1-D input)
    """
    a = np.asarray(per_rail, dtype=np.float64)
    i = int(info.total_rail)
    out = a[..., i] if i >= 0 else a.sum(axis=-1)
    return float(out) if out.ndim == 0 else out


def uses_counter(info: Any) -> bool:
    """Whether a window's energy comes from the sensor's counter differences.

    Where the sensor's power is derived from its energy counters (RAPL, hwmon energy, NVML without
    the instant field) the counter is the measurement. Where power is a reading of its own (NVML's
    instant field) that reading is integrated: a counter that steps every 100 ms reads 0 J over a
    shorter window.
    """
    return bool(info.has_counter) and (bool(info.power_derived) or not bool(info.has_power))


__all__ = ["board_total", "total_rail_name", "uses_counter"]
