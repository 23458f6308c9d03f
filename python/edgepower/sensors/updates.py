"""Update period, phase and observation window of counters and boxcar readings, from the readings.

An energy counter (NVML about every 100 ms, RAPL about every 1 ms) and a boxcar reading (NVML's
instant power: every period the mean of the last part of it) are not assumed to update when
their documentation says: :func:`measure_period` takes the period and phase from the times the
value changes, :func:`fit_boxcar_window` the boxcar's observation window from its response to
pulses of known edges (run by :mod:`edgepower.profile.identify`).
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np


def measure_period(t_ns: np.ndarray, values: np.ndarray) -> Tuple[float, float, int]:
    """Update period and phase of a reading that changes at each update (a counter, a boxcar
    average with noise), from the times its value changes.

    Each change is placed midway between the samples around it; the period is the median gap
    between changes divided by the whole number of periods it spans, counted in units of the
    shortest gaps (updates that repeated the value count as whole periods), refined by a straight line through the change times against
    their update numbers; the phase is given as the line's time of the last update seen (an
    absolute CLOCK_MONOTONIC time, so that no period error is multiplied by the clock's age).

    Returns
    -------
    (period_s, update_at_ns, changes)
        NaN period and time when fewer than three changes were seen.
    """
    t = np.asarray(t_ns, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    i = np.flatnonzero(np.diff(v) != 0) + 1
    if len(i) < 3:
        return math.nan, math.nan, int(len(i))
    tc = 0.5 * (t[i - 1] + t[i]).astype(np.float64)
    rel = tc - tc[-1]  # small numbers: no precision lost to the clock's age
    gaps = np.diff(rel)
    # A reading without noise changes only when the power does: its gaps are multiples of the
    # period, and the shortest (two refreshes in a row, e.g. across a step's edge) is the period.
    g0 = float(np.percentile(gaps, 5))
    mult = np.maximum(np.round(gaps / g0), 1.0)
    period = float(np.median(gaps / mult))
    n = np.concatenate(([0.0], np.cumsum(np.round(gaps / period))))
    slope, icept = np.polyfit(n, rel, 1)
    if slope > 0:
        period = float(slope)
    update_at = float(tc[-1]) + float(icept + slope * n[-1])
    return period * 1e-9, update_at, int(len(i))


def fit_boxcar_window(t_ns: np.ndarray, power_w: np.ndarray, period_s: float, update_at_ns: float,
                      pulses_ns: Sequence[Tuple[int, int]], points: int = 24) -> Tuple[float, float]:
    """Observation window of a boxcar reading (every period it becomes the mean of the last
    ``window``) from its response to pulses of known edges: the readings of the refreshes whose
    window straddles an edge show the overlapped fraction; pulses whose edges fall at different
    phases of the period give several such fractions. Samples within 2 % of a period of a fitted
    update instant are left out (which refresh they show depends on the phase's error). Returns
    (window_s, rms residual W)."""
    ref = int(update_at_ns)
    t = (np.asarray(t_ns, dtype=np.int64) - ref).astype(np.float64)  # from the update: small numbers
    p = np.asarray(power_w, dtype=np.float64)
    per = period_s * 1e9
    pos = np.mod(t, per)
    keep = (pos > 0.02 * per) & (pos < 0.98 * per)
    t, p = t[keep], p[keep]
    tk = np.floor(t / per) * per  # the refresh each sample shows
    best = (math.inf, math.nan)
    for frac in np.linspace(1.0 / points, 1.0, points):
        w = frac * per
        f = np.zeros(len(t))
        for a, b in pulses_ns:
            f += np.clip(np.minimum(tk, b - ref) - np.maximum(tk - w, a - ref), 0, None) / w
        x = np.column_stack([np.ones(len(t)), f])
        coef, *_ = np.linalg.lstsq(x, p, rcond=None)
        sse = float(np.sum((p - x @ coef) ** 2))
        if sse < best[0]:
            best = (sse, w * 1e-9)
    return best[1], math.sqrt(best[0] / max(len(t) - 2, 1))


__all__ = ["fit_boxcar_window", "measure_period"]
