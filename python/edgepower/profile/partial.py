"""A profile cut short by Ctrl-C: the report of the windows that finished.

:class:`ProfileInterrupted` is a ``KeyboardInterrupt`` (code that stops on Ctrl-C still does)
carrying ``report``: the rows of the finished windows, with ``meta["partial"]`` saying what was
and was not measured. Isolation mode only: an in-situ round has no finished windows before it
ends, so ``report`` is None there, as it is when no window finished.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

from .isolation import outcome as isolation_outcome
from .run import Run

log = logging.getLogger("edgepower")


class ProfileInterrupted(KeyboardInterrupt):
    """Ctrl-C during a profile. ``report``: the partial :class:`~edgepower.report.Report` (or
    None: no window had finished, or in-situ mode); ``finished`` / ``planned``: windows."""

    def __init__(self, report: Any, finished: int, planned: int, stage: str):
        super().__init__(f"profile interrupted during {stage}: {finished} of {planned} windows finished")
        self.report, self.finished, self.planned, self.stage = report, finished, planned, stage


def interrupted(run: Run, make_report: Callable[..., Any]) -> ProfileInterrupted:
    """The exception to raise for a Ctrl-C during ``run`` (sampling has stopped)."""
    planned = run.options.rounds * (len(run.sites) + 1)
    done = [w for w in run.windows if w.kind in ("layer", "model")]
    stage = ("the extra rounds for precision or the idle baseline after the windows" if len(done) >= planned
             else "the measurement" if done else "start-up (capture, idle baseline)")
    if run.options.mode != "isolation":
        stage = "the in-situ measurement (in-situ mode has no partial report: its figures need whole rounds)"
    if run.whole is None or run.options.mode != "isolation" or not done:
        return ProfileInterrupted(None, len(done), planned, stage)
    try:
        windows = list(run.windows)
        s = run.monitor.samples()
        power = run.monitor.total_power(s) if len(s) else np.zeros(0)
        report = make_report(run, isolation_outcome(run, windows), s, power)
    except Exception:  # the Ctrl-C stays a Ctrl-C; say why there is no partial report
        log.exception("the partial report could not be made")
        return ProfileInterrupted(None, len(done), planned, stage)
    items = [s.label for s in run.sites] + [run.whole.label]
    measured = {(w.label, w.round) for w in done}
    rounds_complete = sum(all((label, r) in measured for label in items) for r in range(run.options.rounds))
    report.meta["partial"] = {
        "interrupted": "Ctrl-C (SIGINT) during the measurement; the figures cover the finished windows only",
        "windows_finished": len(done), "windows_planned": planned, "rounds_complete": rounds_complete,
        "not_measured": [label for label in items if not any(w.label == label for w in done)],
        "resume": "from the command line, `edgepower profile --resume OUT` finishes it from OUT/spool",
    }
    report.meta.setdefault("warnings", []).append(
        f"PARTIAL: interrupted after {len(done)} of {planned} windows ({rounds_complete} of "
        f"{run.options.rounds} rounds complete)")
    return ProfileInterrupted(report, len(done), planned, stage)


__all__ = ["ProfileInterrupted", "interrupted"]
