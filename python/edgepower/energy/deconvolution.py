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

Sampled readings (several per refresh, seen late) are put on the refresh grid and solved by
:mod:`edgepower.energy.refresh_grid` (``deconvolve_samples``, ``deconvolve_report``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
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
    if fit_offset:
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


__all__ = ["BEFORE", "IDLE", "MAX_REJECTED_FRACTION", "REJECT_FLOOR_W", "REJECT_PASSES", "REJECT_SIGMAS", "Deconvolved",
           "deconvolve", "kernel_of"]
