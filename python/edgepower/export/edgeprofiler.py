"""A report in EdgeProfiler's raw layout (their power log, layer latency and engine files)."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from .common import finite as _finite

def edgeprofiler_windows(report) -> Dict[str, Any]:
    """The layer windows in EdgeProfiler's terms: ``{label: [(start_ns, end_ns), ...]}`` in
    execution order, one window a cycle, plus ``cycles``, ``kind`` and ``time_ordered``.

    In-situ reports: a cycle is one forward of the whole model and each call site's window
    is its marked run in that forward (forwards where a call site did not run are left out).
    Isolation reports: a cycle is one round and each call site's window is its isolation
    window in that round (many calls back to back). Rounds measure the call sites in a
    shuffled order, so the windows of a cycle are not in time order (``time_ordered``
    False): EdgeProfiler's compat mapping sweeps the log forwards once and leaves such
    windows empty; import those with ``mode="corrected"``.
    """
    if report.cycles is not None:
        cy = report.cycles
        t0, t1 = np.asarray(cy["t0_ns"], dtype=np.int64), np.asarray(cy["t1_ns"], dtype=np.int64)
        complete = (t0 >= 0).all(axis=1)
        wins = {lab: list(zip(t0[complete, i].tolist(), t1[complete, i].tolist()))
                for i, lab in enumerate(cy["labels"])}
        flat0, flat1 = t0[complete].ravel(), t1[complete].ravel()
        ordered = bool(np.all(flat0[1:] >= flat1[:-1])) if flat0.size else True
        return {"windows": wins, "cycles": int(complete.sum()), "dropped_cycles": int((~complete).sum()),
                "kind": "forward", "time_ordered": ordered}
    labels = [r["layer"] for r in report.layer_rows if r["status"] != "failed"]
    by = {(w["label"], w["round"]): w for w in report.windows if w.get("kind") == "layer"}
    rounds = sorted({w["round"] for w in report.windows if w.get("kind") == "layer"})
    rounds = [r for r in rounds if all((lab, r) in by for lab in labels)]
    wins = {lab: [(int(by[(lab, r)]["t0_ns"]), int(by[(lab, r)]["t1_ns"])) for r in rounds] for lab in labels}
    seq = [w for r in rounds for lab in labels for w in [by[(lab, r)]]]
    ordered = all(b["t0_ns"] >= a["t1_ns"] for a, b in zip(seq, seq[1:]))
    return {"windows": wins, "cycles": len(rounds), "dropped_cycles": 0, "kind": "round", "time_ordered": ordered}


def to_edgeprofiler(report, out_dir: str, model: Optional[str] = None, *,
                    layer_types: Optional[Dict[str, str]] = None, idle_power_w: Optional[float] = None,
                    **options: Any) -> Dict[str, Any]:
    """Writes the measurements in EdgeProfiler's raw layout (see docs/edgeprofiler.md) with
    :func:`edgepower.edgeprofiler.write_raw_dir`: the power log (every sample of the run),
    ``idling_power.json`` (the idle baseline) and the layer windows of
    :meth:`edgeprofiler_windows` in the ``trt_layer_latency.json`` format.

    Parameters
    ----------
    out_dir : path
        The raw directory (``idling_power.json`` there, the rest in ``out_dir/model``).
    model : str, optional
        Model folder name; default the model's class name.
    layer_types : dict, optional
        Label -> type for ``trt_engine_info.json``; default the module class (``Conv2d``).
        Upstream's feature step keeps only ``Cask*`` types.
    idle_power_w : float, optional
        Idle power to write when the report has no baseline (``idle_s=0``).
    **options
        Passed to ``write_raw_dir`` (``epoch``, ``voltage_mv``, ``current_decimals``).

    Returns
    -------
    dict
        Paths written (``log``, ``latency``, ``engine``, ``idle``) and ``cycles``, ``kind``,
        ``time_ordered`` (False: import with ``mode="corrected"``).
    """
    from ..edgeprofiler import EdgeProfilerWarning, write_raw_dir

    if report.samples_t_ns.size == 0 or report.samples_power_w.size == 0:
        raise ValueError("this report holds no samples (a report read back from JSON keeps none): export "
                         "the Report that LayerProfiler.profile() returned")
    idle = report.meta.get("idle_power_w") if idle_power_w is None else idle_power_w
    if not _finite(idle):
        raise ValueError("the report has no idle baseline (idle_s=0) and EdgeProfiler's layout needs one: pass "
                         "idle_power_w=... (watts)")
    plan = report.edgeprofiler_windows()
    if plan["cycles"] == 0:
        raise ValueError("no complete cycle to export: every call site needs a window in each cycle")
    if not plan["time_ordered"]:
        import warnings

        warnings.warn("the exported layer windows are not in time order within their cycles (isolation measures "
                      "layers in a shuffled order): EdgeProfiler's compat mapping will leave many empty; import "
                      "with mode='corrected'", EdgeProfilerWarning, stacklevel=2)
    types = {r["layer"]: r["type"] for r in report.layer_rows}
    types.update(layer_types or {})
    name = model or str(report.meta.get("model") or "model")
    t, p = report.samples_t_ns, report.samples_power_w
    if report.attribution_t_ns is not None and report.attribution_t_ns.shape == t.shape:
        # In situ: each reading at the time it stands for (its read's start, or the sensor
        # refresh that produced it), one line per sensor update, as the attribution used.
        t = report.attribution_t_ns
        first = np.ones(t.shape[0], dtype=bool)
        first[1:] = t[1:] != t[:-1]
        t, p = t[first], p[first]
    finite = np.isfinite(p)
    paths: Dict[str, Any] = dict(write_raw_dir(out_dir, name, t[finite], p[finite], float(idle), plan["windows"],
                                               layer_types=types, **options))
    paths.update(cycles=plan["cycles"], kind=plan["kind"], time_ordered=plan["time_ordered"], model=name)
    return paths


__all__ = ["edgeprofiler_windows", "to_edgeprofiler"]
