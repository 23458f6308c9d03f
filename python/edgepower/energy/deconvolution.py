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
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._native import core as _core
from ..sensors.model import SensorModel

BEFORE = "(before)"
IDLE = "(idle)"

#: A reading whose residual is further from the median residual than this many robust standard
#: deviations (1.4826 x the median absolute deviation) is left out and the solve repeated. Such
#: readings are not noise but a reading of another refresh than the one it was taken for: on the
#: INA3221 emulator (N = 1, 1 kHz sampling) 0.1-1 % of the readings were 2-8 W off against a
#: noise of 59 mW (a refresh seen more than a refresh late: the emulator's writer held up by
#: other load); left in, they raised the residual to up to 5 x the noise.
REJECT_SIGMAS = 6.0
#: ... but never a residual under this (W): exact readings (a residual of rounding) reject nothing.
REJECT_FLOOR_W = 1e-3
#: More readings than this share beyond the threshold: the model does not fit the readings (a
#: wrong kernel or missing marks), so nothing is left out and ``info["rejection"]`` says so.
MAX_REJECTED_FRACTION = 0.05
#: Rejection passes (each re-fits the offset and re-solves on the readings kept).
REJECT_PASSES = 2


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


def _fit_offset(build: Any, y: np.ndarray, rank_tol: float, lo: int, hi: int) -> Tuple[int, Dict[str, Any]]:
    """Offset in [lo, hi] ns with the least residual RMS: a coarse grid (10 us steps, 4 us in a
    window of 200 us or less), then 1 us steps around its best."""
    def rms(off: int) -> float:
        r = build(off).solve(y, None, rank_tol)["residual_rms_w"]
        return float(r)
    step = 10_000 if hi - lo > 200_000 else 4_000
    grid = list(range(int(lo), int(hi) + 1, step))
    res = [rms(o) for o in grid]
    best = grid[int(np.argmin(res))]
    fine = [o for o in range(best - step + 1_000, best + step, 1_000) if lo <= o <= hi]
    res_f = [rms(o) for o in fine]
    k = int(np.argmin(res_f))
    return fine[k], {"searched_us": [grid[0] * 1e-3, grid[-1] * 1e-3], "residual_rms_w": res_f[k],
                     "at_edge": fine[k] in (grid[0], grid[-1]), "residual_rms_at_0_w": rms(0)}


def deconvolve(refresh_ns: np.ndarray, readings_w: np.ndarray, t0_ns: np.ndarray, t1_ns: np.ndarray,
               labels: Sequence[str], model: SensorModel, *, bootstrap: int = 200, seed: int = 0,
               offset_ns: Union[int, str, Tuple[int, int]] = "fit", rank_tol: float = 1e-10,
               max_before_weight: float = 0.01, reject_sigmas: Optional[float] = REJECT_SIGMAS) -> Deconvolved:
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
    offset_ns : int, "fit" or (lo, hi)
        Added to every refresh time: a known delay between when the sensor's conversion ended
        and when its reading was seen. ``"fit"`` (default): the offset that leaves the least
        residual, searched over [-observe - 200 us, +100 us] (10 us steps, then 1 us); a pair
        of ns: searched over that window instead (``info["offset_fit"]["at_edge"]`` says
        whether the best was on its edge).
    max_before_weight : float
        Readings whose kernel puts more than this share on the time before the first measured
        forward are left out (a running average of N = 512 remembers the warm-up for ~2 s).
    rank_tol : float
        Relative eigenvalue of the scaled normal matrix below which a direction is unidentified.
    reject_sigmas : float or None
        Readings whose residual is further from the median residual than this many robust
        standard deviations (and than :data:`REJECT_FLOOR_W`) are left out and the offset and powers solved again
        (:data:`REJECT_PASSES` times); none when more than :data:`MAX_REJECTED_FRACTION` would
        be. ``None``: every reading is kept. ``info["rejection"]`` holds the rule, the
        threshold and how many were left out (``rejected_readings``).
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
    if reject_sigmas is not None and not (isinstance(reject_sigmas, (int, float)) and reject_sigmas >= 2):
        raise ValueError(f"reject_sigmas must be None (keep every reading) or a number >= 2, got {reject_sigmas!r}")
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

    if isinstance(offset_ns, str):
        if offset_ns != "fit":
            raise ValueError(f"offset_ns must be a number of ns, 'fit' or a (lo, hi) window in ns, got {offset_ns!r}")
        window: Optional[Tuple[int, int]] = (-int(kern["observe_ns"]) - 200_000, 100_000)
    elif isinstance(offset_ns, tuple):
        if not (len(offset_ns) == 2 and all(isinstance(v, (int, np.integer)) for v in offset_ns)
                and offset_ns[0] < offset_ns[1]):
            raise ValueError(f"offset_ns as a search window must be (lo, hi) in whole ns with lo < hi, got {offset_ns!r}")
        window = (int(offset_ns[0]), int(offset_ns[1]))
    else:
        window = None
    fit_offset = window is not None
    fitted = None
    if window is not None:
        offset_ns, fitted = _fit_offset(build, y, rank_tol, *window)
    design = build(int(offset_ns))
    solved = design.solve(y, None, rank_tol)
    rejection: Dict[str, Any] = {"rule": None, "rejected_readings": 0}
    if reject_sigmas is not None:
        rejection["rule"] = f"|residual - median| > max({reject_sigmas:g} x 1.4826 x MAD, {REJECT_FLOOR_W:g} W)"
        for _ in range(REJECT_PASSES):
            r = np.asarray(solved["residual_w"])
            dev = np.abs(r - np.median(r))
            thr = max(float(reject_sigmas) * 1.4826 * float(np.median(dev)), REJECT_FLOOR_W)
            out = dev > thr
            rejection["threshold_w"] = thr
            if out.mean() > MAX_REJECTED_FRACTION:
                rejection["skipped"] = (f"{out.mean() * 100:.1f} % of the readings beyond {thr * 1e3:.3g} mW of the "
                                        f"fit (more than {MAX_REJECTED_FRACTION * 100:g} %): the sensor model does not fit "
                                        "them, so they were kept")
                break
            if not out.any():
                break
            if int((~out).sum()) < n_sites + 2:
                break
            tr, y = tr[~out], y[~out]
            rejection["rejected_readings"] += int(out.sum())
            if fit_offset:  # the readings left out moved it little: search near it
                offset_ns, fitted = _fit_offset(build, y, rank_tol, int(offset_ns) - 20_000, int(offset_ns) + 20_000)
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
                             "rank_tol": rank_tol, "readings_left_out": int((~keep).sum()), "rejection": rejection,
                             "max_before_weight": max_before_weight, "design_nonzeros": int(design.nonzeros),
                             "columns": labels + [BEFORE, IDLE]})


#: Stretches of the run whose time offsets, each fitted alone, give the drift of the refresh grid.
DRIFT_SEGMENTS = 4
#: A drift between the first and last stretch under this (ns) is left alone: the segments'
#: offsets (1 us steps) scatter by +-1 us on the emulator at N = 512 and 5 kHz, where the grid
#: fitted from changes is already right; at N = 1 and 1 kHz they drifted by 8-49 us.
DRIFT_MIN_NS = 4_000


def _last_after(t: np.ndarray, p: np.ndarray, start: float, period: float) -> Tuple[np.ndarray, np.ndarray]:
    """One reading per refresh of the grid ``start + k x period``: the last sample before the
    next refresh (the one most surely taken after this one was visible), at the refresh's time."""
    cell = np.floor((t - start) / period).astype(np.int64)
    last = np.concatenate([cell[1:] != cell[:-1], [True]]) if cell.shape[0] else np.zeros(0, dtype=bool)
    return np.round(start + cell[last] * period).astype(np.int64), p[last]


#: After the cells start at the refreshes, the offset left is the grid's drift (up to +-33 us
#: seen on the emulator): it is searched within this (ns) first.
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
       last stretch, it corrects
       the grid's period and phase, and step 2 is repeated on that grid if it explains the
       readings better (a smaller residual) than the one before.

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


__all__ = ["BEFORE", "IDLE", "Deconvolved", "deconvolve", "deconvolve_report", "deconvolve_samples", "fit_refresh_grid",
           "kernel_of",
           "refresh_readings"]
