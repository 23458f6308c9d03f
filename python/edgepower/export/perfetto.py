"""A report as a Chrome trace-event JSON file, for Perfetto (ui.perfetto.dev) and chrome://tracing.

What the trace holds (one process, ``edgepower: <model>``):

- **Slices**: every measured window, one thread track per mode and round (``isolation round 0``):
  a call site's repeated calls (name = its label, category ``layer``), the restore copies of an
  in-place layer (``<label> (restore)``, category ``restore``) and the whole model (``(model)``).
  In-situ reports that still hold their per-forward marks (the report
  :meth:`~edgepower.LayerProfiler.profile` returned; one read back from JSON does not) give
  one ``(model)`` slice per forward with the call sites nested in it, inside one ``round r``
  slice per round. Slices that would overlap without nesting go to an extra track of the same
  round (``... (lane 2)``), so every track nests strictly, as both viewers require.
  Each slice's args carry its figures (calls, energy, samples, the reason when it has none).
- **Counters**: power per rail, one counter track per rail (``<rail> power``, series ``W``), and
  the board total (``total power``) when no rail is the total: every sample of the run, in watts.
  A report read back from JSON has no samples, hence no counters.
- **Instants**: the idle baseline (at the end of its measurement when the report knows it, else at
  the start of the trace), the idle measured again after the last window (when it was) and, when the provenance has them (``meta["identification"]``), the
  sensor identification steps.

Timestamps are microseconds (the format's unit) of CLOCK_MONOTONIC from the earliest event;
``otherData.origin_ns`` holds that origin, so ``ts * 1000 + origin_ns`` is the native timestamp.

The writer keeps to what Perfetto's JSON importer reads without loss: the top-level object has
only ``otherData`` and ``traceEvents``; every event has ``ts`` written as a plain decimal (no
exponent), no array-valued field (arrays sit inside ``args``), no NaN, and no ``\\u`` escapes
(names are written as UTF-8).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .common import finite, jsonable

PID = 1
#: Names of the thread tracks' owner (the process) and of the counter series.
COUNTER_UNIT = "W"


def _us(t_ns: int, origin_ns: int) -> float:
    # Microseconds with nanosecond resolution; rounding keeps repr() free of exponents.
    return round((int(t_ns) - origin_ns) / 1000.0, 3)


def _args(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in jsonable(d).items() if v is not None and v != ""}


class _Lanes:
    """Thread tracks of one round: a slice goes to the first lane where it nests strictly (it
    starts after the lane's open slices end, or ends inside the innermost one)."""

    def __init__(self, name: str, tids: List[Tuple[int, str]]):
        self.name = name
        self.tids = tids
        self.stacks: List[List[int]] = []
        self.ids: List[int] = []

    def place(self, t0: int, t1: int) -> int:
        for stack, tid in zip(self.stacks, self.ids):
            while stack and stack[-1] <= t0:
                stack.pop()
            if not stack or t1 <= stack[-1]:
                stack.append(t1)
                return tid
        tid = len(self.tids) + 1
        self.tids.append((tid, self.name if not self.stacks else f"{self.name} (lane {len(self.stacks) + 1})"))
        self.stacks.append([t1])
        self.ids.append(tid)
        return tid


Slice = Tuple[Tuple[int, str], int, int, str, str, Dict[str, Any]]


def _slice_list(report: Any) -> List[Slice]:
    """((round, track name), t0_ns, t1_ns, name, category, args) of every slice, in no particular
    order."""
    mode = str((report.meta.get("method") or {}).get("mode") or "isolation")
    out: List[Slice] = []
    cycles = report.cycles
    if cycles is not None:
        t0, t1 = np.asarray(cycles["t0_ns"], dtype=np.int64), np.asarray(cycles["t1_ns"], dtype=np.int64)
        m0, m1 = np.asarray(cycles["model_t0_ns"], dtype=np.int64), np.asarray(cycles["model_t1_ns"], dtype=np.int64)
        rounds = np.asarray(cycles["round"])
        labels, types = list(cycles["labels"]), list(cycles.get("types") or [""] * len(cycles["labels"]))
        for w in report.window_records:
            if w.kind == "model":
                out.append(((w.round, f"{mode} round {w.round}"), w.t0_ns, w.t1_ns, f"round {w.round}", "round",
                            {"forwards": w.forwards, "energy_j": w.energy_j, "num_samples": w.num_samples,
                             "mean_power_w": w.mean_power_w, "reason": w.reason}))
        for c in range(m0.shape[0]):
            r = int(rounds[c]) if c < rounds.shape[0] else -1
            track = (r, f"{mode} round {r}" if r >= 0 else mode)
            out.append((track, int(m0[c]), int(m1[c]), "(model)", "model", {"forward": c}))
            for i in np.flatnonzero(t0[c] >= 0).tolist():
                out.append((track, int(t0[c, i]), int(t1[c, i]), labels[i], "layer",
                            {"forward": c, "type": types[i]}))
        return out
    for w in report.window_records:
        if mode == "in-situ" and w.kind != "model":
            continue  # a round's share, not a time span: only the per-forward marks are slices
        name = w.label + (" (restore)" if w.kind == "restore" else "")
        calls = max(int(w.calls), 1)
        args = {"module": w.module, "call": w.call, "round": w.round, "calls": w.calls,
                "duration_s": w.duration_s, "energy_j": w.energy_j,
                "energy_per_call_mj": w.energy_j / calls * 1e3 if finite(w.energy_j) else None,
                "avg_power_w": w.energy_j / w.duration_s if finite(w.energy_j) and w.duration_s else None,
                "num_samples": w.num_samples, "reason": w.reason, "retries": w.retries or None,
                "edge_gap_ms": w.edge_gap_ms}
        out.append(((w.round, f"{mode} round {w.round}"), w.t0_ns, w.t1_ns, name, w.kind, args))
    return out


def _identification(meta: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The identification steps of the provenance: ``meta["identification"]`` as a list of steps,
    or a dict with a ``steps`` list; a step is a dict with ``t_ns`` (or ``t0_ns``) and a name
    (``name``, ``label`` or ``step``)."""
    ident = meta.get("identification")
    steps = ident.get("steps") if isinstance(ident, dict) else ident
    if not isinstance(steps, (list, tuple)):
        return []
    return [s for s in steps if isinstance(s, dict) and finite(s.get("t_ns", s.get("t0_ns")))]


def trace_events(report: Any) -> Dict[str, Any]:
    """The trace as a dict (``otherData``, ``traceEvents``); :func:`to_perfetto` writes it."""
    meta = report.meta
    slices = _slice_list(report)
    t = report.samples_t_ns
    rails: List[str] = list((meta.get("monitor") or {}).get("rails") or [])
    rail_power = getattr(report, "samples_rail_power_w", None)
    idle_t = (meta.get("idle_t_ns") or [None, None])[-1]
    steps = _identification(meta)
    starts = [s[1] for s in slices] + ([int(t[0])] if t.shape[0] else []) + ([int(idle_t)] if finite(idle_t) else [])
    starts += [int(x) for x in (meta.get("idle_after_t_ns") or [])[-1:] if finite(x)]
    starts += [int(s.get("t_ns", s.get("t0_ns"))) for s in steps]
    origin = min(starts) if starts else 0

    model = meta.get("model", "model")
    mode = str((meta.get("method") or {}).get("mode") or "isolation")
    tag = " ESTIMATED" if report.estimated else ""
    events: List[Dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "ts": 0, "pid": PID, "tid": 0,
         "args": {"name": f"edgepower: {model} ({mode}, sensor {report.sensor}{tag})"}},
    ]
    tids: List[Tuple[int, str]] = []
    lanes: Dict[Tuple[int, str], _Lanes] = {}
    body: List[Dict[str, Any]] = []
    # Longest first at equal starts, so a parent is placed before the slices it holds.
    for track, t0, t1, name, cat, args in sorted(slices, key=lambda s: (s[0], s[1], -s[2])):
        lane = lanes.setdefault(track, _Lanes(track[1], tids))
        tid = lane.place(int(t0), int(t1))
        body.append({"name": name, "cat": cat, "ph": "X", "ts": _us(t0, origin),
                     "dur": round((int(t1) - int(t0)) / 1000.0, 3), "pid": PID, "tid": tid, "args": _args(args)})
    for tid, name in tids:
        events.append({"name": "thread_name", "ph": "M", "ts": 0, "pid": PID, "tid": tid, "args": {"name": name}})
        events.append({"name": "thread_sort_index", "ph": "M", "ts": 0, "pid": PID, "tid": tid,
                       "args": {"sort_index": tid}})
    events += body

    idle_w = meta.get("idle_power_w")
    if finite(idle_w):
        at = int(idle_t) if finite(idle_t) else origin
        events.append({"name": f"idle baseline {idle_w:.4g} W", "cat": "baseline", "ph": "i", "s": "p",
                       "ts": _us(at, origin), "pid": PID, "tid": 0,
                       "args": _args({"idle_power_w": idle_w, "source": meta.get("idle_source"),
                                      "window_ns": meta.get("idle_t_ns")})})
    after_t = (meta.get("idle_after_t_ns") or [None, None])[-1]
    after_w = (meta.get("idle") or {}).get("after_w")
    if finite(after_t) and finite(after_w):  # the idle measured again after the last window
        events.append({"name": f"idle after profiling {after_w:.4g} W", "cat": "baseline", "ph": "i", "s": "p",
                       "ts": _us(int(after_t), origin), "pid": PID, "tid": 0,
                       "args": _args({"idle_power_w": after_w, "window_ns": meta.get("idle_after_t_ns")})})
    for s in steps:
        name = str(s.get("name") or s.get("label") or s.get("step") or "identification step")
        events.append({"name": name, "cat": "identification", "ph": "i", "s": "p",
                       "ts": _us(int(s.get("t_ns", s.get("t0_ns"))), origin), "pid": PID, "tid": 0,
                       "args": _args({k: v for k, v in s.items() if not isinstance(v, (list, dict))})})

    events += list(_counters(t, rails, rail_power, report.samples_power_w, meta, origin))
    other = {"producer": "edgepower", "format": "chrome trace-event JSON", "clock": "CLOCK_MONOTONIC",
             "origin_ns": str(origin), "model": str(model), "mode": mode, "sensor": report.sensor,
             "estimated": str(bool(report.estimated)).lower()}
    return {"otherData": other, "traceEvents": events}


def _counters(t: np.ndarray, rails: Sequence[str], rail_power: Optional[np.ndarray], total: np.ndarray,
              meta: Dict[str, Any], origin: int) -> Iterable[Dict[str, Any]]:
    if t.shape[0] == 0:
        return
    ts = np.round((t - origin) / 1000.0, 3).tolist()
    series: List[Tuple[str, np.ndarray]] = []
    # The board total is a rail of its own (Jetson's VDD_IN) or the sum of the rails.
    total_rail = (meta.get("monitor") or {}).get("total_rail")
    total_is_rail = total_rail in rails
    if rail_power is not None and rail_power.ndim == 2 and rail_power.shape == (t.shape[0], len(rails)) and rails:
        series += [(f"{r} power", rail_power[:, i]) for i, r in enumerate(rails)]
        if not total_is_rail and len(rails) > 1 and total.shape == t.shape:
            series.append(("total power", total))
    elif total.shape == t.shape:
        series.append((f"{total_rail} power" if total_is_rail else "total power", total))
    for name, values in series:
        v = values.tolist()
        for i in range(len(v)):
            if math.isfinite(v[i]):
                yield {"name": name, "ph": "C", "ts": ts[i], "pid": PID, "args": {COUNTER_UNIT: v[i]}}


def to_perfetto(report: Any, path: str) -> str:
    """Writes the report as Chrome trace-event JSON (see the module docstring) to ``path``, which
    Perfetto (ui.perfetto.dev, ``trace_processor``) and chrome://tracing open. Returns the path.

    Parameters
    ----------
    report : Report
        A profile; counters need its raw samples (the Report that ``profile()`` returned).
    path : str
        The file to write (``.json``); its folder must exist.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot write the trace {path!r}: folder {parent!r} does not exist")
    trace = trace_events(report)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(trace, f, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return path


__all__ = ["to_perfetto", "trace_events"]
