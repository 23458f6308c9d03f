"""Figures over repeated windows: per-round energy and latency per inference, net of idle, with
the restore cost of in-place layers subtracted; mean and 95 % CI over rounds (native
``repeat_stats``, Student t).

A round holds one window per call site (isolation: the site's calls back to back; in situ: the
site's share of the round's forwards). Per round: latency = window / calls, gross energy per
inference = window energy / calls, net = (window energy - idle power x window) / calls.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._native import core as _core

#: The per-round series of :class:`PerRound`, in order.
SERIES = ("latency_s", "gross_j", "net_j", "window_s", "energy_j", "calls", "samples")


@dataclass
class PerRound:
    """One call site's figures per round (NaN where a round has no window).

    ``latency_s``, ``gross_j``, ``net_j``: per inference; ``window_s``, ``energy_j``: the
    window's length and energy; ``calls``, ``samples``: calls and samples in it; ``reasons``: why
    an energy is missing.
    """

    latency_s: np.ndarray
    gross_j: np.ndarray
    net_j: np.ndarray
    window_s: np.ndarray
    energy_j: np.ndarray
    calls: np.ndarray
    samples: np.ndarray
    reasons: List[str] = field(default_factory=list)

    @classmethod
    def empty(cls, rounds: int) -> "PerRound":
        return cls(*(np.full(rounds, math.nan) for _ in SERIES))


def per_round(windows: Sequence[Any], label: str, rounds: int, idle_w: Optional[float]) -> PerRound:
    """Per-round figures of the call site ``label`` from its windows (records with label, round,
    kind ``layer``/``model``/``op``/``restore``, calls, duration_s, energy_j, num_samples, reason)."""
    out = PerRound.empty(rounds)
    reasons = []
    by_round: Dict[int, Dict[str, Any]] = {}
    for w in windows:
        if w.label == label:
            by_round.setdefault(w.round, {})[w.kind] = w
    for r, kinds in by_round.items():
        main = kinds.get("layer") or kinds.get("model") or kinds.get("op")
        if main is None:
            continue
        n, t, e = main.calls, main.duration_s, main.energy_j
        lat, gross = t / n, e / n
        net = (e - idle_w * t) / n if idle_w is not None else math.nan
        if main.reason:
            reasons.append(main.reason)
        rest = kinds.get("restore")
        if rest is not None:
            rn, rt, re_ = rest.calls, rest.duration_s, rest.energy_j
            lat -= rt / rn
            gross -= re_ / rn
            net = net - (re_ - idle_w * rt) / rn if idle_w is not None else math.nan
            if rest.reason:
                reasons.append(rest.reason)
        if math.isfinite(net) and abs(net) <= 1e-12 * abs(gross):
            net = 0.0  # rounding left over from subtracting an identical baseline (a constant sensor)
        out.latency_s[r], out.gross_j[r], out.net_j[r] = lat, gross, net
        out.window_s[r], out.energy_j[r] = t, e
        out.calls[r], out.samples[r] = n, main.num_samples
    out.reasons = sorted(set(reasons))
    return out


def combine(parts: Sequence[PerRound], sign: Sequence[float]) -> PerRound:
    """Per-round sums (with signs) of several call sites' figures; NaN where any part is."""
    acc = {k: np.zeros_like(getattr(parts[0], k)) for k in SERIES}
    for p, s in zip(parts, sign):
        for k in SERIES:
            acc[k] = acc[k] + s * getattr(p, k)
    return PerRound(**acc)


def difference(parts: Sequence[PerRound], sign: Sequence[float]) -> PerRound:
    """Per-round sums (with signs) like :func:`combine`, shifted so that each figure's mean is
    the same sum of the parts' own means: where the parts hold different rounds (a site given
    extra rounds for precision, edgepower.profile.precision) the rows still add up, and the
    spread (the CI) is that of the rounds every part holds, paired as before."""
    out = combine(parts, sign)
    for k in ("latency_s", "gross_j", "net_j"):
        series = getattr(out, k)
        finite = np.isfinite(series)
        means = [float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else math.nan
                 for v in (getattr(p, k) for p in parts)]
        target = sum(s * m for s, m in zip(sign, means))
        if finite.any() and math.isfinite(target):
            series[finite] += target - float(np.mean(series[finite]))
    return out


def mean_ci(values: Sequence[float]) -> Tuple[float, float, int]:
    """(mean, 95 % CI half-width, n) of the finite values; NaN where undefined."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, 0
    s = _core.repeat_stats(v)
    return float(s["mean"]), float(s["ci95_half_width"]), int(s["n"])


def material(value: float, scale: float) -> bool:
    """True when value is a finite number distinguishable from zero at the scale of ``scale``
    (a net energy of a constant sensor is 0 up to rounding; a share of it means nothing)."""
    return math.isfinite(value) and math.isfinite(scale) and abs(value) > 1e-9 * max(abs(scale), 1e-300)


__all__ = ["PerRound", "SERIES", "combine", "difference", "material", "mean_ci", "per_round"]
