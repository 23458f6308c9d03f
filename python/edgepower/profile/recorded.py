"""A per-layer Report from a recorded trace and its marks (``edgepower profile-trace``): the
profiling mode whose windows were marked on another machine.

On boards that cannot run the Python package (JetPack 4: Python 3.6, torch 1.10), the native
``edgepower-record`` samples the sensor and writes edgepower's trace CSV, and the measured
program sends marks through a named pipe (``tools/edgepower_marks.py``). On any machine with
edgepower, :func:`profile_trace` turns the trace and the marks into the same :class:`Report`
as a live profile: per call site, each marked window is one round; energy per inference is the
window's energy (trapezoid of the samples, or counter difference) over its calls; the idle
baseline is the average power of the windows named ``(idle)``; ``(model)`` windows give the
whole-model row and ``(unattributed)``. Every figure has its 95 % confidence interval over the
rounds and the report's provenance says it was recorded offline, by what, where.

Marks come from the trace's ``# mark:`` comment lines (written by edgepower-record), or from a
marks CSV passed separately (for traces written by ``edgepower monitor -o``)::

    t_ns,event,name[,calls][,type]        header; lines starting with # are comments
    1012738410988,begin,features.0,,Conv2d
    1012976613322,end,features.0,100,

``t_ns`` is CLOCK_MONOTONIC nanoseconds of the recording machine (the trace's clock),
``event`` is begin or end, ``calls`` (on the end line, default 1) the calls the window held,
``type`` (on the begin line) the layer's class.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import platform
import sys
from types import SimpleNamespace
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from .. import __version__ as _version
from ..energy.window import window_energy
from ..report import Report, Window
from ..sensors.info import board_total, total_rail_name
from ..trace import MAGIC, Trace, read_trace
# The profiler's call sites and row builder, in one place.
from .capture import MODEL_LABEL, CallSite
from .rows import build_rows, closure_stats

log = logging.getLogger("edgepower")

IDLE_LABEL = "(idle)"
MARK_PREFIX = "# mark:"
END_PREFIX = "# end:"
_MARK_FIELDS = ["t_ns", "event", "name", "calls", "type", "clock"]


class Mark(NamedTuple):
    """One mark: CLOCK_MONOTONIC ns, ``begin`` or ``end``, window name, calls (end marks; 0 when
    not given), layer class (begin marks; "" when not given), ``sender`` or ``arrival`` (who
    stamped the time), and where it was read (``file:line``)."""

    t_ns: int
    event: str
    name: str
    calls: int
    type: str
    clock: str
    where: str


class _Recorded:
    """Stands in for a module that ran on the recording machine: its parameters are not known here."""

    def parameters(self):
        return iter(())


_TYPES: Dict[str, type] = {}


def _module(type_name: str) -> _Recorded:
    # A class named after the layer's type (Conv2d), so the report's type column says it.
    name = type_name or "Recorded"
    if name not in _TYPES:
        _TYPES[name] = type(name, (_Recorded,), {"__module__": __name__})
    return _TYPES[name]()


def _mark(cells: Dict[str, str], where: str) -> Mark:
    try:
        t = int(cells["t_ns"])
    except (KeyError, ValueError):
        raise ValueError(f"{where}: t_ns must be an integer (CLOCK_MONOTONIC ns), got {cells.get('t_ns')!r}") from None
    event = (cells.get("event") or "").strip()
    if event not in ("begin", "end"):
        raise ValueError(f"{where}: event must be begin or end, got {event!r}")
    name = (cells.get("name") or "").strip()
    if not name:
        raise ValueError(f"{where}: the window name is empty")
    raw_calls = (cells.get("calls") or "").strip()
    try:
        calls = int(raw_calls) if raw_calls else 0
        if calls < 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"{where}: calls must be a positive integer, got {raw_calls!r}") from None
    return Mark(t, event, name, calls, (cells.get("type") or "").strip(), (cells.get("clock") or "sender").strip(),
                where)


def read_marks(path: str) -> List[Mark]:
    """Marks of a trace (its ``# mark:`` lines) or of a marks CSV, in file order.

    Raises
    ------
    ValueError
        A malformed line, named by file and line number.
    """
    path = os.fspath(path)
    marks: List[Mark] = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines and lines[0] == MAGIC:
        for i, line in enumerate(lines, start=1):
            if line.startswith(MARK_PREFIX):
                cells = [c.strip() for c in line[len(MARK_PREFIX):].split(",")]
                if len(cells) != len(_MARK_FIELDS):
                    raise ValueError(f"{path}:{i}: a mark line has {len(_MARK_FIELDS)} fields "
                                     f"({','.join(_MARK_FIELDS)}), this one {len(cells)}")
                marks.append(_mark(dict(zip(_MARK_FIELDS, cells)), f"{path}:{i}"))
        return marks
    rows = [(i, line) for i, line in enumerate(lines, start=1) if line.strip() and not line.startswith("#")]
    if not rows:
        return marks
    header = [h.strip() for h in next(csv.reader([rows[0][1]]))]
    missing = [c for c in ("t_ns", "event", "name") if c not in header]
    if missing:
        raise ValueError(f"{path}:{rows[0][0]}: a marks CSV starts with the header t_ns,event,name[,calls][,type]; "
                         f"this one lacks {', '.join(missing)}")
    for i, line in rows[1:]:
        cells = next(csv.reader([line]))
        if len(cells) != len(header):
            raise ValueError(f"{path}:{i}: {len(cells)} fields, the header has {len(header)}")
        marks.append(_mark(dict(zip(header, cells)), f"{path}:{i}"))
    return marks


def pair_windows(marks: List[Mark]) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Pairs begin and end marks of the same name into windows, in time order.

    Returns (windows, notes): each window has label, type, t0_ns, t1_ns, calls, round (the k-th
    window of its name) and clock; notes say what was dropped (a begin never ended, as when
    the recording stopped inside a window; a begin repeated before its end).

    Raises
    ------
    ValueError
        An end without a begin, or a window that ends before it begins.
    """
    open_: Dict[str, Mark] = {}
    windows: List[Dict[str, Any]] = []
    notes: List[str] = []
    count: Dict[str, int] = {}
    for m in sorted(marks, key=lambda m: m.t_ns):  # stable: file order among equal times
        if m.event == "begin":
            if m.name in open_:
                notes.append(f"{m.name!r} begun again at {m.where} before the begin at {open_[m.name].where} "
                             "ended: the earlier begin is dropped")
            open_[m.name] = m
            continue
        b = open_.pop(m.name, None)
        if b is None:
            raise ValueError(f"{m.where}: end of {m.name!r} (t_ns={m.t_ns}) without a begin before it")
        r = count.get(m.name, 0)
        count[m.name] = r + 1
        windows.append(dict(label=m.name, type=b.type, t0_ns=b.t_ns, t1_ns=m.t_ns, calls=m.calls or 1, round=r,
                            clock="sender" if b.clock == m.clock == "sender" else "arrival"))
    for name, b in open_.items():
        notes.append(f"{name!r} begun at {b.where} never ended (the recording stopped inside it?): dropped")
    return windows, notes


def _scan_end(path: str) -> Dict[str, Any]:
    """The ``# end:`` trailer edgepower-record writes (sampler statistics), or {}."""
    out: Dict[str, Any] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith(END_PREFIX):
                try:
                    out = json.loads(line[len(END_PREFIX):])
                except json.JSONDecodeError:
                    log.warning("%s: unreadable '# end:' line ignored", path)
    return out


def _sensor_info(trace: Trace) -> SimpleNamespace:
    """The recorded sensor's info from the trace's meta, with the attributes the energy rules
    read (total rail, counters, wrap range), as the live SensorInfo has them."""
    d = dict(trace.meta.get("sensor") or {})
    nan = math.nan
    return SimpleNamespace(
        kind=str(d.get("kind", "?")), description=str(d.get("description", "")), rails=list(trace.rails),
        total_rail=int(d.get("total_rail", -1)), has_power=bool(d.get("has_power", True)),
        has_counter=bool(d.get("has_counter", False)), power_derived=bool(d.get("power_derived", False)),
        counter_range_j=float(d.get("counter_range_j") or 0.0),
        update_interval_s=nan if d.get("update_interval_s") is None else float(d["update_interval_s"]),
        estimated=bool(d.get("estimated", False)), details=dict(d.get("details") or {}))


def _window_energy(trace: Trace, info: SimpleNamespace, t0: int, t1: int):
    """Energy of [t0, t1] by the rule a live monitor uses (edgepower.energy.window), from the
    samples around it."""
    t = trace.t_ns
    lo = max(0, int(np.searchsorted(t, t0, side="left")) - 1)
    hi = min(len(t), int(np.searchsorted(t, t1, side="left")) + 1)
    counter = trace.counter_j[lo:hi] if trace.counter_j.shape[0] else trace.counter_j
    return window_energy(info, np.ascontiguousarray(t[lo:hi]), np.ascontiguousarray(trace.power_w[lo:hi]),
                         np.ascontiguousarray(counter), t0, t1)


def profile_trace(trace_path: str, marks_path: Optional[str] = None, *, idle_power_w: Optional[float] = None,
                  model: str = "recorded model") -> Report:
    """The per-layer Report of a recorded trace and its marks.

    Parameters
    ----------
    trace_path : str
        An edgepower trace CSV (edgepower-record, ``edgepower monitor -o``, ``PowerMonitor.to_csv``).
    marks_path : str, optional
        A marks CSV; default: the trace's own ``# mark:`` lines.
    idle_power_w : float, optional
        A known idle power (W) to subtract; default: the average power over the ``(idle)``
        windows, and no net figures when there are none.
    model : str
        Name of the model in the report.

    Raises
    ------
    ValueError
        No marks, unpaired marks, marks outside the trace (another machine or boot), or a
        malformed file; the message names the file and line and says what to do.
    """
    trace_path = os.fspath(trace_path)
    trace = read_trace(trace_path)
    if not trace.meta.get("sensor"):
        raise ValueError(f"{trace_path}: the trace has no '# meta:' line with the sensor; was it written by edgepower?")
    if len(trace.t_ns) < 2:
        raise ValueError(f"{trace_path}: the trace holds {len(trace.t_ns)} sample(s); a profile needs a recording")
    info = _sensor_info(trace)
    source = os.fspath(marks_path) if marks_path is not None else trace_path
    marks = read_marks(source)
    if not marks:
        raise ValueError(f"{source}: no marks found. Record with `edgepower-record --marks FIFO` and send marks "
                         "with tools/edgepower_marks.py, or pass a marks CSV (t_ns,event,name[,calls][,type]).")
    marked, notes = pair_windows(marks)
    if not marked:
        raise ValueError(f"{source}: no complete window (a begin and its end); " + "; ".join(notes))
    t_first, t_last = int(trace.t_ns[0]), int(trace.t_ns[-1])
    if all(w["t1_ns"] < t_first or w["t0_ns"] > t_last for w in marked):
        raise ValueError(f"the marks (t_ns {min(w['t0_ns'] for w in marked)} to {max(w['t1_ns'] for w in marked)}) "
                         f"do not overlap the trace's samples ({t_first} to {t_last}): marks and trace must come "
                         "from the same machine and boot (CLOCK_MONOTONIC), e.g. the marks of this recording")

    windows: List[Window] = []
    for w in marked:
        e = _window_energy(trace, info, w["t0_ns"], w["t1_ns"])
        kind = "model" if w["label"] == MODEL_LABEL else "idle" if w["label"] == IDLE_LABEL else "layer"
        windows.append(Window(label=w["label"], module=w["label"], call=0, round=w["round"], kind=kind,
                              t0_ns=w["t0_ns"], t1_ns=w["t1_ns"], calls=w["calls"],
                              duration_s=(w["t1_ns"] - w["t0_ns"]) * 1e-9, energy_j=e.total_j,
                              num_samples=e.num_samples, reason=e.reason))

    idle_windows = [w for w in windows if w.kind == "idle" and math.isfinite(w.energy_j)]
    if idle_power_w is not None:
        if isinstance(idle_power_w, bool) or not isinstance(idle_power_w, (int, float)) \
                or not math.isfinite(idle_power_w) or idle_power_w < 0:
            raise ValueError(f"idle_power_w must be a power in W >= 0, got {idle_power_w!r}")
        idle_w: Optional[float] = float(idle_power_w)
        idle_source = "given"
    elif idle_windows:
        idle_t = sum(w.duration_s for w in idle_windows)
        idle_w = sum(w.energy_j for w in idle_windows) / idle_t
        idle_source = f"marked {IDLE_LABEL} windows: {len(idle_windows)}, {idle_t:.3f} s in all"
    else:
        idle_w, idle_source = None, f"none (no {IDLE_LABEL} window marked and no idle power given): net figures n/a"

    types: Dict[str, str] = {}
    for w in marked:
        if w["type"]:
            types.setdefault(w["label"], w["type"])
    sites: List[CallSite] = []
    for w in windows:
        if w.kind == "layer" and not any(s.module_name == w.label for s in sites):
            sites.append(CallSite(w.label, 0, len(sites), _module(types.get(w.label, "")), (), {}))
    if not sites:
        raise ValueError(f"{source}: only {IDLE_LABEL}/{MODEL_LABEL} windows were marked; mark each layer's "
                         "window with its name (marks.layer('features.0', calls=N))")
    whole_module = _module(types.get(MODEL_LABEL, "RecordedModel"))
    whole = CallSite(MODEL_LABEL, 0, len(sites), whole_module, (), {})
    rounds = max(1 + w.round for w in windows if w.kind in ("layer", "model"))
    rows = build_rows(sites, whole, windows, idle_w, rounds, info.kind, info.estimated, whole_module)
    meta = _meta(trace, trace_path, source, info, marked, notes, rounds, idle_w, idle_source, model)
    meta["closure"] = closure_stats(sites, windows, idle_w, rounds)
    return Report(rows=rows, windows=windows, meta=meta,
                  samples={"t_ns": trace.t_ns, "power_w": board_total(info, trace.power_w)})


def _meta(trace: Trace, trace_path: str, source: str, info: SimpleNamespace, marked: List[Dict[str, Any]],
          notes: List[str], rounds: int, idle_w: Optional[float], idle_source: str, model: str) -> Dict[str, Any]:
    recorder = dict(trace.meta.get("recorder") or {})
    end = _scan_end(trace_path)
    n = len(trace.t_ns)
    span_s = (int(trace.t_ns[-1]) - int(trace.t_ns[0])) * 1e-9
    host = recorder.get("host") or {}
    return {
        "model": model,
        "model_module": "",
        "model_params": 0,
        "inputs": "n/a (recorded elsewhere)",
        "devices": [f"{host.get('machine', '?')} {host.get('nodename', '')}".strip() + " (recorded)"],
        "layers": "marked windows",
        "selected_layers": sorted({w["label"] for w in marked if w["label"] not in (MODEL_LABEL, IDLE_LABEL)}),
        "not_called": [],
        "capture_s": math.nan,
        "method": {
            "mode": "recorded",
            "repeats": "marked", "rounds": rounds, "target_window_s": math.nan,
            "windows": len(marked), "windows_stamped_on_arrival": sum(1 for w in marked if w["clock"] == "arrival"),
            "sensor_update_interval_s": info.update_interval_s,
        },
        "idle_power_w": idle_w,
        "idle_source": idle_source,
        "monitor": {
            "sensor": info.kind, "sensor_description": info.description, "rails": list(info.rails),
            "total_rail": total_rail_name(info), "estimated": info.estimated,
            "requested_rate_hz": trace.meta.get("rate_hz"),
            "achieved_rate_hz": (n - 1) / span_s if span_s > 0 else math.nan,
            "sensor_update_interval_s": info.update_interval_s, "idle_power_w": idle_w,
            "details": dict(info.details), "sampler": end.get("sampler", {}),
        },
        "sensor": info.kind,
        "estimated": info.estimated,
        "recorded": {
            "offline": True,
            "trace": os.path.abspath(trace_path),
            "marks": os.path.abspath(source) if source != trace_path else "the trace's '# mark:' lines",
            "recorder": recorder or "not edgepower-record (no 'recorder' in the trace's meta)",
            "trace_created_utc": trace.meta.get("created_utc"),
            "samples": n, "span_s": span_s,
            "stopped_by": end.get("stopped_by"), "bad_marks": end.get("bad_marks"),
            "notes": notes,
        },
        "environment": {
            "edgepower": _version, "python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "analysed_here": True, "recorded_on": host,
        },
    }


__all__ = ["IDLE_LABEL", "Mark", "pair_windows", "profile_trace", "read_marks"]
