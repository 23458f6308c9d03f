"""In-situ attribution by deconvolution (issue 15, part 1).

Assignment (:func:`~edgepower.energy.attribution.assign_readings`) gives each reading to the
layer window it falls in. On an integrating sensor that is wrong for layers shorter than what a
reading observes: an INA3221 reading is the mean power over a 1.1 ms conversion (or the running
average of N of them), so a 0.2 ms layer's readings mostly show its neighbours.

Here every reading is what the sensor computed: a known linear combination of the (constant)
powers of the call sites and of idle, ``readings = A p`` with ``A[k, j]`` the share of reading
k's kernel inside site j's calls (:class:`~edgepower._core.Deconvolution`, built in one native
sweep). The powers are the non-negative least-squares solution; a bootstrap over forwards gives
their 95 % CI; energy per call = (power - idle power) x the mean measured duration of a call.

Columns: one per call site, then ``(before)`` (everything before the first measured forward:
the idle measurement and warm-up forwards, which a running average still remembers), then idle
(every unmarked moment after that: the random delays between forwards).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from .._native import core as _core
from ..sensors.model import SensorModel

BEFORE = "(before)"
IDLE = "(idle)"


def kernel_of(model: SensorModel) -> Dict[str, Any]:
    """The solver's kernel for a :class:`SensorModel`: a register (INA3221) observes
    ``observe_s`` before each refresh, running-averaged over N conversions (one per refresh);
    a boxcar the mean of its window; a counter the mean power over one step."""
    if not isinstance(model, SensorModel):
        raise TypeError(f"model must be a SensorModel (edgepower.sensors.model), got {type(model).__name__}")
    ns = lambda s: int(round(s * 1e9))  # noqa: E731
    if model.kind == "register":
        return dict(observe_ns=ns(model.observe_s), period_ns=ns(model.refresh_s), averages=model.averages,
                    filter="exponential")
    if model.kind == "boxcar":
        return dict(observe_ns=ns(model.observe_s), period_ns=ns(model.refresh_s), averages=1, filter="exponential")
    return dict(observe_ns=ns(model.refresh_s), period_ns=ns(model.refresh_s), averages=1, filter="exponential")


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
    refresh = phase + np.floor((t - phase) / period) * period
    return np.round(refresh).astype(np.int64), {"rule": "periodic grid (all changes)", "fitted_period_s": period * 1e-9,
                                                "phase_ns": int(round(phase)), "changes": changes,
                                                "changes_agreeing": votes}


@dataclass(frozen=True)
class Deconvolved:
    """Per call site: power, net energy per call and their 95 % CI.

    Attributes
    ----------
    labels : list of str
        Call sites, in the column order.
    power_w, power_ci95_w : [sites], [sites, 2]
        Power while the site runs (W; NaN where not identifiable) and its bootstrap 95 % interval.
    idle_w, before_w : float
        Power between forwards and before the first measured forward (W).
    duration_s : [sites]
        Mean measured duration of a call (s).
    energy_per_call_j, energy_ci95_j : [sites], [sites, 2]
        (power - idle) x duration (J), and its bootstrap 95 % interval.
    identifiable : bool [sites]
        False where the readings cannot tell the site from others (always seen in the same
        proportion with a neighbour, or never observed).
    condition : float
        Condition number of A with unit-norm columns (inf: rank deficient).
    residual_rms_w : float
        RMS of readings - A p (W): what the model does not explain (noise, quantisation).
    readings, forwards, bootstrap : int
    info : dict
        Kernel, time offset, rank tolerance: for the provenance.
    """

    labels: List[str]
    power_w: np.ndarray
    power_ci95_w: np.ndarray
    idle_w: float
    before_w: float
    duration_s: np.ndarray
    energy_per_call_j: np.ndarray
    energy_ci95_j: np.ndarray
    identifiable: np.ndarray
    condition: float
    residual_rms_w: float
    readings: int
    forwards: int
    bootstrap: int
    info: Dict[str, Any] = field(default_factory=dict)

    def rows(self) -> List[Dict[str, Any]]:
        """One dict per call site (for tables)."""
        return [{"layer": lab, "power_w": float(self.power_w[i]), "net_energy_per_call_j": float(self.energy_per_call_j[i]),
                 "ci95_j": (float(self.energy_ci95_j[i, 0]), float(self.energy_ci95_j[i, 1])),
                 "duration_s": float(self.duration_s[i]), "identifiable": bool(self.identifiable[i])}
                for i, lab in enumerate(self.labels)]


def _marks(t0: np.ndarray, t1: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ran = t0 >= 0
    f, s = np.nonzero(ran)
    return t0[f, s], t1[f, s], s.astype(np.int64), f


def _fit_offset(build: Any, y: np.ndarray, rank_tol: float, observe_ns: int) -> Tuple[int, Dict[str, Any]]:
    """Offset of the refresh times with the least residual RMS (coarse grid, then 1 us)."""
    def rms(off: int) -> float:
        r = build(off).solve(y, None, rank_tol)["residual_rms_w"]
        return float(r)
    grid = list(range(-int(observe_ns) - 200_000, 100_001, 10_000))
    res = [rms(o) for o in grid]
    best = grid[int(np.argmin(res))]
    fine = list(range(best - 9_000, best + 9_001, 1_000))
    res_f = [rms(o) for o in fine]
    k = int(np.argmin(res_f))
    return fine[k], {"searched_us": [grid[0] * 1e-3, grid[-1] * 1e-3], "residual_rms_w": res_f[k],
                     "residual_rms_at_0_w": rms(0)}


def deconvolve(refresh_ns: np.ndarray, readings_w: np.ndarray, t0_ns: np.ndarray, t1_ns: np.ndarray,
               labels: Sequence[str], model: SensorModel, *, bootstrap: int = 200, seed: int = 0,
               offset_ns: Union[int, str] = "fit", rank_tol: float = 1e-10,
               max_before_weight: float = 0.01) -> Deconvolved:
    """Per-site power from in-situ readings by deconvolution.

    Parameters
    ----------
    refresh_ns, readings_w : arrays [n]
        One reading per sensor refresh (:func:`refresh_readings`) and when the refresh happened
        (:func:`~edgepower.energy.attribution.update_times`).
    t0_ns, t1_ns : int64 [forwards, sites]
        The marks of each call site in each measured forward (-1: did not run), as a report's
        ``cycles`` holds them.
    labels : list of str
        One per site (column of ``t0_ns``).
    model : SensorModel
        What a reading is (:func:`kernel_of`).
    bootstrap : int
        Resamplings of the forwards (with replacement) for the 95 % CI; >= 20, or 0 for none.
    offset_ns : int or "fit"
        Added to every refresh time: a known delay between when the sensor's conversion ended
        and when its reading was seen. ``"fit"`` (default): the offset that leaves the least
        residual, searched over [-observe - 200 us, +100 us] (10 us steps, then 1 us).
    max_before_weight : float
        Readings whose kernel puts more than this share on the time before the first measured
        forward are left out (a running average of N = 512 remembers the warm-up for ~2 s).
    rank_tol : float
        Relative eigenvalue of the scaled normal matrix below which a direction is unidentified.
    """
    t0 = np.asarray(t0_ns, dtype=np.int64)
    t1 = np.asarray(t1_ns, dtype=np.int64)
    if t0.ndim != 2 or t1.shape != t0.shape:
        raise ValueError(f"t0_ns and t1_ns must be [forwards, sites] arrays of one shape, got {t0.shape} and {t1.shape}")
    labels = list(labels)
    if len(labels) != t0.shape[1]:
        raise ValueError(f"labels has {len(labels)} names for {t0.shape[1]} sites (columns of t0_ns)")
    if not (isinstance(max_before_weight, (int, float)) and 0 < max_before_weight <= 1):
        raise ValueError(f"max_before_weight must be in (0, 1], got {max_before_weight!r}")
    if not (isinstance(bootstrap, int) and (bootstrap == 0 or bootstrap >= 20)):
        raise ValueError(f"bootstrap must be 0 (no CI) or an int >= 20, got {bootstrap!r}")
    tr = np.asarray(refresh_ns, dtype=np.int64)
    y = np.asarray(readings_w, dtype=np.float64)
    if tr.ndim != 1 or y.shape != tr.shape:
        raise ValueError(f"refresh_ns and readings_w must be 1-D of one length, got {tr.shape} and {y.shape}")
    if t0.shape[0] == 0 or not (t0 >= 0).any():
        raise ValueError("no marked call in t0_ns: run the model in-situ first")
    n_sites = t0.shape[1]
    m0, m1, region, fwd = _marks(t0, t1)
    first = int(m0.min())
    # (before): one mark from long before the first reading's history to the first measured forward.
    kern = kernel_of(model)
    m0 = np.concatenate([[np.iinfo(np.int64).min // 4], m0])
    m1 = np.concatenate([[first], m1])
    region = np.concatenate([[n_sites], region])
    # Readings that still remember the time before the first measured forward (warm-up forwards,
    # unmarked) by more than max_before_weight are left out: that time's power is not constant.
    before_w = _core.Deconvolution(tr, m0, m1, region, n_sites + 1, **kern).dense()[:, n_sites]
    keep = before_w <= max_before_weight
    if int(keep.sum()) < n_sites + 2:
        raise ValueError(f"only {int(keep.sum())} readings after the first measured forward (max_before_weight="
                         f"{max_before_weight}): profile longer (more forwards per round)")
    tr, y = tr[keep], y[keep]

    def build(off: int) -> Any:
        return _core.Deconvolution(tr + off, m0, m1, region, n_sites + 1, **kern)

    fitted = None
    if isinstance(offset_ns, str):
        if offset_ns != "fit":
            raise ValueError(f"offset_ns must be a number of ns or 'fit', got {offset_ns!r}")
        offset_ns, fitted = _fit_offset(build, y, rank_tol, kern["observe_ns"])
    design = build(int(offset_ns))
    solved = design.solve(y, None, rank_tol)
    p = np.asarray(solved["power_w"])
    ident = np.asarray(solved["identifiable"])[:n_sites]
    dur = (t1 - t0).astype(np.float64) * 1e-9
    ran = t0 >= 0
    calls = ran.sum(axis=0)
    mean_dur = np.where(calls > 0, np.where(ran, dur, 0.0).sum(axis=0) / np.maximum(calls, 1), math.nan)
    idle = float(p[n_sites + 1])
    energy = (p[:n_sites] - idle) * mean_dur
    p_ci = np.full((n_sites, 2), math.nan)
    e_ci = np.full((n_sites, 2), math.nan)
    if bootstrap:
        # Each reading belongs to the forward its refresh falls in (or the last one begun).
        starts = np.where(ran, t0, np.iinfo(np.int64).max).min(axis=1)
        order = np.argsort(starts)
        grp = np.searchsorted(starts[order], tr, side="right") - 1  # -1: before the first forward
        n_f = t0.shape[0]
        rng = np.random.default_rng(seed)
        ps, es = [], []
        for _ in range(bootstrap):
            counts = np.bincount(rng.integers(0, n_f, n_f), minlength=n_f).astype(np.float64)
            w = np.where(grp >= 0, counts[order][np.maximum(grp, 0)], 1.0)
            b = np.asarray(design.solve(y, w, rank_tol)["power_w"])
            dsum = np.where(ran, dur, 0.0) * counts[:, None]
            csum = ran * counts[:, None]
            md = dsum.sum(axis=0) / np.maximum(csum.sum(axis=0), 1)
            ps.append(b[:n_sites])
            es.append((b[:n_sites] - b[n_sites + 1]) * md)
        p_ci = np.stack([np.nanpercentile(ps, 2.5, axis=0), np.nanpercentile(ps, 97.5, axis=0)], axis=1)
        e_ci = np.stack([np.nanpercentile(es, 2.5, axis=0), np.nanpercentile(es, 97.5, axis=0)], axis=1)
    return Deconvolved(labels=labels, power_w=p[:n_sites], power_ci95_w=p_ci, idle_w=idle, before_w=float(p[n_sites]),
                       duration_s=mean_dur, energy_per_call_j=energy, energy_ci95_j=e_ci, identifiable=ident,
                       condition=float(solved["condition"]), residual_rms_w=float(solved["residual_rms_w"]),
                       readings=int(y.shape[0]), forwards=int(t0.shape[0]), bootstrap=bootstrap,
                       info={"kernel": kern, "sensor_model": model.name or model.kind, "offset_ns": int(offset_ns), "offset_fit": fitted,
                             "rank_tol": rank_tol, "readings_left_out": int((~keep).sum()),
                             "max_before_weight": max_before_weight, "design_nonzeros": int(design.nonzeros),
                             "columns": labels + [BEFORE, IDLE]})


def deconvolve_samples(t_ns: np.ndarray, power_w: np.ndarray, t0_ns: np.ndarray, t1_ns: np.ndarray,
                       labels: Sequence[str], model: SensorModel, **kw: Any) -> Deconvolved:
    """:func:`deconvolve` on sampled readings (as read, several per refresh): the readings on
    the refresh grid fitted over all their changes (:func:`fit_refresh_grid`, period from
    ``model``), one per refresh, and the per-forward marks; ``info["refresh_fit"]`` holds the fit."""
    ta, fit = fit_refresh_grid(t_ns, power_w, model.refresh_s)
    tr, y = refresh_readings(ta, power_w)
    # the conversions between readings step on the fitted period (a sensor clock off its nominal rate)
    fitted = replace(model, refresh_s=float(fit["fitted_period_s"]))
    d = deconvolve(tr, y, t0_ns, t1_ns, labels, fitted, **kw)
    return replace(d, info={**d.info, "refresh_fit": fit})


def deconvolve_report(report: Any, model: SensorModel, **kw: Any) -> Deconvolved:
    """:func:`deconvolve_samples` on an in-situ report's readings and per-forward marks."""
    if getattr(report, "cycles", None) is None or not getattr(report, "samples_t_ns", np.zeros(0)).shape[0]:
        raise ValueError("deconvolve_report needs an in-situ report (mode='in-situ') with its samples: this one has "
                         "no per-forward marks or no readings")
    cyc = report.cycles
    return deconvolve_samples(report.samples_t_ns, report.samples_power_w, cyc["t0_ns"], cyc["t1_ns"], cyc["labels"],
                              model, **kw)


__all__ = ["BEFORE", "IDLE", "Deconvolved", "deconvolve", "deconvolve_report", "deconvolve_samples", "fit_refresh_grid",
           "kernel_of",
           "refresh_readings"]
