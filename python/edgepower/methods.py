"""Sensor-aware energy estimators and phase-shifted repeats (docs/accuracy.md).

A sensor does not show power as it is: it shows a delayed, filtered, sampled version. This module
knows each sensor's model (:class:`SensorModel`) and estimates a window's energy accordingly:

``plain``
    Trapezoid of the readings over [t0, t1] (or the counter difference): what
    :class:`~edgepower.PowerMonitor` does. Biased by the sensor's lag.
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

:class:`CompensatedMonitor` is a :class:`~edgepower.PowerMonitor` whose windows (and idle
baseline) use one of these; give it to :class:`~edgepower.LayerProfiler` as ``monitor=``.
:class:`PhaseShift` inserts random or evenly spread delays before each window
(``LayerProfiler(before_window=PhaseShift(0.1))``), after Yang et al. (SC'24).
"""
from __future__ import annotations

import dataclasses
import glob
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .measurement import Measurement
from .monitor import PowerMonitor

log = logging.getLogger("edgepower")

METHODS = ("plain", "lag", "guard", "counter", "auto")


@dataclass(frozen=True)
class SensorModel:
    """How a sensor's reading relates to the true power.

    Attributes
    ----------
    kind : str
        ``"register"`` (a reading held between refreshes, optionally running-averaged: an
        INA3221), ``"boxcar"`` (a reading that every ``refresh_s`` becomes the mean of the last
        ``observe_s``: NVML instant power) or ``"counter"`` (an energy counter that steps every
        ``refresh_s``).
    refresh_s : float
        Time between refreshes of the reading (or counter steps), s.
    observe_s : float
        How long each refresh observes the power (shunt conversion time, boxcar window), s.
    centre_lag_s : float
        From the centre of the observation to the refresh, s.
    averages : int
        N of a running-average filter (1: none).
    name : str
        For reports.
    """

    kind: str
    refresh_s: float
    observe_s: float
    centre_lag_s: float
    averages: int = 1
    name: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("register", "boxcar", "counter"):
            raise ValueError(f"kind must be 'register', 'boxcar' or 'counter', got {self.kind!r}")
        for f in ("refresh_s", "observe_s"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{f} must be a positive number of seconds, got {v!r}")
        if not (isinstance(self.averages, int) and self.averages >= 1):
            raise ValueError(f"averages must be an int >= 1, got {self.averages!r}")

    @property
    def filter_tau_s(self) -> float:
        """Time constant of the running average, N x refresh (s)."""
        return self.averages * self.refresh_s

    @property
    def reading_lag_s(self) -> float:
        """Mean age of the power a reading stands for at the refresh that produced it (s): the
        centre of the observation (``centre_lag_s``) plus the running average's mean delay,
        (N - 1) refreshes (the filter's weights (1/N)(1 - 1/N)^j over past conversions have mean
        j = N - 1). In-situ attribution (docs/profiler.md) moves each reading this much before
        its fitted refresh."""
        return self.centre_lag_s + (self.averages - 1) * self.refresh_s

    @property
    def guard_s(self) -> float:
        """Head guard: a reading taken this long after t0 observed only power after t0 (N = 1)."""
        return self.refresh_s + self.centre_lag_s + 0.5 * self.observe_s

    # ---- constructors ---------------------------------------------------------------------
    @classmethod
    def ina3221(cls, averages: int = 1, bus_conversion_s: float = 1.1e-3, shunt_conversion_s: float = 1.1e-3,
                channels: int = 3) -> "SensorModel":
        """An INA3221 in continuous mode: refresh C x (BC + SC); the shunt register refreshes
        at the end of the shunt conversion."""
        if not (isinstance(channels, int) and 1 <= channels <= 3):
            raise ValueError(f"channels must be 1, 2 or 3, got {channels!r}")
        return cls("register", channels * (bus_conversion_s + shunt_conversion_s), shunt_conversion_s,
                   0.5 * shunt_conversion_s, int(averages),
                   f"INA3221 N={averages} {shunt_conversion_s * 1e6:.0f}us x{channels}")

    @classmethod
    def from_hwmon(cls, hwmon_dir: str) -> "SensorModel":
        """Reads ``samples``, ``update_interval`` (ms, = C x (BC + SC) with the post-2021
        driver) and the labelled channels of an INA3221 hwmon directory, assuming BC = SC (the
        driver sets both on a write to update_interval). update_interval is in whole ms, so
        the refresh is known to +-0.5 ms: prefer :meth:`ina3221` when you know the
        configuration (device tree ``ti,continuous-config``)."""
        def read(name: str) -> str:
            try:
                with open(os.path.join(hwmon_dir, name)) as f:
                    return f.read().strip()
            except OSError as exc:
                raise ValueError(f"cannot read {name} in {hwmon_dir}: {exc}; is this an INA3221 hwmon "
                                 "directory (.../ina3221/*/hwmon/hwmon*)?") from None
        n = int(read("samples"))
        interval_s = float(read("update_interval")) * 1e-3
        channels = max(1, len([p for p in glob.glob(os.path.join(hwmon_dir, "in[1-3]_label"))]))
        conv = interval_s / (2 * channels)
        return cls("register", interval_s, conv, 0.5 * conv, n, f"INA3221 N={n} (from {hwmon_dir})")

    @classmethod
    def counter(cls, period_s: float = 0.1) -> "SensorModel":
        """An energy counter that steps every ``period_s`` (NVML: about 100 ms)."""
        return cls("counter", period_s, period_s, 0.5 * period_s, 1, f"counter {period_s * 1e3:g} ms")

    @classmethod
    def boxcar(cls, period_s: float = 0.1, window_s: float = 0.025) -> "SensorModel":
        """A reading that every ``period_s`` becomes the mean of the last ``window_s``
        (NVML instant power on A100/H100: 25 of 100 ms)."""
        return cls("boxcar", period_s, window_s, 0.5 * window_s, 1,
                   f"boxcar {window_s * 1e3:g}/{period_s * 1e3:g} ms")


def model_for(info) -> SensorModel:
    """The :class:`SensorModel` of a sensor, from what the sensor reports about itself.

    ``jetson-hwmon``: read from its INA3221 hwmon directory (:meth:`SensorModel.from_hwmon`);
    a sensor whose power is derived from an energy counter: ``nvml`` a 100 ms counter, ``rapl``
    a 1 ms counter. Raises ValueError for anything else, saying how to give the model by hand.
    """
    details = dict(info.details)
    if info.kind == "jetson-hwmon":
        dirs = [v for k, v in sorted(details.items()) if k.startswith("device.")]
        if dirs:
            return SensorModel.from_hwmon(dirs[0])
    if info.has_counter and (info.power_derived or not info.has_power):
        if info.kind == "nvml":
            return SensorModel.counter(0.1)
        if info.kind == "rapl":
            return SensorModel.counter(0.001)
    raise ValueError(f"no sensor model is known for sensor '{info.kind}' (only jetson-hwmon and the nvml/rapl "
                     "energy counters): use the plain estimator, or build a CompensatedMonitor with "
                     "SensorModel.ina3221(...), .counter(...) or .boxcar(...) describing your sensor")


# ---- estimators (total power or counter samples of one rail) ------------------------------------
def _trapezoid(t: np.ndarray, p: np.ndarray, a: int, b: int, hold_ns: int = 0) -> float:
    """Integral of the linear interpolation of (t, p) over [a, b] (ns in, J out); NaN when the
    samples do not cover it. ``hold_ns``: the first/last reading may be held this far beyond
    the samples (a register holds its value between refreshes)."""
    if len(t) < 2 or b < a or a < t[0] - hold_ns or b > t[-1] + hold_ns:
        return math.nan
    if a < t[0] or b > t[-1]:
        t = np.concatenate(([min(a, t[0])], t, [max(b, t[-1])]))
        p = np.concatenate(([p[0]], p, [p[-1]]))
    inner = (t > a) & (t < b)
    ts = np.concatenate(([a], t[inner], [b])).astype(np.float64)
    ps = np.concatenate(([np.interp(a, t, p)], p[inner], [np.interp(b, t, p)]))
    return float(np.sum(0.5 * (ps[1:] + ps[:-1]) * np.diff(ts)) * 1e-9)


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


def counter_steps(t_ns: np.ndarray, counter_j: np.ndarray, t0_ns: int, t1_ns: int) -> Optional[Tuple[float, float, float, float]]:
    """The first and last counter steps that happened inside [t0, t1]: (time_a, counter_a,
    time_b, counter_b), each step's time taken as the midpoint of the two samples around it;
    None when fewer than two steps lie inside."""
    i = np.flatnonzero(np.diff(counter_j) != 0) + 1  # sample i shows a step that happened in (t[i-1], t[i]]
    i = i[(t_ns[i - 1] >= t0_ns) & (t_ns[i] <= t1_ns)]
    if len(i) < 2:
        return None
    a, b = i[0], i[-1]
    return (0.5 * (t_ns[a - 1] + t_ns[a]), float(counter_j[a]), 0.5 * (t_ns[b - 1] + t_ns[b]), float(counter_j[b]))


def counter_energy(t_ns: np.ndarray, counter_j: np.ndarray, t0_ns: int, t1_ns: int, range_j: float = 0.0) -> float:
    """Mean power between whole counter steps inside the window, times its duration (J); NaN
    when fewer than two steps lie inside (lengthen the window to over two counter periods)."""
    c = np.asarray(counter_j, dtype=np.float64)
    if range_j and range_j > 0:
        d = np.diff(c)
        d[d < 0] += range_j
        c = np.concatenate(([c[0]], c[0] + np.cumsum(d)))
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
        e = counter_energy(t_ns, counter_j, t0_ns, t1_ns, range_j)
        if math.isfinite(e):
            return e, "counter"
        c = np.asarray(counter_j, dtype=np.float64)
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


class CompensatedMonitor(PowerMonitor):
    """A :class:`~edgepower.PowerMonitor` whose window energies (and idle baseline) use a
    sensor-aware estimator.

    Parameters
    ----------
    sensor : str or Sensor
        As for PowerMonitor.
    model : SensorModel
        The sensor's model (:meth:`SensorModel.ina3221`, :meth:`SensorModel.counter`, ...).
    method : str
        One of :data:`METHODS` (default ``"auto"``).
    **kwargs
        Passed to PowerMonitor (``rate_hz``, ``timeline``, ...).

    Notes
    -----
    The board total is estimated; ``energy_per_rail_j`` keeps the plain per-rail figures, and
    ``method`` names the estimator (e.g. ``"lag (INA3221 N=512 140us x3)"``).
    """

    def __init__(self, sensor, model: SensorModel, method: str = "auto", **kwargs):
        if not isinstance(model, SensorModel):
            raise TypeError(f"model must be an edgepower.methods.SensorModel, got {type(model).__name__}")
        resolve(method, model)  # validates the name
        super().__init__(sensor, **kwargs)
        self.model = model
        self.method = method

    def measure(self, t0_ns: int, t1_ns: int, name: str = "window") -> Measurement:
        plain = super().measure(t0_ns, t1_ns, name)
        t0_ns, t1_ns = int(t0_ns), int(t1_ns)
        # Samples from one refresh + the lag before the window to one after it.
        pad = int((self.model.refresh_s * 2 + self.model.observe_s) * 1e9) + int(4e9 / self.rate_hz)
        lo = max(0, self.sampler.index_at_or_after(t0_ns - pad) - 1)
        hi = min(len(self.sampler), self.sampler.index_at_or_after(t1_ns + pad) + 1)
        s = self.samples(lo, hi)
        power = self.total_power(s) if self.info.has_power else None
        counter = None
        if s.counter_j.shape[0]:
            counter = s.counter_j[:, self.info.total_rail] if self.info.total_rail >= 0 else s.counter_j.sum(axis=1)
        energy, used = estimate(self.method, self.model, s.t_ns, power, counter, t0_ns, t1_ns,
                                self.info.counter_range_j)
        if not math.isfinite(energy):
            return plain
        return dataclasses.replace(plain, energy_j=energy, avg_power_w=energy / plain.duration_s
                                   if plain.duration_s > 0 else math.nan, method=f"{used} ({self.model.name})")

    def provenance(self):
        prov = super().provenance()
        prov["estimator"] = {"method": self.method, "model": dataclasses.asdict(self.model)}
        return prov


class PhaseShift:
    """Delays before each measurement window, so that windows start at spread phases of the
    sensor's update grid (Yang et al., SC'24: 8 evenly spaced shifts cut NVML's error from
    about 35 % to about 5 %).

    Parameters
    ----------
    period_s : float
        The sensor's update period.
    mode : str
        ``"random"`` (uniform in [0, period_s)) or ``"even"`` (k/steps x period_s, k cycling).
    steps : int
        Phases of the even mode.
    seed : int
        Seed of the random mode.
    """

    def __init__(self, period_s: float, mode: str = "random", steps: int = 8, seed: int = 0):
        if not (isinstance(period_s, (int, float)) and math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"period_s must be a positive number of seconds, got {period_s!r}")
        if mode not in ("random", "even"):
            raise ValueError(f"mode must be 'random' or 'even', got {mode!r}")
        if not (isinstance(steps, int) and steps >= 1):
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        self.period_s, self.mode, self.steps = float(period_s), mode, steps
        self._rng = random.Random(seed)
        self._k = 0
        self.total_delay_s = 0.0

    def delay_s(self) -> float:
        """The next delay (s)."""
        if self.mode == "random":
            return self._rng.uniform(0.0, self.period_s)
        d = (self._k % self.steps) / self.steps * self.period_s
        self._k += 1
        return d

    def __call__(self, label: str = "", round_: int = 0) -> None:
        d = self.delay_s()
        self.total_delay_s += d
        time.sleep(d)


__all__ = ["CompensatedMonitor", "METHODS", "PhaseShift", "SensorModel", "counter_energy", "counter_steps",
           "estimate", "guard_energy", "lag_energy", "model_for", "plain_energy", "resolve"]
