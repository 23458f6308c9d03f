"""Rounds beyond the planned ones for the call sites whose figures are not yet precise enough
(isolation mode).

After the planned ``rounds``, each call site's headline figure (net energy per inference, or
gross without an idle baseline) and its 95 % CI are computed from the samples so far. A site
whose CI is wider than ``ci_target_pct`` of its figure is measured in further rounds, each in a
fresh random order of those sites, until

- every site is within the target,
- ``max_rounds`` rounds are done (default :data:`MAX_ROUNDS_FACTOR` x the planned rounds), or
- the extra rounds have taken :data:`EXTRA_TIME_FRACTION` of the planned rounds' time.

Why: a spread that varies at random from round to round narrows as 1 / sqrt(rounds), and the
sites that need more rounds are few and known only after measuring. Seen on VGG11 with the CPU
estimate beside a 2-thread busy loop: every conv and linear layer within +-9.2 % after 16 rounds
but ``features.0`` (12.8 MB output, page faults that vary from call to call) at +-19.4 %, which
needs about 16 x (19.4 / 10)^2 = 60 rounds (docs/accuracy.md). A site whose CI is below
:data:`MIN_CI_OF_MODEL` of the whole model's figure is left alone (an in-place ReLU at +-15 %
of its 0.01 % of the model changes nothing a reader sees).

A site whose CI includes zero (``not resolved``: a layer that costs about nothing, or less than
the noise) is left alone: reaching a 10 % CI from one wider than the figure takes over 100 x
the rounds. So is a site with a figure of exactly zero (a constant sensor).

What happened is in the report's ``meta["method"]["precision"]``; each row's ``rounds`` column
says how many rounds it holds.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..energy.repeats import material, mean_ci, per_round
from ..report import Window
from .capture import MODEL_LABEL, CallSite

#: Default most rounds a site is measured in, as a multiple of the planned rounds.
MAX_ROUNDS_FACTOR = 4
#: The extra rounds stop once they have taken this fraction of the planned rounds' time.
EXTRA_TIME_FRACTION = 0.5
#: A site whose CI half-width is below this fraction of the whole model's figure gets no extra
#: round, however wide its CI relative to itself: it changes no total a reader looks at (on
#: VGG11 the in-place ReLUs, 0.0-0.3 % of the model, at +-10-18 %, took 48 extra rounds each).
MIN_CI_OF_MODEL = 1e-4


def rounds_in(windows: Sequence[Window], planned: int) -> int:
    """The number of rounds the windows span (the planned ones and any extra ones)."""
    return max([planned] + [w.round + 1 for w in windows])


def headline(windows: Sequence[Window], label: str, rounds: int, idle_w: Optional[float]) -> Tuple[float, float, float]:
    """(figure, 95 % CI half-width, gross figure) per inference: the net energy (gross without
    an idle baseline) as the rows compute it."""
    pr = per_round(windows, label, rounds, idle_w)
    gross, _, _ = mean_ci(pr.gross_j)
    value, ci, n = mean_ci(pr.net_j if idle_w is not None else pr.gross_j)
    return value, (ci if n >= 2 else math.nan), gross


def relative_ci_pct(windows: Sequence[Window], label: str, rounds: int, idle_w: Optional[float]) -> float:
    """The 95 % CI half-width of the site's headline figure in % of it; NaN where there is
    nothing to aim at: fewer than 2 rounds, a figure of zero, or a CI that includes zero."""
    return _relative_pct(*headline(windows, label, rounds, idle_w))


def _relative_pct(value: float, ci: float, gross: float) -> float:
    if not material(value, gross) or not math.isfinite(ci) or abs(value) <= ci:
        return math.nan
    return abs(ci / value) * 100.0


def fill_energies(run: Any, windows: Sequence[Window]) -> None:
    """Energies of the windows that have none yet, from the samples so far (the report computes
    them again from all samples once sampling stops)."""
    todo = [w for w in windows if not math.isfinite(w.energy_j)]
    if not todo:
        return
    monitor = run.monitor
    estimator = monitor.estimator
    pad_ns = estimator.padding_ns(monitor.rate_hz) if estimator is not None else 0
    monitor.wait_for_sample_after(max(w.t1_ns for w in todo) + pad_ns,
                                  timeout_s=pad_ns * 1e-9 + max(0.1, 8.0 / monitor.rate_hz))
    for w in todo:
        m = monitor.measure(w.t0_ns, w.t1_ns, name=w.label)
        w.duration_s = (w.t1_ns - w.t0_ns) * 1e-9
        w.energy_j, w.num_samples, w.reason = m.energy_j, m.num_samples, m.reason


def above_target(run: Any, items: Sequence[CallSite], rounds: int, target_pct: float) -> Dict[str, float]:
    """The sites (not failed) whose relative CI is above the target and whose CI is at least
    :data:`MIN_CI_OF_MODEL` of the whole model's figure, with their relative CI."""
    fill_energies(run, run.windows)
    model, _, _ = headline(run.windows, MODEL_LABEL, rounds, run.idle_power_w)
    floor = MIN_CI_OF_MODEL * abs(model) if math.isfinite(model) else 0.0
    out: Dict[str, float] = {}
    for site in items:
        if site.error:
            continue
        value, ci, gross = headline(run.windows, site.label, rounds, run.idle_power_w)
        rel = _relative_pct(value, ci, gross)
        if rel > target_pct and ci >= floor:  # False for NaN
            out[site.label] = rel
    return out


def extra_rounds(run: Any, items: List[CallSite], planned_s: float,
                 measure_round: Callable[[List[CallSite], int], None]) -> Dict[str, Any]:
    """Measures extra rounds (``measure_round(sites, round)``) while some site is above the CI
    target; returns what happened, for the provenance."""
    o = run.options
    target = o.ci_target_pct
    max_rounds = o.max_rounds if o.max_rounds is not None else MAX_ROUNDS_FACTOR * o.rounds
    info: Dict[str, Any] = {"ci_target_pct": target, "max_rounds": max_rounds, "planned_rounds": o.rounds,
                            "time_budget_s": EXTRA_TIME_FRACTION * planned_s, "extra_rounds": {}, "extra_s": 0.0}
    if target is None:
        info["stopped"] = "no target (ci_target_pct=None)"
        return info
    if o.rounds < 2:
        info["stopped"] = "one planned round: no confidence interval to aim at"
        return info
    start = time.monotonic()
    by_label = {s.label: s for s in items}
    r = o.rounds
    while True:
        above = above_target(run, items, r, target)
        if not above:
            info["stopped"] = f"every site within +-{target:g} %" if r > o.rounds else \
                f"every site within +-{target:g} % after the planned rounds"
            break
        if r >= max_rounds:
            info["stopped"] = f"max_rounds ({max_rounds}) reached"
            break
        if time.monotonic() - start >= info["time_budget_s"]:
            info["stopped"] = (f"time budget reached ({EXTRA_TIME_FRACTION:g} x the planned rounds' "
                               f"{planned_s:.3g} s)")
            break
        sites = [by_label[label] for label in above]
        measure_round(sites, r)
        for s in sites:
            info["extra_rounds"][s.label] = info["extra_rounds"].get(s.label, 0) + 1
        r += 1
    info["extra_s"] = time.monotonic() - start
    info["above_target_pct"] = dict(above)
    return info


__all__ = ["EXTRA_TIME_FRACTION", "MAX_ROUNDS_FACTOR", "MIN_CI_OF_MODEL", "above_target",
           "extra_rounds", "fill_energies", "headline", "relative_ci_pct", "rounds_in"]
