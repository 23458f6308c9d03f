"""Sensor models: how a sensor's reading relates to the true power.

A sensor does not show power as it is: it shows a delayed, filtered, sampled version. A
:class:`SensorModel` says how (refresh period, observation window, running-average N); the
estimators of :mod:`edgepower.energy` use it. :func:`model_for` builds one from what a sensor
reports about itself.
"""
from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass


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


__all__ = ["SensorModel", "model_for"]
