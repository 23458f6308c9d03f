"""In-situ attribution: which reading stands for which time, and which layer gets it.

In-situ mode (:mod:`edgepower.profile.insitu`) runs the whole model repeatedly and marks each
layer's calls. Here the readings are put on the time axis they belong to and assigned:

- :func:`update_times`: a live sensor's reading stands for its own sample time; a
  sample-and-hold sensor's reading for the refresh that produced it, fitted as a periodic grid
  (period and phase) from the readings' changes;
- :func:`shift_to_observation`: with a sensor model, a refresh-attributed reading moves back to
  when its power was observed (the conversion's centre plus the running average's delay);
- :func:`assign_readings`: each reading to the innermost window active at its time, in one
  native sweep, with the number of distinct sensor updates per window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from .._native import core as _core
from ..sensors.model import SensorModel


# ---- attribution times ----------------------------------------------------------------------------
def update_times(t_ns: np.ndarray, power_w: np.ndarray, interval_s: float, rate_hz: float,
                 stamp_ns: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """The time each reading stands for.

    A live sensor (no update interval, or one shorter than two sample periods): the sample's
    own timestamp. A sample-and-hold sensor: the refresh that produced the reading. Refreshes
    are taken as periodic: each change of the readings locates one inside ``(t[i-1], t[i]]``;
    consecutive changes are numbered by rounding their distance to the nominal interval, and a
    least-squares line through the midpoints gives the period; the phase (with the period
    refined on a fine grid around it) is the middle of the phases that every change allows,
    which pins it far more tightly than a sample period once there are many changes. When the
    fit is poor
    (residual RMS above a quarter period: not periodic), each reading is attributed to the
    midpoint of the last change before it instead.

    Parameters
    ----------
    t_ns : array of int64
        When each read started (ascending).
    power_w : array
        The readings.
    interval_s : float
        Nominal update interval of the sensor (NaN: unknown, live).
    rate_hz : float
        Sampling rate.
    stamp_ns : array of int64, optional
        When each read returned (default ``t_ns``): a refresh seen by read i happened after
        read i-1 started and before read i returned.

    Returns
    -------
    (attribution times in ns, info dict for the provenance)
    """
    t = np.asarray(t_ns, dtype=np.int64)
    stamp = t if stamp_ns is None else np.asarray(stamp_ns, dtype=np.int64)
    p = np.asarray(power_w, dtype=np.float64)
    period_ns = interval_s * 1e9 if isinstance(interval_s, float) and math.isfinite(interval_s) else math.nan
    sample_ns = 1e9 / rate_hz
    info: Dict[str, Any] = {"rule": "sample time", "update_interval_s": interval_s}
    if not (period_ns >= 2 * sample_ns) or t.shape[0] < 4:
        info["why"] = "live readings (no update interval, or one shorter than two sample periods)"
        return t, info
    change = np.flatnonzero(p[1:] != p[:-1]) + 1
    if change.shape[0] < 3:
        info["why"] = "fewer than 3 changes of the readings: cannot locate the sensor's refreshes"
        return t, info
    # A change seen across a sampling gap (the sampler thread starved of CPU) bounds its
    # refresh loosely and could be misnumbered: fit on the changes seen between close samples.
    tight = change[(stamp[change] - t[change - 1]) <= 2.5 * sample_ns]
    if tight.shape[0] >= 3:
        change = tight
    base = int(t[change[0]])
    mid = ((t[change - 1] - base).astype(np.float64) + (stamp[change] - base).astype(np.float64)) / 2.0
    steps = np.maximum(1.0, np.round(np.diff(mid) / period_ns))
    k = np.concatenate([[0.0], np.cumsum(steps)])
    slope, intercept = np.polyfit(k, mid, 1)
    resid = mid - (intercept + slope * k)
    rms = float(np.sqrt(np.mean(resid ** 2)))
    if slope > 0 and rms <= 0.25 * slope:
        # Each change bounds its refresh: phase + k * period in (lo, hi]. Intersect the bounds
        # over all changes for periods within a few standard errors of the fit.
        lo = (t[change - 1] - base).astype(np.float64)
        hi = (stamp[change] - base).astype(np.float64)
        spread = float(np.std(k)) * math.sqrt(k.shape[0])
        sigma = rms / spread if spread > 0 else 0.0
        periods = slope + np.linspace(-6.0, 6.0, 241) * sigma
        lows = (lo[None, :] - k[None, :] * periods[:, None]).max(axis=1)
        highs = (hi[None, :] - k[None, :] * periods[:, None]).min(axis=1)
        best = int(np.argmax(highs - lows))
        width = float(highs[best] - lows[best])
        if width >= -0.5 * sample_ns:  # consistent (up to sampler jitter): take the middle
            slope, intercept = float(periods[best]), float(lows[best] + highs[best]) / 2.0
            info["phase_interval_us"] = width * 1e-3
        phase = base + intercept
        rel = t.astype(np.float64) - phase
        at = phase + np.floor(rel / slope) * slope
        ta = np.minimum(np.round(at).astype(np.int64), t)  # a refresh is never after the reading
        info.update(rule="sensor refresh (periodic fit)", fitted_period_s=slope * 1e-9,
                    fit_residual_rms_us=rms * 1e-3, changes=int(change.shape[0]))
        return np.maximum.accumulate(ta), info
    # Not periodic: the last change's midpoint.
    marks = np.full(t.shape[0], -1, dtype=np.int64)
    marks[change] = np.arange(change.shape[0])
    last = np.maximum.accumulate(marks)
    ta = t.copy()
    ok = last >= 0
    ta[ok] = base + np.round(mid[last[ok]]).astype(np.int64)
    info.update(rule="last change of the readings (refreshes not periodic)", fit_residual_rms_us=rms * 1e-3,
                changes=int(change.shape[0]))
    return np.maximum.accumulate(ta), info


def shift_to_observation(ta_ns: np.ndarray, info: Dict[str, Any], model: Any) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Moves refresh-attributed readings back to the time their power was observed.

    A reading attributed to its sensor refresh (:func:`update_times`) stands for power observed
    before that refresh: an INA3221's shunt conversion ends at the refresh, so with N = 1 a
    reading is the mean over the last conversion, centred half a conversion earlier; a running
    average of N conversions lags a further N - 1 refreshes on average. With a sensor model
    (a :class:`~edgepower.methods.CompensatedMonitor`'s ``model``) each such reading is
    attributed ``model.reading_lag_s`` earlier. Readings attributed to their sample time (live
    sensors), or without a model, are left as they are.

    Parameters
    ----------
    ta_ns : array of int64
        Attribution times from :func:`update_times`.
    info : dict
        Its info dict (``rule`` says which rule was used); a copy is returned with
        ``reading_lag_us`` (0 when not shifted) and ``reading_lag_source``.
    model : SensorModel or None

    Returns
    -------
    (attribution times in ns, info)
    """
    info = dict(info)
    if not isinstance(model, SensorModel):
        info.update(reading_lag_us=0.0, reading_lag_source="none (no sensor model: give a CompensatedMonitor as "
                                                            "monitor= to attribute readings to their observation)")
        return ta_ns, info
    if info.get("rule") == "sample time":
        info.update(reading_lag_us=0.0, reading_lag_source=f"none (readings attributed to their sample time; model "
                                                           f"{model.name or model.kind} not applied)")
        return ta_ns, info
    lag_ns = int(round(model.reading_lag_s * 1e9))
    info.update(reading_lag_us=lag_ns * 1e-3,
                reading_lag_source=f"sensor model {model.name or model.kind}: centre of the observation "
                                   f"{model.centre_lag_s * 1e6:.1f} us + (N - 1) x refresh")
    return np.asarray(ta_ns, dtype=np.int64) - lag_ns, info


@dataclass(frozen=True)
class Assignment:
    """Readings assigned to windows.

    Attributes
    ----------
    t_ns : int64 [n]
        The time each reading stands for (after :func:`update_times` and
        :func:`shift_to_observation`).
    info : dict
        How those times were found (for the provenance).
    counts, sums : [n_windows]
        Readings per window and the sum of their power (W).
    updates : int64 [n_windows]
        Distinct sensor updates per window (readings of one refresh share their time).
    owner : int64 [n]
        The window each reading went to (-1: none).
    """

    t_ns: np.ndarray
    info: Dict[str, Any]
    counts: np.ndarray
    sums: np.ndarray
    updates: np.ndarray
    owner: np.ndarray


def assign_readings(t_ns: np.ndarray, read_ns: np.ndarray, power_w: np.ndarray, interval_s: float, rate_hz: float,
                    model: Optional[SensorModel], w0_ns: np.ndarray, w1_ns: np.ndarray) -> Assignment:
    """Attribution times of the readings and their assignment to the windows [w0, w1].

    Parameters
    ----------
    t_ns, read_ns : arrays [n]
        When each read returned, and how long it took: the reading stands for the read's start.
    power_w : float64 [n]
        Board-total readings.
    interval_s, rate_hz : float
        The sensor's update interval (NaN: live) and the sampling rate.
    model : SensorModel or None
        Moves refresh-attributed readings to their observation (:func:`shift_to_observation`).
    w0_ns, w1_ns : int64 [n_windows]
        The windows; nested windows are fine (the innermost wins), an empty one holds nothing.
    """
    t = np.asarray(t_ns, dtype=np.int64)
    t_read = np.maximum.accumulate(t - np.asarray(read_ns, dtype=np.int64)) if t.shape[0] else t
    ta, info = update_times(t_read, power_w, interval_s, rate_hz, stamp_ns=t)
    ta, info = shift_to_observation(ta, info, model)
    counts, sums, owner = _core.assign_samples(ta, power_w, w0_ns, w1_ns)
    fresh = np.ones(ta.shape[0], dtype=bool)
    fresh[1:] = ta[1:] != ta[:-1]
    mine = (owner >= 0) & fresh
    nw = int(np.asarray(w0_ns).shape[0])
    updates = np.bincount(owner[mine], minlength=nw) if nw else np.zeros(0, dtype=np.int64)
    return Assignment(t_ns=ta, info=info, counts=counts, sums=sums, updates=updates, owner=owner)


__all__ = ["Assignment", "assign_readings", "shift_to_observation", "update_times"]
