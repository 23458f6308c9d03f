"""Rows for the torch ops a model runs outside its selected layers, in both profiling modes.

``(unattributed)`` is the whole model minus the layers: residual adds, ``flatten``,
functional attention, view/transpose glue. This module splits it into one row per op call
site (``aten::add#3``: the fourth ``aten::add`` outside the layers in a forward; labels as in
:mod:`.op_capture`) and leaves in ``(unattributed)`` only what no op accounts for.

Entry points (each returns a new Report):

- :func:`insitu_op_rows` (in-situ reports, from the op observer's stamps of
  ``edgepower._torch``)::

      with torch_native.OpObserver(max_depth=1) as obs:
          report = LayerProfiler(model, mode="in-situ", ...).profile(x)
      report = insitu_op_rows(report, obs.stamps())

  Every outermost ATen op stamped inside a forward and outside every layer window is an op
  window. A reading attributed (by its attribution time, as the layers' are) to an op window
  is that op's; per round an op's latency is its stamped run time per forward and its energy
  its mean attributed power times that time (the in-situ layers' rule). An op call site that
  got no reading in a round takes the mean power of all the round's op readings, else the
  run's, else the model's in that round (said in its note); one absent from a round counts in
  ``(unattributed)`` with its mean over the other rounds. With ``op_calls``
  (:func:`.op_capture.capture_op_calls`) rows also name their module.
- :func:`isolation_op_rows` (isolation reports, from windows of each captured op call run
  alone: :func:`.op_isolation.measure_op_calls`, or the one-call
  :func:`.op_isolation.profile_ops_isolated`).

Both: op rows (kind ``op``, type ``op``, the enclosing module in ``module``) are inserted
after the layer that ran before them; ``(unattributed)`` is recomputed per round as model -
layers - ops; shares are recomputed over the ``ok`` layer, op and ``(unattributed)`` rows;
isolation rows say which loop measured them (``runner``, reason in ``note``).
``meta["ops"]`` records the method, the op count, the ``(unattributed)`` share of latency
before and after, and in situ what the stamps are (CUDA: launch times).
"""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._native import core as _core
from ..energy.repeats import SERIES, PerRound, difference, material, mean_ci, per_round
from ..report import LayerRow, Report, Window
from .capture import MODEL_LABEL
from .precision import rounds_in
from .rows import below_restore_noise, resolution

log = logging.getLogger("edgepower")

OP_KIND = "op"

__all__ = ["OP_KIND", "insitu_op_rows", "isolation_op_rows", "op_row"]


def op_row(label: str, module: str, call: Optional[int], kind: str, shapes: str, pr: PerRound,
           idle_w: Optional[float], sensor: str, estimated: bool, note: str, runner: str = "",
           inplace: bool = False) -> LayerRow:
    """A row from per-round figures (the figure columns as :mod:`.rows` computes them)."""
    lat, lat_ci, n_ok = mean_ci(pr.latency_s)
    gross, gross_ci, _ = mean_ci(pr.gross_j)
    net, net_ci, _ = mean_ci(pr.net_j)
    head, head_ci = (net, net_ci) if idle_w is not None else (gross, gross_ci)
    fin = {k: getattr(pr, k)[np.isfinite(getattr(pr, k))] for k in ("window_s", "energy_j", "calls", "samples")}
    status = "no data" if n_ok == 0 else "no energy" if not math.isfinite(gross) else resolution(net, net_ci)
    restore_note = below_restore_noise(lat, lat_ci) if inplace and status not in ("no data", "no energy") else ""
    if restore_note:
        status, note = "not resolved", f"{note}; {restore_note}"
    return LayerRow(
        layer=label, module=module, call=call, kind=kind, type="op" if kind == OP_KIND else "", params=0,
        input_shapes=shapes, rounds=int(n_ok), repeats=int(fin["calls"].sum()),
        window_s=float(fin["window_s"].mean()) if fin["window_s"].size else math.nan,
        total_time_s=float(fin["window_s"].sum()) if fin["window_s"].size else math.nan,
        energy_total_j=float(fin["energy_j"].sum()) if fin["energy_j"].size else math.nan,
        latency_ms=lat * 1e3, latency_ci95_ms=lat_ci * 1e3, energy_per_inference_mj=gross * 1e3,
        net_energy_per_inference_mj=net * 1e3, ci95_mj=head_ci * 1e3,
        ci95_pct=abs(head_ci / head) * 100 if material(head, gross) else math.nan,
        net_energy_upper_mj=max(net + net_ci, 0.0) * 1e3 if math.isfinite(net + net_ci) else math.nan,
        avg_power_w=gross / lat if lat and math.isfinite(lat) else math.nan,
        net_power_w=net / lat if lat and math.isfinite(lat) else math.nan,
        idle_power_w=idle_w if idle_w is not None else math.nan, num_samples=int(fin["samples"].sum()),
        energy_pct=math.nan, inplace=bool(inplace), status=status, error="", note=note, sensor=sensor,
        estimated=bool(estimated), runner=runner)


def _rounds(report: Report) -> int:
    """The rounds the windows span: the planned ones and any extra ones (profile/precision.py)."""
    return rounds_in(report.window_records, int(report.meta.get("method", {}).get("rounds") or 1))


def _with_ops(report: Report, ops: List[LayerRow], op_pr: Dict[str, PerRound], after: Dict[str, str],
              op_windows: List[Window], ops_meta: Dict[str, Any]) -> Report:
    """The report with op rows placed after their preceding layer, (unattributed) = model -
    layers - ops per round, shares over the ok layer/op/(unattributed) rows."""
    rounds, idle_w = _rounds(report), report.meta.get("idle_power_w")
    rows = list(report.records)
    ok_layers = [r.layer for r in rows if r.kind == "layer" and r.status != "failed"]
    parts = [per_round(report.window_records, MODEL_LABEL, rounds, idle_w)]
    parts += [per_round(report.window_records, lab, rounds, idle_w) for lab in ok_layers]
    parts += [op_pr[r.layer] for r in ops]
    old_un = next(r for r in rows if r.kind == "unattributed")
    un = op_row(old_un.layer, "", None, "unattributed", "", difference(parts, [1.0] + [-1.0] * (len(parts) - 1)),
                idle_w, old_un.sensor, old_un.estimated,
                f"whole model minus the layers and the {len(ops)} op call sites outside them (rows of kind 'op'): "
                f"{ops_meta.get('unattributed_is', 'what no op accounts for')}")
    for key in ("repeats", "num_samples"):
        setattr(un, key, 0)
    for key in ("window_s", "total_time_s", "energy_total_j", "avg_power_w"):
        setattr(un, key, math.nan)
    if old_un.status == "failed":
        un.status, un.error = old_un.status, old_un.error
    # Each op after the row of the layer that ran before it (after that module's total).
    pending: Dict[str, List[LayerRow]] = {}
    for r in ops:
        pending.setdefault(after.get(r.layer, ""), []).append(r)
    out: List[LayerRow] = pending.pop("", [])
    last_call = {r.module: r.layer for r in rows if r.kind == "layer"}
    for i, r in enumerate(rows):
        if r.kind in ("unattributed", "model"):
            continue
        out.append(r)
        nxt = rows[i + 1] if i + 1 < len(rows) else None
        if r.kind == "layer" and nxt is not None and nxt.kind == "module total" and nxt.module == r.module:
            continue  # its ops come after the module total
        key = last_call.get(r.module) if r.kind == "module total" else r.layer if r.kind == "layer" else None
        if key is not None:
            out.extend(pending.pop(key, []))
    for rest in pending.values():  # placed after a layer that has no row: at the end
        out.extend(rest)
    out += [un] + [r for r in rows if r.kind == "model"]
    isolation = report.cycles is None
    key = "net_energy_per_inference_mj" if idle_w is not None else "energy_per_inference_mj"
    part = [r for r in out if r.kind in ("layer", OP_KIND, "unattributed") and r.status == "ok"]
    total = sum(getattr(r, key) for r in part if math.isfinite(getattr(r, key)))
    model = next(r for r in out if r.kind == "model")
    for r in out:
        r.energy_pct = math.nan
        if isolation and r.kind in ("layer", "model") and not r.runner:
            r.runner = "python"  # the profiler's isolation loop
    if material(total, model.energy_per_inference_mj):
        for r in part:
            r.energy_pct = getattr(r, key) / total * 100
    lat = model.latency_ms
    meta = dict(report.meta)
    meta["ops"] = dict(ops_meta, op_sites=len(ops),
                       unattributed_latency_share=un.latency_ms / lat if lat else math.nan,
                       unattributed_latency_share_before=old_un.latency_ms / lat if lat else math.nan)
    return Report(rows=out, windows=list(report.window_records) + op_windows, meta=meta,
                  samples={"t_ns": report.samples_t_ns, "power_w": report.samples_power_w}, cycles=report.cycles,
                  attribution_t_ns=report.attribution_t_ns)


# ---- in situ ------------------------------------------------------------------------------------
def _free_ops(cy: Dict[str, Any], w: Dict[str, Any]) -> Tuple[np.ndarray, ...]:
    """Indices of the stamped ops inside a forward and outside every layer window, their forward,
    and per op the site index of the layer that ended last before it (-1: none in its forward)."""
    o0, o1 = w["t0_ns"], w["t1_ns"]
    m0 = np.asarray(cy["model_t0_ns"], dtype=np.int64)
    m1 = np.asarray(cy["model_t1_ns"], dtype=np.int64)
    t0 = np.asarray(cy["t0_ns"], dtype=np.int64)
    t1 = np.asarray(cy["t1_ns"], dtype=np.int64)
    c = np.searchsorted(m0, o0, side="right") - 1
    in_model = (c >= 0) & (o1 <= m1[np.maximum(c, 0)])
    valid = t0 >= 0
    lt0, lt1, lsite = t0[valid], t1[valid], np.nonzero(valid)[1]
    by0 = np.argsort(lt0, kind="stable")
    j = np.searchsorted(lt0[by0], o0, side="right") - 1
    in_layer = (j >= 0) & (o1 <= lt1[by0][np.maximum(j, 0)])
    free = np.flatnonzero(in_model & ~in_layer)
    by1 = np.argsort(lt1, kind="stable")
    p = np.searchsorted(lt1[by1], o0[free], side="right") - 1
    prev = np.where((p >= 0) & (lt1[by1][np.maximum(p, 0)] >= m0[c[free]]), lsite[by1][np.maximum(p, 0)], -1)
    return free, c[free], prev, int(in_model.sum())


def _filled(pr: PerRound) -> PerRound:
    """An op's per-round figures for ``(unattributed)`` = model - layers - ops: a round in which
    it had no call outside a layer (its stamps dropped by a starved observer, or the op ran inside
    a layer's window there) takes its mean over the other rounds, so the rows still add up to the
    model exactly. The op's own row keeps only the rounds it was seen in."""
    out = PerRound(**{k: getattr(pr, k).copy() for k in SERIES})
    for k in ("latency_s", "gross_j", "net_j"):
        v = getattr(out, k)
        seen = np.isfinite(v)
        if seen.any() and not seen.all():
            v[~seen] = v[seen].mean()
    return out


def insitu_op_rows(report: Report, stamps: Any, op_calls: Optional[Sequence[Any]] = None) -> Report:
    """Splits an in-situ report's ``(unattributed)`` with the op observer's stamps.

    Parameters
    ----------
    report : Report
        From ``LayerProfiler(mode="in-situ").profile``, run while ``stamps`` were recorded
        (the observer on the thread that ran the forwards).
    stamps : edgepower.torch_native.OpStamps
        The observer's events (its outermost ops are used).
    op_calls : list of OpCall, optional
        From :func:`.op_capture.capture_op_calls`: names the module of each op row.

    Returns
    -------
    Report
    """
    cy = report.cycles
    if cy is None or report.attribution_t_ns is None:
        raise ValueError("insitu_op_rows needs an in-situ report (LayerProfiler(mode='in-situ')); for isolation "
                         "reports use isolation_op_rows / profile_ops_isolated")
    w = stamps.windows(0)
    if w["t0_ns"].shape[0] == 0 or len(cy["model_t0_ns"]) == 0:
        raise ValueError("no op stamps fall inside the report's forwards: run the observer on the thread that runs "
                         "profile(), around profile()")
    free, fc, prev, n_in_model = _free_ops(cy, w)
    names, labels = w["names"], list(cy["labels"])
    fop, f0, f1 = w["op"][free], w["t0_ns"][free], w["t1_ns"][free]
    if free.shape[0] == 0:
        raise ValueError("every stamped op ran inside a layer: (unattributed) holds no op to split off")
    keys: List[str] = []
    seen: Dict[Tuple[int, int], int] = {}
    for cc, oo in zip(fc.tolist(), fop.tolist()):
        k = seen.get((cc, oo), 0)
        seen[(cc, oo)] = k + 1
        keys.append(f"{names[oo]}#{k}")
    # Free ops overlap neither each other nor a layer: one sweep assigns the readings.
    cnt, sums, _ = _core.assign_samples(report.attribution_t_ns, report.samples_power_w, f0, f1)
    rounds, idle_w = _rounds(report), report.meta.get("idle_power_w")
    uniq = list(dict.fromkeys(keys))  # execution order of the first forward
    index = {k: i for i, k in enumerate(uniq)}
    kid = np.array([index[k] for k in keys], dtype=np.int64)
    fr = np.asarray(cy["round"])[fc]
    acc = {name: np.zeros((rounds, len(uniq))) for name in ("calls", "time", "count", "sum")}
    np.add.at(acc["calls"], (fr, kid), 1)
    np.add.at(acc["time"], (fr, kid), (f1 - f0).astype(np.float64) * 1e-9)
    np.add.at(acc["count"], (fr, kid), cnt)
    np.add.at(acc["sum"], (fr, kid), sums)
    n_all = acc["count"].sum(axis=1)
    pooled = np.where(n_all > 0, acc["sum"].sum(axis=1) / np.maximum(n_all, 1), math.nan)
    # Where no op got a reading in a round (short ops, a slow sensor, or a round whose op stamps
    # the observer dropped), the next guess is every op reading of the run, then the model's
    # mean power in that round: an op with a latency and no power would leave its energy
    # averaged over fewer rounds than its latency (gross / latency off 5 W on a 5 W sensor).
    pooled_all = float(acc["sum"].sum() / n_all.sum()) if n_all.sum() > 0 else math.nan
    model_pr = per_round(report.window_records, MODEL_LABEL, rounds, None)
    with np.errstate(invalid="ignore", divide="ignore"):
        model_w = model_pr.gross_j / model_pr.latency_s
    module_of: Dict[str, str] = {}
    if op_calls:
        # Align the capture's outermost ops with the first stamped forward's, in order; the
        # stamps may hold ops the capture leaves out (aten::is_nonzero of an `if tensor:`).
        seq = [(a, call.parent) for call in op_calls for a in (call.aten_ops or [call.op])]
        j = 0
        for k in (keys[i] for i in np.flatnonzero(fc == fc.min())):
            if j < len(seq) and seq[j][0] == k.rsplit("#", 1)[0]:
                module_of[k] = seq[j][1]
                j += 1
        if j < len(seq):
            log.info("insitu_op_rows: %d of %d captured op calls not found in the stamped forward", len(seq) - j,
                     len(seq))
    launch = bool(getattr(stamps, "launch_times", False))
    mixed = bool(report.meta.get("method", {}).get("cuda_events"))
    if mixed:
        log.warning("insitu_op_rows: the layers were marked with CUDA events (GPU time) and the ops are stamped at "
                    "launch (host time); profile with sync_layers=True for op rows on one clock")
    sensor, estimated = report.meta.get("sensor", ""), bool(report.meta.get("estimated", False))
    ops, op_pr, after, windows = [], {}, {}, []
    for i, key in enumerate(uniq):
        sel = kid == i
        first = int(np.flatnonzero(sel)[0])
        after[key] = labels[int(prev[first])] if prev[first] >= 0 else ""
        pr = PerRound.empty(rounds)
        borrowed: Dict[str, List[int]] = {}
        for r in range(rounds):
            n, t, k = acc["calls"][r, i], acc["time"][r, i], acc["count"][r, i]
            if n == 0:
                continue
            if k:
                mean_w = acc["sum"][r, i] / k
            else:
                src, mean_w = next(((s_, w_) for s_, w_ in (("round", pooled[r]), ("run", pooled_all),
                                                            ("model", model_w[r])) if math.isfinite(w_)),
                                   ("none", math.nan))
                borrowed.setdefault(src, []).append(r)
            pr.latency_s[r], pr.gross_j[r] = t / n, mean_w * t / n
            pr.net_j[r] = (mean_w - idle_w) * t / n if idle_w is not None else math.nan
            pr.window_s[r], pr.energy_j[r], pr.calls[r], pr.samples[r] = t, mean_w * t, n, k
            here = sel & (fr == r)
            windows.append(Window(label=key, module=module_of.get(key, ""), call=int(key.rsplit("#", 1)[1]), round=r,
                                  kind=OP_KIND, t0_ns=int(f0[here].min()), t1_ns=int(f1[here].max()), calls=int(n),
                                  duration_s=t, energy_j=mean_w * t, num_samples=int(k), forwards=int(n),
                                  mean_power_w=float(mean_w)))
        note = f"in situ: op stamped by edgepower._torch, {int(acc['count'][:, i].sum())} readings attributed"
        said = {"round": "the mean of all non-module ops' readings of that round",
                "run": "the mean of all non-module ops' readings of the run (none in that round)",
                "model": "the model's mean power in that round (no op got a reading in the run)",
                "none": "unknown (the model got no reading either)"}
        for src, rs in borrowed.items():
            note += (f"; no reading fell in it in round(s) {', '.join(map(str, rs))}: its power there is "
                     f"{said[src]}")
        if launch:
            note += "; CUDA: stamps are kernel launch times, not GPU execution"
        if mixed:
            note += " (layers marked by CUDA events: mixed clocks, use sync_layers=True)"
        note += f"; runs after {after[key]}" if after[key] else "; runs before the first layer"
        op_pr[key] = _filled(pr)
        ops.append(op_row(key, module_of.get(key, ""), int(key.rsplit("#", 1)[1]), OP_KIND, "", pr, idle_w, sensor,
                          estimated, note))
    meta = {"mode": "in-situ", "source": "edgepower._torch op observer (RecordFunction, outermost ops)",
            "stamps": stamps.clock, "ops_stamped_in_forwards": n_in_model, "ops_outside_layers": int(free.shape[0]),
            "dropped_events": int(getattr(stamps, "dropped", 0)),
            "unattributed_is": "Python and hooks between the ops"}
    return _with_ops(report, ops, op_pr, after, windows, meta)


# ---- isolation ----------------------------------------------------------------------------------
def isolation_op_rows(report: Report, calls: Sequence[Any], windows: Sequence[Window],
                      choices: Dict[str, Any]) -> Report:
    """An isolation report with one row per op call measured alone (windows and runner choices
    from :func:`.op_isolation.measure_op_calls`)."""
    from .op_capture import shapes

    if report.cycles is not None:
        raise ValueError("isolation_op_rows needs an isolation report; in-situ reports use insitu_op_rows")
    rounds, idle_w = _rounds(report), report.meta.get("idle_power_w")
    sensor, estimated = report.meta.get("sensor", ""), bool(report.meta.get("estimated", False))
    ops, op_pr, after = [], {}, {}
    for c in calls:
        pr = per_round(windows, c.label, rounds, idle_w)
        ch = choices.get(c.label)
        runner = ch.name if ch is not None else "python"
        aten = f", ATen {' + '.join(c.aten_ops)}" if c.aten_ops else ""
        notes = [f"isolated op call ({c.name}{aten}); runner {runner}" + (f": {ch.why}" if ch is not None and ch.why
                                                                         else "")]
        if c.inplace:
            notes.append("changes its input in place: input restored before every call, restore cost subtracted")
        notes += pr.reasons
        ops.append(op_row(c.label, c.parent, int(c.label.rsplit("#", 1)[1]), OP_KIND, shapes(c.args, c.kwargs), pr,
                          idle_w, sensor, estimated, "; ".join(notes), runner, bool(c.inplace)))
        op_pr[c.label] = pr
        after[c.label] = c.prev_layer
    used: Dict[str, int] = {}
    for ch in choices.values():
        used[ch.name] = used.get(ch.name, 0) + 1
    meta = {"mode": "isolation", "source": "torch calls outside the layers (TorchFunctionMode capture), each "
                                           "measured alone", "runners": used,
            "compile_s": float(sum(ch.info.get("compile_s", 0.0) for ch in choices.values())),
            "unattributed_is": "what isolating layers and ops changes, and Python between them"}
    return _with_ops(report, ops, op_pr, after, list(windows), meta)
