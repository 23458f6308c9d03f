"""Sensor-aware window energy estimators (docs/accuracy.md).

A sensor does not show power as it is: it shows a delayed, filtered, sampled version described
by its :class:`~edgepower.sensors.SensorModel`. Each estimator turns the readings around a window
into the window's energy:

``plain``
    Trapezoid of the readings over [t0, t1] with interpolated edges (the native
    ``integrate_power``), or the counter difference: what :class:`~edgepower.PowerMonitor` does
    without an estimator. Biased by the sensor's lag.
``lag``
    Lag compensation. For a register that refreshes every R with a running average of N
    conversions (an INA3221; N = 1 is a plain sample-and-hold) whose conversions are centred c
    before the refresh, the conversions' mean power over the window is exactly (telescoping
    the filter recursion x_k = out_(k-1) + N (out_k - out_(k-1)))
    ``E = integral of out over [t0 + L, t1 + L] + N R (out(t1 + L) - out(t0 + L))``, L = c - R/2.
    No settling is needed: it works for N = 512 (tau = 430 ms) with windows shorter than tau.
``guard``
    Window guards: average only the readings whose observation lies wholly inside the window
    (skip the first R + observation time), times the window's duration. Needs the power to be
    stationary inside the window (a layer repeated back to back) and a filter that settles well
    inside it, so it falls back to ``lag`` for N > 1.
``counter``
    Counter windows padded to whole counter steps: locate the counter's steps inside the window
    and use the mean power between the first and the last, times the window's duration.
``auto``
    ``counter`` for counters; ``guard`` for boxcar readings that observe only part of each
    period (NVML instant power), when the guard takes at most a third of the window; ``lag``
    for registers (INA3221, any N). The error table (docs/accuracy.md) chose these.

An :class:`Estimator` (a model and a method) is what :class:`~edgepower.PowerMonitor` takes as
``estimator=``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .._native import core as _core
from ..sensors.model import SensorModel

METHODS = ("plain", "lag", "guard", "counter", "auto")


def _trapezoid(t: np.ndarray, p: np.ndarray, a: int, b: int, hold_ns: int = 0) -> float:
    """Integral of the linear interpolation of (t, p) over [a, b] (ns in, J out) by the native
    integrator; NaN when the samples do not cover it. ``hold_ns``: the first/last reading may be
    held this far beyond the samples (a register holds its value between refreshes)."""
    t = np.asarray(t, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    if len(t) < 2 or b < a or a < t[0] - hold_ns or b > t[-1] + hold_ns:
        return math.nan
    if a < t[0] or b > t[-1]:
        t = np.concatenate(([min(a, int(t[0]))], t, [max(b, int(t[-1]))])).astype(np.int64)
        p = np.concatenate(([p[0]], p, [p[-1]]))
    return float(_core.integrate_power(t, p, int(a), int(b))["energy_j"])


def plain_energy(t_ns: np.ndarray, power_w: np.ndarray, t0_ns: int, t1_ns: int) -> float:
    """Trapezoid over [t0, t1] with interpolated edges (J)."""
    return _trapezoid(t_ns, power_w, int(t0_ns), int(t1_ns))


def lag_energy(t_ns: np.ndarray, power_w: np.ndarray, t0_ns: int, t1_ns: int, model: SensorModel) -> float:
    """Lag-compensated energy over [t0, t1] (see the module docstring), J."""
    shift = int(round((model.centre_lag_s - 0.5 * model.refresh_s) * 1e9))
    a, b = int(t0_ns) + shift, int(t1_ns) + shift
    # The window shifted earlier (L < 0) may start before the first sample, by under a refresh.
    e = _trapezoid(t_ns, power_w, a, b, hold_ns=int(model.refresh_s * 1e9))
    if not math.isfinite(e):
        return math.nan
    return e + model.filter_tau_s * float(np.interp(b, t_ns, power_w) - np.interp(a, t_ns, power_w))


def guard_energy(t_ns: np.ndarray, power_w: np.ndarray, t0_ns: int, t1_ns: int, model: SensorModel,
                 margin_s: float = 0.0) -> float:
    """Mean of the readings that observed only the window, times its duration (J); NaN when
    the guard leaves less than a third of the window or the sensor filters (N > 1)."""
    if model.averages > 1:
        return math.nan
    g = int(round((model.guard_s + margin_s) * 1e9))
    a, b = int(t0_ns) + g, int(t1_ns)
    if (b - a) < (t1_ns - t0_ns) / 3:
        return math.nan
    e = _trapezoid(t_ns, power_w, a, b)
    return e / ((b - a) * 1e-9) * ((t1_ns - t0_ns) * 1e-9)


def unwrap_counter(counter_j: np.ndarray, range_j: float = 0.0) -> np.ndarray:
    """A counter with its wraps (at ``range_j``; 0: never wraps) undone, as float64 J."""
    c = np.asarray(counter_j, dtype=np.float64)
    if range_j and range_j > 0 and c.shape[0] > 1:
        d = np.diff(c)
        d[d < 0] += range_j
        c = np.concatenate(([c[0]], c[0] + np.cumsum(d)))
    return c


def counter_steps(t_ns: np.ndarray, counter_j: np.ndarray, t0_ns: int,
                  t1_ns: int) -> Optional[Tuple[float, float, float, float]]:
    """The first and last counter steps that happened inside [t0, t1]: (time_a, counter_a,
    time_b, counter_b), each step's time taken as the midpoint of the two samples around it;
    None when fewer than two steps lie inside."""
    i = np.flatnonzero(np.diff(counter_j) != 0) + 1  # sample i shows a step that happened in (t[i-1], t[i]]
    i = i[(t_ns[i - 1] >= t0_ns) & (t_ns[i] <= t1_ns)]
    if len(i) < 2:
        return None
    a, b = i[0], i[-1]
    return (0.5 * (t_ns[a - 1] + t_ns[a]), float(counter_j[a]), 0.5 * (t_ns[b - 1] + t_ns[b]), float(counter_j[b]))


def counter_step_energy(t_ns: np.ndarray, counter_j: np.ndarray, t0_ns: int, t1_ns: int,
                        range_j: float = 0.0) -> float:
    """Mean power between whole counter steps inside the window, times its duration (J); NaN
    when fewer than two steps lie inside (lengthen the window to over two counter periods).

    Not the plain counter difference (that is ``edgepower._core.counter_energy``)."""
    c = unwrap_counter(counter_j, range_j)
    s = counter_steps(t_ns, c, int(t0_ns), int(t1_ns))
    if s is None:
        return math.nan
    ta, ca, tb, cb = s
    return (cb - ca) / ((tb - ta) * 1e-9) * ((t1_ns - t0_ns) * 1e-9)


def resolve(method: str, model: SensorModel, window_s: float = math.inf) -> str:
    """The estimator ``method`` stands for with this sensor ("auto" picks; see the module doc)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method != "auto":
        return method
    if model.kind == "counter":
        return "counter"
    if model.kind == "boxcar" and model.averages == 1 and model.guard_s <= window_s / 3:
        return "guard"
    return "lag"


def estimate(method: str, model: SensorModel, t_ns: np.ndarray, power_w: Optional[np.ndarray],
             counter_j: Optional[np.ndarray], t0_ns: int, t1_ns: int, range_j: float = 0.0) -> Tuple[float, str]:
    """Energy over [t0, t1] by ``method`` (J) and the estimator used; falls back to ``lag``
    where ``guard`` cannot run, and to the counter difference where ``counter`` cannot."""
    m = resolve(method, model, (t1_ns - t0_ns) * 1e-9)
    if m == "counter":
        if counter_j is None:
            raise ValueError("method 'counter' needs an energy counter; this sensor has none")
        e = counter_step_energy(t_ns, counter_j, t0_ns, t1_ns, range_j)
        if math.isfinite(e):
            return e, "counter"
        c = unwrap_counter(counter_j, range_j)
        return float(np.interp(t1_ns, t_ns, c) - np.interp(t0_ns, t_ns, c)), "counter difference"
    if power_w is None:
        raise ValueError(f"method {m!r} needs power readings; this sensor has only a counter")
    if m == "plain":
        return plain_energy(t_ns, power_w, t0_ns, t1_ns), "plain"
    if m == "guard":
        e = guard_energy(t_ns, power_w, t0_ns, t1_ns, model, margin_s=0.001)
        if math.isfinite(e):
            return e, "guard"
    return lag_energy(t_ns, power_w, t0_ns, t1_ns, model), "lag"


@dataclass(frozen=True)
class Estimator:
    """A sensor model and the method to estimate window energies with it.

    Parameters
    ----------
    model : SensorModel
        The sensor's model (:meth:`SensorModel.ina3221`, :meth:`SensorModel.counter`, ...).
    method : str
        One of :data:`METHODS` (default ``"auto"``).
    """

    model: SensorModel
    method: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.model, SensorModel):
            raise TypeError(f"model must be an edgepower.sensors.SensorModel, got {type(self.model).__name__}")
        resolve(self.method, self.model)  # validates the name

    @property
    def name(self) -> str:
        return f"{self.method} ({self.model.name})"

    def padding_ns(self, rate_hz: float) -> int:
        """Samples this far around a window are needed: one refresh and the lag, plus a few
        sample periods."""
        return int((self.model.refresh_s * 2 + self.model.observe_s) * 1e9) + int(4e9 / rate_hz)

    def energy(self, t_ns: np.ndarray, power_w: Optional[np.ndarray], counter_j: Optional[np.ndarray], t0_ns: int,
               t1_ns: int, range_j: float = 0.0) -> Tuple[float, str]:
        """(energy over [t0, t1] in J, the estimator used) from the board-total readings."""
        return estimate(self.method, self.model, t_ns, power_w, counter_j, t0_ns, t1_ns, range_j)


__all__ = ["Estimator", "METHODS", "counter_step_energy", "counter_steps", "estimate", "guard_energy",
           "lag_energy", "plain_energy", "resolve", "unwrap_counter"]
