"""Isolation of the torch ops a model runs outside its layers: each captured op call
(:func:`.op_capture.capture_op_calls`) measured alone in windows on the profile's monitor,
with the loop :func:`.runners.choose_runner` picks (native for ops shorter than the Python
loop's overhead allows, when ``edgepower._torch`` is available); rows by
:func:`.op_rows.isolation_op_rows`.

Entry point for an isolation profile::

    with PowerMonitor("auto") as mon:
        prof = LayerProfiler(model, monitor=mon)
        report = prof.profile(x)
        report = profile_ops_isolated(report, model, (x,), {}, mon, prof.layer_names)
"""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..report import Report, Window
from .op_rows import OP_KIND, isolation_op_rows
from .runners import PythonLoop, choose_runner, tensor_leaves

log = logging.getLogger("edgepower")

__all__ = ["measure_op_calls", "profile_ops_isolated"]


def _latency_estimate(fn: Callable[[], Any], budget_s: float = 0.02) -> float:
    clock = time.perf_counter
    fn()
    n, t0 = 0, clock()
    while True:
        fn()
        n += 1
        if clock() - t0 >= budget_s or n >= 10000:
            return (clock() - t0) / n


def measure_op_calls(calls: Sequence[Any], monitor: Any, *, rounds: int = 3, target_s: float = 0.2,
                     min_repeats: int = 3, warmup: int = 2, seed: int = 0, native: str = "auto",
                     progress: Optional[Callable[[str, int, int], None]] = None) -> Tuple[List[Window], Dict[str, Any]]:
    """Measures each op call alone in windows on ``monitor`` (running), in shuffled rounds.

    An op that changes its input in place is restored from the capture before every call,
    and the restore copies alone are measured in a window of their own (kind ``restore``) to
    be subtracted. Returns (windows, {label: RunnerChoice}).
    """
    import torch

    if not monitor.running:
        raise ValueError("measure_op_calls needs a running PowerMonitor (the one the profile used)")
    timeline = monitor.timeline
    target_ns = int(round(target_s * 1e9))
    loops: Dict[str, Any] = {}
    choices: Dict[str, Any] = {}
    windows: List[Window] = []
    try:
        with torch.inference_mode():
            for c in calls:
                c.prepare()
                c.run()
                c.inplace = c.mutated()
                c.restore()
                fn = (lambda c=c: (c.restore(), c.run())) if c.inplace else c.run
                a, k = c.work()
                loop, choice = choose_runner(c.as_module(), tensor_leaves(a, k), {}, _latency_estimate(fn),
                                             native=native, inplace=bool(c.inplace), python_fn=fn)
                loops[c.label], choices[c.label] = loop, choice
            rng = random.Random(seed)
            total, done = rounds * len(calls), 0
            for r in range(rounds):
                order = list(calls)
                rng.shuffle(order)
                for c in order:
                    if progress is not None:
                        progress(c.label, done, total)
                    done += 1
                    parts = [(OP_KIND, loops[c.label])]
                    if c.inplace:
                        parts.append(("restore", PythonLoop(c.restore)))
                    for kind, loop in parts:
                        region = timeline.region(c.label + (" (restore)" if kind == "restore" else ""))
                        w = loop.window(target_ns, min_repeats, warmup=warmup)
                        timeline.mark_at(w.t0_ns, region, True)
                        timeline.mark_at(w.t1_ns, region, False)
                        windows.append(Window(label=c.label, module=c.parent, call=int(c.label.rsplit("#", 1)[1]),
                                              round=r, kind=kind, t0_ns=w.t0_ns, t1_ns=w.t1_ns, calls=w.calls,
                                              runner=getattr(loop, "name", "python")))
    finally:
        for c in calls:
            c.release()
    if windows:
        monitor.wait_for_sample_after(max(w.t1_ns for w in windows))
    for w in windows:
        m = monitor.measure(w.t0_ns, w.t1_ns, name=w.label)
        w.duration_s, w.energy_j, w.num_samples, w.reason = (w.t1_ns - w.t0_ns) * 1e-9, m.energy_j, m.num_samples, \
            m.reason
    return windows, choices


def profile_ops_isolated(report: Report, model: Any, args: Sequence[Any], kwargs: Optional[Dict[str, Any]],
                         monitor: Any, layer_names: Sequence[str], *, native: str = "auto",
                         progress: Optional[Callable[[str, int, int], None]] = None) -> Report:
    """Captures the op calls outside ``layer_names``, measures each alone on ``monitor`` with
    the report's rounds, target window, minimum repeats, warm-up and seed, and returns the
    report with op rows (:func:`.op_rows.isolation_op_rows`); the report itself when the
    model makes no such call."""
    from .op_capture import capture_op_calls

    m = report.meta.get("method", {})
    calls = capture_op_calls(model, args, kwargs or {}, layer_names)
    if not calls:
        return report
    windows, choices = measure_op_calls(calls, monitor, rounds=int(m.get("rounds", 3)),
                                        target_s=float(m.get("target_window_s", 0.2)),
                                        min_repeats=int(m.get("min_repeats", 3)), warmup=int(m.get("warmup", 2)),
                                        seed=int(m.get("seed", 0)), native=native, progress=progress)
    return isolation_op_rows(report, calls, windows, choices)
