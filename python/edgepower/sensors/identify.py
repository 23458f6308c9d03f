"""Identifying a sensor's model from its own readings (docs/accuracy.md, "Identified models").

What sysfs says about an INA3221 is partly exact and partly a bound. ``samples`` (N of the
running average) and the labelled channels are exact; ``update_interval`` is C x (BC + SC) in
whole ms (the mainline driver since 2021), or N times that (drivers before), rounded to the
closest ms: 1 for a true 0.84 ms. So the conversion time is one of the chip's eight settings
consistent with the rounded value under either meaning (:func:`ina3221_candidates`), and the
readings decide among them.

The profiler controls the load, so it runs a step of known edges (idle, busy, idle) and the
readings' response is fitted (:func:`fit_register_step`): the register refreshes every
R = C x 2 x conversion at an unknown phase; each refresh's conversion reads the mean power over
its last ``conversion`` seconds; the filter does ``out += (x - out) / N``. Given (R, phase) the
response is linear in the idle level, the step's height and the filter state at the start, so
each candidate is a least-squares fit; R is also scanned freely to give the time constant
tau = N x R with an interval. :func:`decide` turns the fits into an :class:`Identification`:
a model, or none with the reason (the caller then keeps the plain estimator).

Counters and boxcar readings are measured by :mod:`.updates`. Everything here is a function over
arrays; :mod:`edgepower.profile.identify` runs the step and :mod:`.model_cache` keeps the
result per board and configuration.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .model import SensorModel

#: The INA3221's conversion times (s) and averaging counts (TI SBOS576, table 5).
CONVERSION_TIMES_S = (140e-6, 204e-6, 332e-6, 588e-6, 1.1e-3, 2.116e-3, 4.156e-3, 8.244e-3)
AVERAGES = (1, 4, 16, 64, 128, 256, 512, 1024)
#: Relative error of a window's energy that an ambiguity between candidates may cause at most,
#: for the shortest window the profiler uses, before the identification counts as uncertain.
AMBIGUITY_LIMIT = 0.002


@dataclass(frozen=True)
class Candidate:
    """An INA3221 configuration consistent with what sysfs says (BC = SC = ``conversion_s``)."""

    conversion_s: float
    averages: int
    channels: int
    semantics: str  # "mainline", "pre-2021" or "either" (N = 1)

    @property
    def refresh_s(self) -> float:
        return self.channels * 2 * self.conversion_s

    @property
    def tau_s(self) -> float:
        return self.averages * self.refresh_s

    def model(self) -> SensorModel:
        return SensorModel.ina3221(self.averages, self.conversion_s, self.conversion_s, self.channels)

    def label(self) -> str:
        return f"{self.conversion_s * 1e6:.0f}us ({self.semantics})"


def ina3221_candidates(samples: int, update_interval_ms: float, channels: int) -> List[Candidate]:
    """Every conversion time whose update_interval, as either driver rounds it, is the one read.

    Parameters
    ----------
    samples : int
        ``samples`` (N), exact.
    update_interval_ms : float
        ``update_interval`` as read (whole ms).
    channels : int
        Enabled (labelled) channels, 1 to 3.

    Returns
    -------
    list of Candidate
        Sorted by conversion time; empty when no setting fits (then the chip is not configured
        with BC = SC, or the file is not what either driver writes).
    """
    if samples not in AVERAGES:
        raise ValueError(f"samples must be one of the INA3221's averaging counts {AVERAGES}, got {samples!r}")
    if not (isinstance(channels, int) and 1 <= channels <= 3):
        raise ValueError(f"channels must be 1, 2 or 3, got {channels!r}")
    out: List[Candidate] = []
    for conv in CONVERSION_TIMES_S:
        conv_us = int(round(conv * 1e6))
        fits = []
        for semantics, factor in (("mainline", 1), ("pre-2021", samples)):
            interval_us = channels * 2 * conv_us * factor
            if (interval_us + 500) // 1000 == int(round(update_interval_ms)):  # DIV_ROUND_CLOSEST
                fits.append(semantics)
        if fits:
            out.append(Candidate(conv, samples, channels, "either" if len(fits) == 2 else fits[0]))
    return out


# ---- the register's response to a step --------------------------------------------------------
def register_basis(t_ns: np.ndarray, refresh_ns: float, conversion_ns: float, averages: int, phase_ns: float,
                   step_t0_ns: int, step_t1_ns: int, start_ns: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The readings' basis at sample times ``t_ns`` for a register that refreshes at
    ``phase + k x refresh`` (ns, CLOCK_MONOTONIC), each refresh converting the mean power over
    its last ``conversion`` ns, averaged by ``out += (x - out) / N``.

    Returns ``(valid, u, d)``: ``valid`` marks the samples after the first refresh past
    ``start_ns``; ``u`` is the response to a unit step over [step_t0, step_t1] from a settled
    zero; ``d`` the decay of the filter state at the first refresh ((1 - 1/N)^k). A reading
    is then ``idle + height x u + state x d``.
    """
    t = np.asarray(t_ns, dtype=np.float64)
    r = float(refresh_ns)
    k_first = math.ceil((start_ns - phase_ns) / r)
    k_last = math.floor((float(t[-1]) - phase_ns) / r)
    if k_last < k_first:
        return np.zeros(len(t), bool), np.zeros(len(t)), np.zeros(len(t))
    k = np.arange(k_first, k_last + 1, dtype=np.float64)
    tk = phase_ns + k * r
    a = 1.0 - 1.0 / averages
    # Overlap of each refresh's conversion [tk - c, tk] with the step, as a fraction of c.
    f = (np.clip(np.minimum(tk, step_t1_ns) - np.maximum(tk - conversion_ns, step_t0_ns), 0, None)
         / conversion_ns)
    f[f > 1.0 - 1e-6] = 1.0  # whole conversions inside the step (float rounding of ns near 1e12)
    u = np.zeros(len(k))
    on = np.flatnonzero(f > 0)
    if len(on):
        ja, jb = int(on[0]), int(on[-1])
        j = np.arange(ja, jb + 1)
        # Inside [ja, jb] every f is 1 but a few at the edges: the settled step minus their shortfall.
        u[ja:jb + 1] = 1.0 - np.power(a, j - ja + 1)
        for e in np.flatnonzero(f[ja:jb + 1] < 1.0) + ja:
            u[e:jb + 1] -= (1.0 - f[e]) / averages * np.power(a, j[e - ja:] - e)
        if jb + 1 < len(k):
            u[jb + 1:] = u[jb] * np.power(a, np.arange(1, len(k) - jb))
    d = np.power(a, k - k_first)
    idx = np.searchsorted(tk, t, side="right") - 1
    valid = idx >= 0
    idx = np.clip(idx, 0, None)
    return valid, u[idx], d[idx]


@dataclass
class Fit:
    """One least-squares fit of the step response: its refresh period and the time of one refresh
    (s, CLOCK_MONOTONIC), the residual sum of squares (W^2), the idle level and step height (W),
    and the samples used."""

    refresh_s: float
    update_at_s: float
    sse: float
    idle_w: float
    height_w: float
    samples: int


def _best_phase(t_ns: np.ndarray, p: np.ndarray, refresh_s: float, conversion_s: float, averages: int,
                step: Tuple[int, int], start_ns: int, phases: int) -> Fit:
    best: Optional[Fit] = None
    r_ns = refresh_s * 1e9
    for i in range(phases):
        ph = (i + 0.5) / phases * r_ns
        valid, u, d = register_basis(t_ns, r_ns, conversion_s * 1e9, averages, ph + float(t_ns[0]), step[0],
                                     step[1], start_ns)
        if valid.sum() < 8:
            continue
        x = np.column_stack([np.ones(int(valid.sum())), u[valid], d[valid]])
        y = p[valid]
        coef, *_ = np.linalg.lstsq(x.T @ x, x.T @ y, rcond=None)  # normal equations: 3 x 3
        sse = float(np.sum((y - x @ coef) ** 2))
        if best is None or sse < best.sse:
            best = Fit(refresh_s, (ph + float(t_ns[0])) * 1e-9, sse, float(coef[0]), float(coef[1]),
                       int(valid.sum()))
    if best is None:
        raise ValueError("too few samples after the identification started to fit the step response")
    return best


@dataclass
class RegisterFit:
    """The fits of every candidate and of a free scan of the refresh (see :func:`fit_register_step`)."""

    candidates: List[Candidate]
    fits: List[Fit]
    scan_refresh_s: np.ndarray
    scan_sse: np.ndarray
    noise_w: float
    independent: int
    averages: int
    channels: int
    step_s: float


def fit_register_step(t_ns: np.ndarray, power_w: np.ndarray, step_t0_ns: int, step_t1_ns: int, start_ns: int,
                      candidates: Sequence[Candidate], *, phases: int = 16, scan_points: int = 41) -> RegisterFit:
    """Fits the readings around a step of known edges for each candidate and for a free scan of
    the refresh period (the same N and channels; conversion = refresh / (2 C)).

    Parameters
    ----------
    t_ns, power_w : arrays
        Sample times (ns) and board-total readings (W) from ``start_ns`` on (earlier ones are
        ignored): idle, the step over [step_t0_ns, step_t1_ns], idle.
    candidates : sequence of Candidate
        From :func:`ina3221_candidates` (all with the same N and channels).
    phases : int
        Refresh phases tried per refresh period.
    scan_points : int
        Points of the free scan, log-spaced from a third of the shortest candidate's refresh
        to three times the longest's.
    """
    if not candidates:
        raise ValueError("no candidate configuration to fit")
    t = np.asarray(t_ns, dtype=np.int64)
    p = np.asarray(power_w, dtype=np.float64)
    keep = (t >= start_ns) & np.isfinite(p)
    t, p = t[keep], p[keep]
    if len(t) < 16:
        raise ValueError(f"only {len(t)} readings after the identification started; sample faster or longer")
    n_avg, ch = candidates[0].averages, candidates[0].channels
    step = (int(step_t0_ns), int(step_t1_ns))
    fits = [_best_phase(t, p, c.refresh_s, c.conversion_s, n_avg, step, start_ns, phases) for c in candidates]
    lo = min(c.refresh_s for c in candidates) / 3
    hi = max(c.refresh_s for c in candidates) * 3
    scan = np.geomspace(lo, hi, scan_points)
    sse = np.array([_best_phase(t, p, r, r / (2 * ch), n_avg, step, start_ns, phases).sse for r in scan])
    changes = int(np.count_nonzero(np.diff(p) != 0))
    best = min(fits, key=lambda f: f.sse)
    noise = math.sqrt(best.sse / max(best.samples - 3, 1))
    return RegisterFit(list(candidates), fits, scan, sse, noise, max(changes, 4), n_avg, ch,
                       (step[1] - step[0]) * 1e-9)


# ---- the decision -----------------------------------------------------------------------------
@dataclass
class Identification:
    """What the identification concluded, for the provenance and the cache.

    ``model`` is None when no model could be trusted (``reason`` says why; the profiler keeps
    the plain estimator). ``tau_s`` and ``tau_interval_s`` are the time constant of the free
    fit and its ~95 % interval; ``period_s`` and ``update_at_s`` the update period and the time of
    one update (CLOCK_MONOTONIC s: updates happen at ``update_at_s + k x period_s``);
    ``candidates`` lists each configuration considered with its fit.
    """

    kind: str
    model: Optional[SensorModel]
    status: str  # "identified", "uncertain", "measured", "not identified"
    reason: str = ""
    tau_s: float = math.nan
    tau_interval_s: Tuple[float, float] = (math.nan, math.nan)
    period_s: float = math.nan
    update_at_s: float = math.nan
    candidates: List[Dict[str, Any]] = field(default_factory=list)
    sysfs: Dict[str, Any] = field(default_factory=dict)
    step_height_w: float = math.nan
    noise_w: float = math.nan
    duration_s: float = math.nan

    def as_dict(self) -> Dict[str, Any]:
        """JSON-ready (NaN as None)."""
        d = asdict(self)
        d["model"] = asdict(self.model) if self.model is not None else None
        return _clean(d)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Identification":
        d = dict(d)
        m = d.get("model")
        d["model"] = SensorModel(**m) if m else None
        d["tau_interval_s"] = tuple(math.nan if x is None else x for x in d.get("tau_interval_s") or (None, None))
        for k in ("tau_s", "period_s", "update_at_s", "step_height_w", "noise_w", "duration_s"):
            if d.get(k) is None:
                d[k] = math.nan
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return None if not math.isfinite(x) else x
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _interval(scan_r: np.ndarray, scan_sse: np.ndarray, threshold: float) -> Tuple[float, float, float]:
    """(best, low, high) refresh of the free scan: the minimum (refined by a parabola in log R)
    and the range whose SSE stays under ``threshold``."""
    i = int(np.argmin(scan_sse))
    lr = np.log(scan_r)
    best = float(scan_r[i])
    if 0 < i < len(scan_r) - 1:
        y0, y1, y2 = scan_sse[i - 1:i + 2]
        den = y0 - 2 * y1 + y2
        if den > 0:
            off = 0.5 * (y0 - y2) / den
            best = float(np.exp(lr[i] + off * (lr[i + 1] - lr[i])))
    ok = scan_sse <= threshold
    j = i
    while j > 0 and ok[j - 1]:
        j -= 1
    k = i
    while k < len(scan_r) - 1 and ok[k + 1]:
        k += 1
    # The interval reaches to the first point past the threshold (the scan is coarse).
    low = float(scan_r[max(j - 1, 0)]) if j > 0 else 0.0
    high = float(scan_r[min(k + 1, len(scan_r) - 1)]) if k < len(scan_r) - 1 else math.inf
    return best, low, high


def decide(fit: RegisterFit, shortest_window_s: float, sysfs: Optional[Dict[str, Any]] = None) -> Identification:
    """The model the fits support, or none with the reason.

    A candidate is consistent with the data when its residual sum of squares is within an F-test
    bound of the best (95 %, with the number of changes of the reading as the count of
    independent observations, which is conservative for a held register). The best candidate is
    taken when every consistent one implies the same energies to within :data:`AMBIGUITY_LIMIT`
    of the shortest window (their time constants and lags differ by less than that), the step
    rose clearly above the noise, and the free scan's interval contains it.
    """
    sysfs = dict(sysfs or {})
    best_i = int(np.argmin([f.sse for f in fit.fits]))
    best, cand = fit.fits[best_i], fit.candidates[best_i]
    n_eff = max(fit.independent - 3, 1)
    limit = best.sse * (1 + 4.0 / n_eff)
    r_best, r_lo, r_hi = _interval(fit.scan_refresh_s, fit.scan_sse, max(limit, float(np.min(fit.scan_sse)) *
                                                                         (1 + 4.0 / n_eff)))
    n = fit.averages
    rows = []
    for c, f in zip(fit.candidates, fit.fits):
        rows.append({"conversion_s": c.conversion_s, "semantics": c.semantics, "refresh_s": c.refresh_s,
                     "tau_s": c.tau_s, "sse_w2": f.sse, "sse_ratio": f.sse / best.sse if best.sse > 0 else 1.0,
                     "update_at_s": f.update_at_s, "consistent": bool(f.sse <= limit)})
    common = dict(kind="ina3221", tau_s=n * r_best, tau_interval_s=(n * r_lo, n * r_hi), candidates=rows,
                  sysfs=sysfs, step_height_w=best.height_w, noise_w=fit.noise_w, period_s=cand.refresh_s,
                  update_at_s=best.update_at_s)
    height_ok = abs(best.height_w) > 10 * fit.noise_w / math.sqrt(max(fit.independent, 1)) and \
        abs(best.height_w) > 3 * fit.noise_w / math.sqrt(max(fit.step_s * 1e3, 1))
    if not height_ok:
        return Identification(model=None, status="not identified", reason=(
            f"the identification step ({best.height_w:+.3g} W) did not rise clearly above the readings' noise "
            f"({fit.noise_w:.3g} W rms): the load did not change the sensor's power"), **common)
    consistent = [c for c, r in zip(fit.candidates, rows) if r["consistent"]]
    spread = max(abs(c.tau_s - cand.tau_s) + abs(c.model().centre_lag_s - 0.5 * c.refresh_s
                                                 - cand.model().centre_lag_s + 0.5 * cand.refresh_s)
                 for c in consistent)
    if spread > AMBIGUITY_LIMIT * shortest_window_s:
        names = ", ".join(c.label() for c in consistent)
        return Identification(model=None, status="uncertain", reason=(
            f"the readings fit {names} about equally well and their time constants differ by {spread * 1e3:.3g} ms "
            f"(more than {AMBIGUITY_LIMIT:.1%} of a {shortest_window_s:g} s window)"), **common)
    if not (r_lo <= cand.refresh_s <= r_hi) and abs(math.log(r_best / cand.refresh_s)) > 0.15:
        return Identification(model=None, status="uncertain", reason=(
            f"the best candidate ({cand.label()}, tau {cand.tau_s * 1e3:.4g} ms) lies outside the free fit's "
            f"interval (tau {n * r_lo * 1e3:.4g} to {n * r_hi * 1e3:.4g} ms): the chip may use different bus "
            "and shunt conversion times"), **common)
    tau_text = f"fitted tau {n * r_best * 1e3:.4g} ms (95 % {n * r_lo * 1e3:.4g} to {n * r_hi * 1e3:.4g} ms)"
    if len(fit.candidates) == 1:
        why = f"{cand.label()}, the only setting sysfs allows; {tau_text}"
    elif len(consistent) == 1:
        worst = min(r["sse_ratio"] for r in rows if not r["consistent"])
        why = (f"{cand.label()} of {len(fit.candidates)} settings sysfs allows; the others fit at least "
               f"{worst:.3g} x worse; {tau_text}")
    else:
        why = (f"{cand.label()} of {len(fit.candidates)} settings sysfs allows; {len(consistent) - 1} other(s) fit "
               f"as well but imply the same energies within {AMBIGUITY_LIMIT:.1%}; {tau_text}")
    return Identification(model=cand.model(), status="identified", reason=why, **common)


__all__ = ["AMBIGUITY_LIMIT", "AVERAGES", "CONVERSION_TIMES_S", "Candidate", "Fit", "Identification",
           "RegisterFit", "decide", "fit_register_step", "ina3221_candidates", "register_basis"]
