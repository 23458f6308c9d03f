"""In-situ readings on the sensor's refresh grid, and their deconvolution (issue 15, part 1).

A sampler reads a register several times per refresh (or, for a running average of N = 512,
sees most refreshes leave it unchanged), and sees each refresh some time after it happened.
Here: the periodic grid of refreshes fitted over every change of the readings
(:func:`fit_refresh_grid`), one reading per refresh (:func:`refresh_readings`), and
:func:`~edgepower.energy.deconvolution.deconvolve` on sampled readings
(:func:`deconvolve_samples`, :func:`deconvolve_report`): the cells moved to start at the
sensor's own refreshes, each refresh's last sample, and the grid's drift corrected.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Dict, Sequence, Tuple

import numpy as np

from ..sensors.model import SensorModel
from .deconvolution import Deconvolved, deconvolve


def refresh_readings(attribution_t_ns: np.ndarray, power_w: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """One reading per sensor refresh: the readings that share an attribution time (one
    refresh read several times) are averaged. Returns (refresh times, values)."""
    t = np.asarray(attribution_t_ns, dtype=np.int64)
    p = np.asarray(power_w, dtype=np.float64)
    if t.ndim != 1 or p.shape != t.shape:
        raise ValueError(f"attribution_t_ns and power_w must be 1-D of one length, got {t.shape} and {p.shape}")
    ok = np.isfinite(p)
    t, p = t[ok], p[ok]
    if t.shape[0] and np.any(np.diff(t) < 0):
        raise ValueError("attribution_t_ns must be ascending (as update_times returns them)")
    first = np.concatenate([[True], t[1:] != t[:-1]]) if t.shape[0] else np.zeros(0, dtype=bool)
    group = np.cumsum(first) - 1
    n = int(first.sum())
    sums = np.bincount(group, weights=p, minlength=n)
    counts = np.bincount(group, minlength=n)
    return t[first], sums / np.maximum(counts, 1)


def _on_grid(t: np.ndarray, start: float, period: float) -> np.ndarray:
    """The refresh of the grid ``start + k x period`` that each time falls after (ns, int64)."""
    return np.round(start + np.floor((t - start) / period) * period).astype(np.int64)


def _phase(t: np.ndarray, p: np.ndarray, period_ns: float, base: int, resolution_ns: int) -> Tuple[float, int, int]:
    """Refresh phase (ns after ``base``, in [0, period)) that the most changes of the readings
    allow: a change seen by sample i bounds its refresh to (t[i-1], t[i]]; every bound votes for
    the phases it contains, and the middle of the best-voted run wins. Returns (phase, votes, changes)."""
    c = np.flatnonzero(p[1:] != p[:-1]) + 1
    width = t[c] - t[c - 1]
    c, width = c[width < period_ns], width[width < period_ns]
    bins = max(1, int(period_ns // resolution_ns))
    if c.shape[0] == 0:
        return math.nan, 0, 0
    lo = (np.mod((t[c - 1] - base).astype(np.float64), period_ns) // resolution_ns).astype(np.int64)
    hi = np.minimum(lo + np.maximum(1, width // resolution_ns), 2 * bins)
    diff = np.zeros(2 * bins + 1)
    np.add.at(diff, lo, 1.0)
    np.add.at(diff, hi, -1.0)
    votes = np.cumsum(diff)[: 2 * bins]
    votes = votes[:bins] + votes[bins:]
    best = votes.max()
    top = np.flatnonzero(votes >= best)
    # the run of best bins around the first one (circular)
    ang = top * (2 * math.pi / bins)
    centre = math.atan2(np.sin(ang).mean(), np.cos(ang).mean()) % (2 * math.pi)
    return (centre / (2 * math.pi) * bins + 0.5) * resolution_ns, int(best), int(c.shape[0])


def fit_refresh_grid(t_ns: np.ndarray, power_w: np.ndarray, period_s: float, *, segments: int = 8,
                     resolution_ns: int = 1000) -> Tuple[np.ndarray, Dict[str, Any]]:
    """The refresh that produced each reading, on a periodic grid fitted over all changes.

    The period starts at the sensor model's (``period_s``); the phase is fitted in ``segments``
    stretches of the run, and a line through those phases corrects the period (a sensor clock
    a little off its nominal rate) before the final fit over all changes. Unlike
    :func:`~edgepower.energy.attribution.update_times` this works when most refreshes leave the
    reading unchanged (a running average of N = 512) and when the sampler is barely faster
    than the refresh.

    Returns (refresh time per reading, ns; info with the fitted period and phase).
    """
    t = np.asarray(t_ns, dtype=np.int64)
    p = np.asarray(power_w, dtype=np.float64)
    if not (isinstance(period_s, (int, float)) and math.isfinite(period_s) and period_s > 0):
        raise ValueError(f"period_s must be the sensor's refresh period in seconds (> 0), got {period_s!r}")
    if t.ndim != 1 or p.shape != t.shape or t.shape[0] < 4:
        raise ValueError(f"t_ns and power_w must be 1-D of one length (>= 4 readings), got {t.shape} and {p.shape}")
    period = float(period_s) * 1e9
    base = int(t[0])
    # Phase drift over the run -> period correction, three passes (each leaves less drift
    # within a segment to blur its phase).
    for _ in range(3):
        mids, phases = [], []
        for seg in np.array_split(np.arange(t.shape[0]), segments):
            if seg.shape[0] < 4:
                continue
            ph, votes, _ = _phase(t[seg], p[seg], period, base, resolution_ns)
            if votes >= 3:
                mids.append(float(t[seg].mean() - base))
                phases.append(ph)
        if len(phases) < 3:
            break
        un = np.unwrap(np.asarray(phases) * 2 * math.pi / period) * period / (2 * math.pi)
        period *= 1.0 + float(np.polyfit(mids, un, 1)[0])
    # Period from a least-squares line through every change's midpoint against its refresh
    # number (the slope is unbiased by where in its interval a refresh fell), then the phase.
    ph, votes, _ = _phase(t, p, period, base, resolution_ns)
    if math.isfinite(ph) and votes >= 3:
        c = np.flatnonzero(p[1:] != p[:-1]) + 1
        c = c[(t[c] - t[c - 1]) < period]
        mid = ((t[c - 1] - base) + (t[c] - base)) / 2.0
        k = np.round((mid - ph) / period)
        near = np.abs(mid - ph - k * period) < 0.5 * period
        if near.sum() >= 3 and np.ptp(k[near]) > 0:
            period = float(np.polyfit(k[near], mid[near], 1)[0])
    # Final phase with that period (refined to 100 ns).
    ph, votes, changes = _phase(t, p, period, base, min(resolution_ns, 100))
    if not math.isfinite(ph) or votes < 3:
        raise ValueError(f"only {changes} change(s) of the readings seen between samples closer than the "
                         f"{period_s * 1e3:.3g} ms refresh: sample faster than the sensor refreshes")
    phase = base + ph
    return _on_grid(t, phase, period), {"rule": "periodic grid (all changes)", "fitted_period_s": period * 1e-9,
                                        "phase_ns": int(round(phase)), "changes": changes,
                                        "changes_agreeing": votes}


#: Stretches of the run whose time offsets, each fitted alone, give the drift of the refresh grid.
DRIFT_SEGMENTS = 4
#: A drift between the first and last stretch under this (ns) is left alone: the segments'
#: offsets (1 us steps) scatter by +-1 us on the emulator at N = 512 and 5 kHz, where the grid
#: fitted from changes is already right; at N = 1 and 1 kHz they drifted by 8-49 us.
DRIFT_MIN_NS = 4_000


def _last_after(t: np.ndarray, p: np.ndarray, start: float, period: float) -> Tuple[np.ndarray, np.ndarray]:
    """One reading per refresh of the grid ``start + k x period``: the last sample before the
    next refresh (the one most surely taken after this one was visible), at the refresh's time."""
    ta = _on_grid(t, start, period)
    last = np.concatenate([ta[1:] != ta[:-1], [True]]) if ta.shape[0] else np.zeros(0, dtype=bool)
    return ta[last], p[last]


#: After the cells start at the refreshes, the offset left is the grid's drift (up to +-26 us on
#: the emulator's runs, +-33 us in test_deconvolution's late readings): it is searched within
#: this (ns) first.
NEAR_ZERO_NS = 80_000


def _near_zero(tr: np.ndarray, y: np.ndarray, t0_ns: np.ndarray, t1_ns: np.ndarray, labels: Sequence[str],
               model: SensorModel, kw: Dict[str, Any]) -> Deconvolved:
    """:func:`deconvolve` with the offset searched within +-:data:`NEAR_ZERO_NS`, or over the
    whole default range where the best lay on that window's edge."""
    d = deconvolve(tr, y, t0_ns, t1_ns, labels, model, **{**kw, "offset_ns": (-NEAR_ZERO_NS, NEAR_ZERO_NS)})
    if d.info["offset_fit"]["at_edge"]:
        d = deconvolve(tr, y, t0_ns, t1_ns, labels, model, **{**kw, "offset_ns": "fit"})
    return d


def _drift(tr: np.ndarray, y: np.ndarray, t0_ns: np.ndarray, t1_ns: np.ndarray, labels: Sequence[str],
           model: SensorModel, kw: Dict[str, Any]) -> Dict[str, Any]:
    """The offset fitted in each of :data:`DRIFT_SEGMENTS` stretches of the readings after the
    first measured forward, and the line through them (``offset_ns`` at ``t_ns`` + ``slope`` x
    (t - ``t_ns``)); {"segments": ...} alone where fewer than 3 stretches could be solved."""
    t0 = np.asarray(t0_ns, dtype=np.int64)
    begin = int(t0[t0 >= 0].min())
    idx = np.flatnonzero(tr >= begin)
    mids, offs = [], []
    for seg in np.array_split(idx, DRIFT_SEGMENTS):
        if seg.shape[0] == 0:
            continue
        try:
            d = _near_zero(tr[seg], y[seg], t0_ns, t1_ns, labels, model, {**kw, "bootstrap": 0})
        except ValueError:
            continue
        mids.append(float(tr[seg].mean()))
        offs.append(float(d.info["offset_ns"]))
    out: Dict[str, Any] = {"segments": [[m, o] for m, o in zip(mids, offs)]}
    if len(offs) >= 3:
        centre = float(np.mean(mids))
        slope, at = np.polyfit(np.asarray(mids) - centre, offs, 1)
        out.update(t_ns=centre, offset_ns=float(at), slope=float(slope), span_ns=float(mids[-1] - mids[0]))
    return out


def deconvolve_samples(t_ns: np.ndarray, power_w: np.ndarray, t0_ns: np.ndarray, t1_ns: np.ndarray,
                       labels: Sequence[str], model: SensorModel, **kw: Any) -> Deconvolved:
    """:func:`deconvolve` on sampled readings (as read, several per refresh), one reading per
    refresh on the refresh grid fitted over all their changes (:func:`fit_refresh_grid`,
    period from ``model``), and the per-forward marks; ``info["refresh_fit"]`` holds the fit.

    A refresh is seen some time after it happened (the sampling interval, the driver's read, a
    reader or writer delayed by other load), so the samples just after the grid's instant can
    still show the previous refresh, and the grid's period, fitted from when changes were seen,
    is off by a few ns per refresh (tens of us over a run). With ``offset_ns="fit"`` (the
    default) the readings are therefore taken in steps:

    1. a first solve on each grid cell's mean reading fits the offset between the grid and the
       sensor's own refreshes;
    2. every cell is moved to start at its refresh (grid + offset) and its reading is the cell's
       last sample, the one most surely taken after that refresh was visible;
    3. the offset is fitted again in each of :data:`DRIFT_SEGMENTS` stretches of the run; where
       the line through them drifts by more than :data:`DRIFT_MIN_NS` between the first and the
       last stretch, it corrects the grid's period and phase, and step 2 is repeated on that
       grid if it explains the readings better (a smaller residual) than the one before.

    With the readings far off the fit left out (:func:`deconvolve`), on the INA3221 emulator's
    recorded runs (N = 1, 1 kHz sampling, five runs of the small CNN) this took the layers of
    0.1-1 ms from a median error of 1.0-4.2 % (worst 2.7-13.7 %) to 0.04-0.15 % (worst
    0.3-1.8 %), and the residual from 114-340 mW to the emulator's 49-50 mW of noise
    (``info["refresh_fit"]`` records each step)."""
    t = np.asarray(t_ns, dtype=np.int64)
    p = np.asarray(power_w, dtype=np.float64)
    ta, fit = fit_refresh_grid(t, p, model.refresh_s)
    tr, y = refresh_readings(ta, p)
    # the conversions between readings step on the fitted period (a sensor clock off its nominal rate)
    fitted = replace(model, refresh_s=float(fit["fitted_period_s"]))
    if kw.get("offset_ns", "fit") != "fit":
        d = deconvolve(tr, y, t0_ns, t1_ns, labels, fitted, **kw)
        return replace(d, info={**d.info, "refresh_fit": {**fit, "cells": "grid cell's mean reading (offset given)"}})
    quick = {**kw, "bootstrap": 0}
    first = deconvolve(tr, y, t0_ns, t1_ns, labels, fitted, **quick)
    ok = np.isfinite(p)
    t, p = t[ok], p[ok]
    start = fit["phase_ns"] + first.info["offset_ns"]
    period = float(fit["fitted_period_s"]) * 1e9
    tr, y = _last_after(t, p, start, period)
    steps: Dict[str, Any] = {"cells": "last sample after each refresh (grid + the first solve's offset)",
                             "first_offset_ns": int(first.info["offset_ns"])}
    drift = _drift(tr, y, t0_ns, t1_ns, labels, fitted, kw)
    steps["drift"] = drift
    if "slope" in drift and abs(drift["slope"]) * drift["span_ns"] > DRIFT_MIN_NS:
        # the grid drifts against the sensor's refreshes by more than the offset's resolution:
        # the corrected grid where it explains the readings better
        period2 = period * (1.0 + drift["slope"])
        start2 = start + drift["offset_ns"] + drift["slope"] * (start - drift["t_ns"])
        fitted2 = replace(model, refresh_s=period2 * 1e-9)
        tr2, y2 = _last_after(t, p, start2, period2)
        best = _near_zero(tr, y, t0_ns, t1_ns, labels, fitted, quick)
        cand = _near_zero(tr2, y2, t0_ns, t1_ns, labels, fitted2, quick)
        if cand.residual_rms_w < best.residual_rms_w:
            best, tr, y, fitted = cand, tr2, y2, fitted2
            steps["cells"] = "last sample after each refresh (grid corrected for the offsets' drift)"
            steps["corrected_period_s"] = period2 * 1e-9
        d = deconvolve(tr, y, t0_ns, t1_ns, labels, fitted, **{**kw, "offset_ns": best.info["offset_ns"]})
        d = replace(d, info={**d.info, "offset_fit": best.info["offset_fit"]})
    else:
        d = _near_zero(tr, y, t0_ns, t1_ns, labels, fitted, kw)
    info = {**d.info, "refresh_fit": {**fit, **steps}}
    return replace(d, info=info)


def deconvolve_report(report: Any, model: SensorModel, **kw: Any) -> Deconvolved:
    """:func:`deconvolve_samples` on an in-situ report's readings and per-forward marks."""
    if getattr(report, "cycles", None) is None or not getattr(report, "samples_t_ns", np.zeros(0)).shape[0]:
        raise ValueError("deconvolve_report needs an in-situ report (mode='in-situ') with its samples: this one has "
                         "no per-forward marks or no readings")
    cyc = report.cycles
    return deconvolve_samples(report.samples_t_ns, report.samples_power_w, cyc["t0_ns"], cyc["t1_ns"], cyc["labels"],
                              model, **kw)


__all__ = ["DRIFT_MIN_NS", "DRIFT_SEGMENTS", "NEAR_ZERO_NS", "deconvolve_report", "deconvolve_samples",
           "fit_refresh_grid", "refresh_readings"]
