"""Energy of one window from the samples around it: the plain rule, per rail.

Per rail, the trapezoid of the power readings over [t0, t1] with interpolated edges (native
``integrate_power``), or, where the sensor's power is derived from its energy counter
(:func:`~edgepower.sensors.info.uses_counter`), the counter difference with wrap correction
(native ``counter_energy``, which refuses to integrate across a counter reset: NaN with the
reason). The board total follows :func:`~edgepower.sensors.info.board_total`.
A window the samples do not cover is NaN with the reason, never a silent 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List

import numpy as np

from .._native import core as _core
from ..sensors.info import board_total, uses_counter


@dataclass(frozen=True)
class WindowEnergy:
    """Plain energy of one window.

    Attributes
    ----------
    per_rail_j : list of float
        Energy per rail (NaN where not covered).
    total_j : float
        Board total (the total rail, or the sum of rails).
    num_samples : int
        Samples with t0 <= t <= t1.
    method : str
        ``"trapezoid"`` or ``"counter"`` (counter differences on at least one rail).
    reason : str
        Why a figure is NaN ("" when all are numbers).
    """

    per_rail_j: List[float]
    total_j: float
    num_samples: int
    method: str
    reason: str


def window_energy(info: Any, t_ns: np.ndarray, power_w: np.ndarray, counter_j: np.ndarray, t0_ns: int,
                  t1_ns: int) -> WindowEnergy:
    """Plain energy over [t0_ns, t1_ns] from samples that cover it (one before t0 to one after t1
    is enough).

    Parameters
    ----------
    info : SensorInfo
        The sensor's info (rails, total rail, counters, wrap range).
    t_ns : int64 [n]
    power_w : float64 [n, n_rails]
    counter_j : float64 [n, n_rails] or [0, n_rails]
    t0_ns, t1_ns : int
    """
    per = _core.integrate_power(t_ns, power_w, int(t0_ns), int(t1_ns))
    method = "trapezoid"
    if uses_counter(info) and counter_j.shape[0]:
        counted = _core.counter_energy(t_ns, counter_j, info.counter_range_j, int(t0_ns), int(t1_ns),
                                       max_power_w=info.max_power_w, update_interval_s=info.update_interval_s)
        # Per rail: a rail without a counter (NaN, so not Ok) keeps the trapezoid of its power;
        # a counter reset is NaN with its reason, never the power derived around it.
        for i, r in enumerate(counted):
            if r["status"] in (0, _core.STATUS_COUNTER_RESET):
                per[i] = r
                method = "counter"
    energies = [float(r["energy_j"]) for r in per]
    reason = next((r["reason"] for r in per if r["reason"]), "")
    return WindowEnergy(per_rail_j=energies, total_j=board_total(info, energies),
                        num_samples=int(per[0]["num_samples"]), method=method, reason=reason)


__all__ = ["WindowEnergy", "window_energy"]
