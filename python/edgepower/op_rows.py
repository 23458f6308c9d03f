"""Rows for the ops a model runs outside its selected layers, in both profiling modes.

``(unattributed)`` is the whole model minus the layers: residual adds, ``flatten``,
functional attention, view/transpose glue. This module splits it into one row per op call
site (``aten::add#3``: the fourth ``aten::add`` outside the layers in a forward) and leaves
in ``(unattributed)`` only what no op accounts for (Python between the ops, hooks).

Entry points (the profiler's strategies call these; each returns a new Report):

In-situ, from the op observer's stamps (``edgepower._torch``)::

    with torch_native.OpObserver(max_depth=1) as obs:
        report = LayerProfiler(model, mode="in-situ", ...).profile(x)
    report = insitu_op_rows(report, obs.stamps())

  Every outermost ATen op stamped inside a forward and outside every layer window is an op
  window; a reading attributed (by its attribution time, as the in-situ layers are) to an op
  window is that op's; per round, an op's latency is its stamped run time per forward and its
  energy its mean attributed power times that time (the in-situ layers' rule). An op call
  site that got no reading in a round takes the mean power of all the round's op readings
  (noted in its row). With ``op_calls`` (:func:`edgepower.op_capture.capture_op_calls`), rows
  also name the module the op ran in.

Isolation, by running each captured op call alone (:func:`measure_op_calls` with the
loops of :mod:`edgepower.runners`: native for ops faster than the Python loop's overhead
allows, which is most of them)::

    report = profile_ops_isolated(report, model, (x,), {}, monitor, layer_names)

Both: op rows are inserted after the layer that precedes them in the forward, have kind
``op``, type ``op``, the enclosing module in ``module`` and, in isolation, ``runner`` (which
loop measured them: ``python``, ``native-aoti``, ``native-torchscript``) with the reason in
``note``. ``(unattributed)`` is recomputed per round as model - layers - ops and
``energy_pct`` for every row. ``meta["ops"]`` records the method, the op count and, in
situ, what the stamps are (CUDA: launch times).
"""
from __future__ import annotations

import logging
import math
import random
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._native import core as _core

log = logging.getLogger("edgepower")

OP_KIND = "op"
MODEL_LABEL = "(model)"
UNATTRIBUTED_LABEL = "(unattributed)"
_KEYS = ("latency_s", "gross_j", "net_j", "window_s", "energy_j", "calls", "samples")

__all__ = ["OP_KIND", "insitu_op_rows", "isolation_op_rows", "measure_op_calls", "per_call_rounds",
           "profile_ops_isolated"]


# ---- per-round figures and rows -----------------------------------------------------------------
def per_call_rounds(windows: List[Dict[str, Any]], label: str, rounds: int, idle_w: Optional[float]) -> Dict[str, Any]:
    """Per-round, per-call figures of one label from a report's windows (the report's rule:
    latency = window / calls, gross = energy / calls, net = (energy - idle x window) / calls;
    a ``restore`` window's per-call figures subtracted). NaN for rounds without a window."""
    out: Dict[str, Any] = {k: np.full(rounds, math.nan) for k in _KEYS}
    by: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for w in windows:
        if w["label"] == label:
            by.setdefault(int(w["round"]), {})[w["kind"]] = w
    notes = []
    for r, kinds in by.items():
        main = kinds.get("layer") or kinds.get("model") or kinds.get(OP_KIND)
        if main is None or not main.get("calls") or r >= rounds:
            continue
        n, t, e = main["calls"], main["duration_s"], main["energy_j"]
        lat, gross = t / n, e / n
        net = (e - idle_w * t) / n if idle_w is not None else math.nan
        rest = kinds.get("restore")
        if rest is not None and rest.get("calls"):
            rn, rt, re_ = rest["calls"], rest["duration_s"], rest["energy_j"]
            lat -= rt / rn
            gross -= re_ / rn
            net = net - (re_ - idle_w * rt) / rn if idle_w is not None else math.nan
        if main.get("reason"):
            notes.append(main["reason"])
        vals = dict(latency_s=lat, gross_j=gross, net_j=net, window_s=t, energy_j=e, calls=n,
                    samples=main.get("num_samples", 0))
        for k, v in vals.items():
            out[k][r] = v
    out["reasons"] = sorted(set(notes))
    return out


def _stats(v: np.ndarray) -> Tuple[float, float, int]:
    v = np.asarray([x for x in v if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, 0
    s = _core.repeat_stats(v)
    return float(s["mean"]), float(s["ci95_half_width"]), int(s["n"])


def _fill(row: Dict[str, Any], pr: Dict[str, Any], idle_w: Optional[float]) -> Dict[str, Any]:
    """Sets the figure columns of ``row`` from per-round figures."""
    lat, lat_ci, n_ok = _stats(pr["latency_s"])
    gross, gross_ci, _ = _stats(pr["gross_j"])
    net, net_ci, _ = _stats(pr["net_j"])
    head, head_ci = (net, net_ci) if idle_w is not None else (gross, gross_ci)
    fin = {k: pr[k][np.isfinite(pr[k])] for k in ("window_s", "energy_j", "calls", "samples") if k in pr}
    row.update(rounds=int(n_ok), latency_ms=lat * 1e3, latency_ci95_ms=lat_ci * 1e3,
               energy_per_inference_mj=gross * 1e3, net_energy_per_inference_mj=net * 1e3, ci95_mj=head_ci * 1e3,
               ci95_pct=abs(head_ci / head) * 100 if math.isfinite(head) and head != 0 else math.nan,
               avg_power_w=gross / lat if lat and math.isfinite(lat) else math.nan,
               net_power_w=net / lat if lat and math.isfinite(lat) else math.nan,
               idle_power_w=idle_w if idle_w is not None else math.nan)
    if "calls" in pr and row.get("kind") != "unattributed":
        row.update(repeats=int(fin["calls"].sum()), window_s=float(fin["window_s"].mean()) if fin["window_s"].size
                   else math.nan, total_time_s=float(fin["window_s"].sum()) if fin["window_s"].size else math.nan,
                   energy_total_j=float(fin["energy_j"].sum()) if fin["energy_j"].size else math.nan,
                   num_samples=int(fin["samples"].sum()))
    if row.get("status") == "ok" and n_ok == 0:
        row["status"] = "no data"
    return row


def _op_row(label: str, module: str, call: int, shapes: str, pr: Dict[str, Any], idle_w: Optional[float],
            sensor: str, estimated: bool, note: str, runner: str = "") -> Dict[str, Any]:
    row = {"layer": label, "module": module, "call": call, "kind": OP_KIND, "type": "op", "params": 0,
           "input_shapes": shapes, "energy_pct": math.nan, "inplace": False, "status": "ok", "error": "",
           "note": note, "sensor": sensor, "estimated": bool(estimated), "runner": runner}
    return _fill(row, pr, idle_w)


def _combine(parts: List[Dict[str, Any]], signs: Sequence[float]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k in ("latency_s", "gross_j", "net_j"):
        acc = np.zeros_like(parts[0][k])
        for p, s in zip(parts, signs):
            acc = acc + s * p[k]
        out[k] = acc
    return out


def _with_ops(report: Any, op_rows: List[Dict[str, Any]], op_pr: Dict[str, Dict[str, Any]], after: Dict[str, str],
              op_windows: List[Dict[str, Any]], ops_meta: Dict[str, Any]) -> Any:
    """A new report: op rows inserted after their preceding layer, (unattributed) = model -
    layers - ops per round, energy shares recomputed."""
    from .report import Report

    rounds = int(report.meta.get("method", {}).get("rounds") or
                 max([int(w["round"]) for w in report.windows] or [0]) + 1)
    idle_w = report.meta.get("idle_power_w")
    rows = [dict(r) for r in report.rows]
    ok_layers = [r["layer"] for r in rows if r["kind"] == "layer" and r["status"] != "failed"]
    model_pr = per_call_rounds(report.windows, MODEL_LABEL, rounds, idle_w)
    parts = [model_pr] + [per_call_rounds(report.windows, lab, rounds, idle_w) for lab in ok_layers]
    parts += [op_pr[r["layer"]] for r in op_rows]
    un_pr = _combine(parts, [1.0] + [-1.0] * (len(parts) - 1))
    un = next(r for r in rows if r["kind"] == "unattributed")
    _fill(un, un_pr, idle_w)
    un["note"] = (f"whole model minus the layers and the {len(op_rows)} op call sites outside them (own rows, kind "
                  f"'op'): {ops_meta.get('unattributed_is', 'what no op accounts for')}")
    # Insert each op after the row of the layer that ran before it (after its module total).
    out: List[Dict[str, Any]] = []
    pending: Dict[str, List[Dict[str, Any]]] = {}
    for r in op_rows:
        pending.setdefault(after.get(r["layer"], ""), []).append(r)
    out.extend(pending.pop("", []))
    for i, r in enumerate(rows):
        if r["kind"] in ("unattributed", "model"):
            continue
        out.append(r)
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if nxt is not None and nxt["kind"] == "module total" and nxt["module"] == r["module"]:
            continue  # after the total
        key = r["layer"] if r["kind"] == "layer" else None
        if r["kind"] == "module total":
            # The ops after the module's last call come after its total.
            last = [x for x in rows if x["kind"] == "layer" and x["module"] == r["module"]]
            key = last[-1]["layer"] if last else None
        if key is not None:
            out.extend(pending.pop(key, []))
    for rest in pending.values():  # layers not in the rows (failed and dropped): at the end
        out.extend(rest)
    out.extend(r for r in rows if r["kind"] in ("unattributed", "model"))
    model = next(r for r in out if r["kind"] == "model")
    key = "net_energy_per_inference_mj" if idle_w is not None else "energy_per_inference_mj"
    denom = model[key]
    for r in out:
        ok = math.isfinite(denom) and abs(denom) > 1e-9 * max(abs(model["energy_per_inference_mj"]), 1e-300)
        r["energy_pct"] = r[key] / denom * 100 if ok else math.nan
        r.setdefault("runner", "")
    meta = dict(report.meta)
    lat_model = model["latency_ms"]
    ops_meta = dict(ops_meta, op_sites=len(op_rows),
                    unattributed_latency_share=(un["latency_ms"] / lat_model if lat_model else math.nan),
                    unattributed_latency_share_before=(next(r for r in report.rows if r["kind"] == "unattributed")
                                                       ["latency_ms"] / lat_model if lat_model else math.nan))
    meta["ops"] = ops_meta
    return Report(rows=out, windows=list(report.windows) + op_windows, meta=meta,
                  samples={"t_ns": report.samples_t_ns, "power_w": report.samples_power_w}, cycles=report.cycles,
                  attribution_t_ns=report.attribution_t_ns)


# ---- in situ ------------------------------------------------------------------------------------
def insitu_op_rows(report: Any, stamps: Any, op_calls: Optional[Sequence[Any]] = None) -> Any:
    """Splits an in-situ report's ``(unattributed)`` with the op observer's stamps.

    Parameters
    ----------
    report : Report
        From ``LayerProfiler(mode="in-situ").profile``, run while ``stamps`` were recorded
        (the observer on the thread that ran the forwards).
    stamps : edgepower.torch_native.OpStamps
        The observer's events (its outermost ops are used).
    op_calls : list of OpCall, optional
        From :func:`edgepower.op_capture.capture_op_calls`: names the module of each op row.

    Returns
    -------
    Report
    """
    cy = report.cycles
    if cy is None or report.attribution_t_ns is None:
        raise ValueError("insitu_op_rows needs an in-situ report (LayerProfiler(mode='in-situ')); for isolation "
                         "reports use profile_ops_isolated")
    w = stamps.windows(0)
    op, o0, o1 = w["op"], w["t0_ns"], w["t1_ns"]
    names = w["names"]
    m0 = np.asarray(cy["model_t0_ns"], dtype=np.int64)
    m1 = np.asarray(cy["model_t1_ns"], dtype=np.int64)
    t0 = np.asarray(cy["t0_ns"], dtype=np.int64)
    t1 = np.asarray(cy["t1_ns"], dtype=np.int64)
    rounds_of = np.asarray(cy["round"])
    labels = list(cy["labels"])
    if o0.shape[0] == 0 or m0.shape[0] == 0:
        raise ValueError("no op stamps fall inside the report's forwards: was the observer running on the thread "
                         "that ran the profile, during profile()?")
    # Which forward holds each op, and is it inside a layer window?
    c = np.searchsorted(m0, o0, side="right") - 1
    in_model = (c >= 0) & (o1 <= m1[np.maximum(c, 0)])
    valid = t0 >= 0
    lt0, lt1 = t0[valid], t1[valid]
    lsite = np.nonzero(valid)[1]
    order = np.argsort(lt0, kind="stable")
    lt0, lt1, lsite = lt0[order], lt1[order], lsite[order]
    j = np.searchsorted(lt0, o0, side="right") - 1
    in_layer = (j >= 0) & (o1 <= lt1[np.maximum(j, 0)])
    free = np.flatnonzero(in_model & ~in_layer)
    fc, fop, f0, f1 = c[free], op[free], o0[free], o1[free]
    # The layer that finished last before each op (for placing its row); -1: none in this forward.
    prev = np.searchsorted(np.sort(lt1), f0, side="right") - 1
    lt1_sorted_site = lsite[np.argsort(lt1, kind="stable")]
    lt1_sorted = np.sort(lt1)
    # Occurrence index of each op name within its forward -> the call site key.
    keys: List[str] = []
    count: Dict[Tuple[int, int], int] = {}
    for cc, oo in zip(fc.tolist(), fop.tolist()):
        k = count.get((cc, oo), 0)
        count[(cc, oo)] = k + 1
        keys.append(f"{names[oo]}#{k}")
    # Samples -> op windows (free ops never overlap each other or a layer).
    ta = report.attribution_t_ns
    power = report.samples_power_w
    cnt, sums, owner = _core.assign_samples(ta, power, f0, f1) if f0.shape[0] else (np.zeros(0), np.zeros(0), None)
    rounds = int(report.meta.get("method", {}).get("rounds") or (int(rounds_of.max()) + 1 if rounds_of.size else 1))
    idle_w = report.meta.get("idle_power_w")
    uniq = list(dict.fromkeys(keys))  # first-appearance (execution) order
    idx = {k: i for i, k in enumerate(uniq)}
    kid = np.array([idx[k] for k in keys], dtype=np.int64)
    fr = rounds_of[fc]
    dur = (f1 - f0).astype(np.float64) * 1e-9
    n_k = len(uniq)
    calls = np.zeros((rounds, n_k))
    tsum = np.zeros((rounds, n_k))
    scount = np.zeros((rounds, n_k))
    ssum = np.zeros((rounds, n_k))
    np.add.at(calls, (fr, kid), 1)
    np.add.at(tsum, (fr, kid), dur)
    np.add.at(scount, (fr, kid), cnt)
    np.add.at(ssum, (fr, kid), sums)
    pooled = ssum.sum(axis=1) / np.maximum(scount.sum(axis=1), 1)
    pooled[scount.sum(axis=1) == 0] = math.nan
    # Module of each op row, from a capture whose free-op sequence matches the first forward's.
    module_of: Dict[str, str] = {}
    if op_calls:
        seq = [(a, call.parent) for call in op_calls for a in (call.aten_ops or [call.op])]
        first = [keys[i] for i in np.flatnonzero(fc == fc.min())] if fc.size else []
        if [s[0] for s in seq] == [k.rsplit("#", 1)[0] for k in first]:
            module_of = {k: p for k, (_, p) in zip(first, seq)}
        else:
            log.info("insitu_op_rows: the captured op calls do not match the stamped forward; no module names")
    launch = bool(getattr(stamps, "launch_times", False))
    op_rows, op_pr, after, windows = [], {}, {}, []
    sensor, estimated = report.meta.get("sensor", ""), bool(report.meta.get("estimated", False))
    for i, key in enumerate(uniq):
        sel = kid == i
        first = int(np.flatnonzero(sel)[0])
        p = int(prev[first])
        after[key] = labels[int(lt1_sorted_site[p])] if p >= 0 and lt1_sorted[p] >= m0[fc[first]] else ""
        pr: Dict[str, Any] = {k: np.full(rounds, math.nan) for k in _KEYS}
        borrowed = []
        for r in range(rounds):
            n = calls[r, i]
            if n == 0:
                continue
            mean_w = ssum[r, i] / scount[r, i] if scount[r, i] else pooled[r]
            if not scount[r, i]:
                borrowed.append(r)
            t = tsum[r, i]
            e = mean_w * t
            pr["latency_s"][r], pr["gross_j"][r] = t / n, e / n
            pr["net_j"][r] = (mean_w - idle_w) * t / n if idle_w is not None else math.nan
            pr["window_s"][r], pr["energy_j"][r], pr["calls"][r], pr["samples"][r] = t, e, n, scount[r, i]
            windows.append(dict(label=key, module=module_of.get(key, ""), call=int(key.rsplit("#", 1)[1]), round=r,
                                kind=OP_KIND, t0_ns=int(f0[sel][fr[sel] == r].min()),
                                t1_ns=int(f1[sel][fr[sel] == r].max()), calls=int(n), duration_s=t, energy_j=e,
                                num_samples=int(scount[r, i]), mean_power_w=mean_w, reason=""))
        note = f"in situ: op stamped by edgepower._torch, {int(scount[:, i].sum())} readings attributed"
        if borrowed:
            note += (f"; no reading fell in it in round(s) {', '.join(map(str, borrowed))}: power there is the mean of "
                     "all non-module ops' readings of that round")
        if launch:
            note += "; CUDA: stamps are kernel launch times, not GPU execution"
        after_lab = after[key]
        note += f"; runs after {after_lab}" if after_lab else "; runs before the first layer"
        op_pr[key] = pr
        op_rows.append(_op_row(key, module_of.get(key, ""), int(key.rsplit("#", 1)[1]), "", pr, idle_w, sensor,
                               estimated, note))
    meta = {"mode": "in-situ", "source": "edgepower._torch op observer (RecordFunction, outermost ops)",
            "stamps": stamps.clock, "ops_stamped_in_forwards": int(in_model.sum()),
            "ops_outside_layers": int(free.shape[0]), "dropped_events": int(getattr(stamps, "dropped", 0)),
            "unattributed_is": "Python and hooks between the ops"}
    return _with_ops(report, op_rows, op_pr, after, windows, meta)


# ---- isolation ----------------------------------------------------------------------------------
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
                     progress: Optional[Callable[[str, int, int], None]] = None) -> Tuple[List[Dict[str, Any]],
                                                                                        Dict[str, Any]]:
    """Measures each op call alone in windows on the monitor (running), in shuffled rounds.

    An op that changes its input in place is restored from the capture before every call and
    the restore copies alone are measured in a window of their own (kind ``restore``) to be
    subtracted. Returns (windows, {label: RunnerChoice}).
    """
    import torch

    from .runners import PythonLoop, choose_runner, tensor_leaves

    if not monitor.running:
        raise ValueError("measure_op_calls needs a running PowerMonitor (the one the profile used)")
    timeline = monitor.timeline
    target_ns = int(round(target_s * 1e9))
    loops: Dict[str, Any] = {}
    choices: Dict[str, Any] = {}
    windows: List[Dict[str, Any]] = []
    try:
        with torch.inference_mode():
            for c in calls:
                c.prepare()
                c.run()
                c.inplace = c.mutated()
                c.restore()
                fn = (lambda c=c: (c.restore(), c.run())) if c.inplace else c.run
                lat = _latency_estimate(fn)
                a, k = c.work()
                loop, choice = choose_runner(c.as_module(), tensor_leaves(a, k), {}, lat, native=native,
                                             inplace=bool(c.inplace), python_fn=fn)
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
                        windows.append(dict(label=c.label, module=c.parent, call=int(c.label.rsplit("#", 1)[1]),
                                            round=r, kind=kind, t0_ns=w.t0_ns, t1_ns=w.t1_ns, calls=w.calls,
                                            runner=getattr(loop, "name", "python")))
    finally:
        for c in calls:
            c.release()
    if windows:
        monitor.wait_for_sample_after(max(w["t1_ns"] for w in windows))
    for w in windows:
        m = monitor.measure(w["t0_ns"], w["t1_ns"], name=w["label"])
        w.update(duration_s=(w["t1_ns"] - w["t0_ns"]) * 1e-9, energy_j=m.energy_j, num_samples=m.num_samples,
                 reason=m.reason)
    return windows, choices


def isolation_op_rows(report: Any, calls: Sequence[Any], windows: List[Dict[str, Any]],
                      choices: Dict[str, Any]) -> Any:
    """An isolation report with one row per measured op call (from :func:`measure_op_calls`)."""
    from .op_capture import shapes

    if report.cycles is not None:
        raise ValueError("isolation_op_rows needs an isolation report; in-situ reports use insitu_op_rows")
    rounds = int(report.meta.get("method", {}).get("rounds") or 1)
    idle_w = report.meta.get("idle_power_w")
    sensor, estimated = report.meta.get("sensor", ""), bool(report.meta.get("estimated", False))
    op_rows, op_pr, after = [], {}, {}
    for c in calls:
        pr = per_call_rounds(windows, c.label, rounds, idle_w)
        ch = choices.get(c.label)
        runner = ch.name if ch is not None else "python"
        note = f"isolated op call ({c.name}{', ATen ' + ' + '.join(c.aten_ops) if c.aten_ops else ''}); runner {runner}"
        if ch is not None and ch.why:
            note += f": {ch.why}"
        if c.inplace:
            note += "; changes its input in place: input restored before every call, restore cost subtracted"
        if pr["reasons"]:
            note += "; " + "; ".join(pr["reasons"])
        row = _op_row(c.label, c.parent, int(c.label.rsplit("#", 1)[1]), shapes(c.args, c.kwargs), pr, idle_w,
                      sensor, estimated, note, runner)
        row["inplace"] = bool(c.inplace)
        op_rows.append(row)
        op_pr[c.label] = pr
        after[c.label] = c.prev_layer
    used: Dict[str, int] = {}
    for ch in choices.values():
        used[ch.name] = used.get(ch.name, 0) + 1
    meta = {"mode": "isolation", "source": "torch calls outside the layers captured with a TorchFunctionMode, each "
                                           "measured alone", "runners": used,
            "compile_s": float(sum(ch.info.get("compile_s", 0.0) for ch in choices.values())),
            "unattributed_is": "what isolating layers and ops changes, and Python between them"}
    return _with_ops(report, op_rows, op_pr, after, windows, meta)


def profile_ops_isolated(report: Any, model: Any, args: Sequence[Any], kwargs: Optional[Dict[str, Any]],
                         monitor: Any, layer_names: Sequence[str], *, native: str = "auto",
                         progress: Optional[Callable[[str, int, int], None]] = None) -> Any:
    """Captures the op calls outside ``layer_names``, measures each alone on ``monitor`` with
    the report's rounds, target window, minimum repeats, warm-up and seed, and returns the
    report with op rows (:func:`isolation_op_rows`)."""
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
