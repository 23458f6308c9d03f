"""A strict reader of Chrome trace-event JSON, as Perfetto's trace_processor imports it.

Used where trace_processor itself cannot run (its PyPI package, ``perfetto``, ships no
``trace_processor_shell`` binary and downloads one on first use, which needs the network). It
checks what the trace-event format spec ("Trace Event Format", Google, the format of
chrome://tracing) requires and what Perfetto's JSON importer (src/trace_processor/importers/json:
tokenizer and parser) silently drops or refuses, and it counts slices and counter values the way
trace_processor's ``slice`` and ``counter`` tables would hold them:

- the top level is an object whose keys Perfetto knows (``traceEvents``, ``otherData``,
  ``metadata``, ``systemTraceEvents``); any other key makes Perfetto ignore the rest of the file,
  and ``displayTimeUnit: "ns"`` makes Perfetto (unlike Chrome) read ``ts`` as nanoseconds;
- strict JSON: no NaN or Infinity; no ``\\u`` escapes (Perfetto's key reader refuses them);
- every event an object with no array-valued field (Perfetto's ``ts`` scan fails on one),
  ``ph`` a known phase, ``name`` a string, ``pid``/``tid`` unsigned 32-bit ints, ``ts`` a finite
  number of microseconds >= 0 written as a plain decimal (``ts`` is required except for ``M``);
- ``X``: ``dur`` finite >= 0; slices of one thread track nest strictly (a slice that starts
  inside another must end inside it), else the viewers drop or misplace it;
- ``C``: ``args`` an object of finite numbers; each key is a counter track ``"<name> <key>"``;
- ``i``/``I``: scope ``s`` in ``g``, ``p``, ``t``; every instant is a zero-length slice;
- ``M``: ``process_name``/``thread_name`` with ``args.name`` a string, or a sort index.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from typing import Any, Dict

PHASES = {"X", "B", "E", "C", "i", "I", "M"}
TOP_KEYS = {"traceEvents", "otherData", "metadata", "systemTraceEvents"}
META_NAMES = {"process_name", "thread_name", "process_sort_index", "thread_sort_index", "process_labels"}
_PLAIN = re.compile(r'"(ts|dur)":(-?[0-9.eE+-]+)')
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


class TraceFormatError(ValueError):
    pass


def _uint32(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2 ** 32


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


class _Where:
    """The event's position and start, formatted only when an error names it."""

    def __init__(self, i: int, e: Any):
        self.i, self.e = i, e

    def __str__(self) -> str:
        return f"event {self.i} ({str(self.e)[:80]})"


def check_trace(path: str) -> Dict[str, Any]:
    """Reads ``path`` strictly; raises TraceFormatError naming the first problem. Returns counts:
    ``slices`` (X events and instants), ``counter_values``, ``counter_tracks`` (name -> values),
    ``threads`` (tid -> name), ``slice_names`` (Counter), ``categories`` (Counter), ``process``."""
    raw = open(path, "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(f"not UTF-8: {exc}") from None
    if "\\u" in text:
        raise TraceFormatError("a \\u escape: Perfetto's JSON key reader refuses them")
    for key, val in _PLAIN.findall(text):
        if not _DECIMAL.fullmatch(val):
            raise TraceFormatError(f"{key} {val!r} is not a plain non-negative decimal")

    def bad_constant(name):
        raise TraceFormatError(f"{name} is not JSON")

    doc = json.loads(text, parse_constant=bad_constant)
    if not isinstance(doc, dict):
        raise TraceFormatError("the top level must be an object with traceEvents")
    unknown = set(doc) - TOP_KEYS
    if unknown:
        raise TraceFormatError(f"top-level keys {sorted(unknown)}: Perfetto stops reading at an unknown key")
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        raise TraceFormatError("traceEvents must be a list")
    if "otherData" in doc and not isinstance(doc["otherData"], dict):
        raise TraceFormatError("otherData must be an object")

    tracks: Dict[tuple, list] = {}
    counters: Dict[str, int] = Counter()
    threads: Dict[int, str] = {}
    process = None
    slices = 0
    names: Counter = Counter()
    cats: Counter = Counter()
    for i, e in enumerate(events):
        where = _Where(i, e)
        if not isinstance(e, dict):
            raise TraceFormatError(f"{where}: not an object")
        if any(type(v) is list for v in e.values()):
            arrays = [k for k, v in e.items() if isinstance(v, list)]
            raise TraceFormatError(f"{where}: array-valued field(s) {arrays} (Perfetto's ts scan fails)")
        ph = e.get("ph")
        if ph not in PHASES:
            raise TraceFormatError(f"{where}: phase {ph!r} is not one of {sorted(PHASES)}")
        if not isinstance(e.get("name"), str) or not e["name"]:
            raise TraceFormatError(f"{where}: name must be a non-empty string")
        for k in ("pid", "tid"):
            if k in e and not _uint32(e[k]):
                raise TraceFormatError(f"{where}: {k} must be an unsigned 32-bit int, got {e[k]!r}")
        if ph != "M" or "ts" in e:
            if not _number(e.get("ts")) or e["ts"] < 0:
                raise TraceFormatError(f"{where}: ts must be a finite number of microseconds >= 0")
        if "args" in e and not isinstance(e["args"], dict):
            raise TraceFormatError(f"{where}: args must be an object")
        key = (e.get("pid", 0), e.get("tid", e.get("pid", 0)))
        if ph == "M":
            if e["name"] not in META_NAMES:
                raise TraceFormatError(f"{where}: unknown metadata event {e['name']!r}")
            args = e.get("args") or {}
            if e["name"] in ("process_name", "thread_name"):
                if not isinstance(args.get("name"), str):
                    raise TraceFormatError(f"{where}: {e['name']} needs args.name, a string")
                if e["name"] == "thread_name":
                    threads[key[1]] = args["name"]
                else:
                    process = args["name"]
            elif not isinstance(args.get("sort_index"), int):
                raise TraceFormatError(f"{where}: {e['name']} needs an int args.sort_index")
        elif ph == "X":
            if not _number(e.get("dur")) or e["dur"] < 0:
                raise TraceFormatError(f"{where}: an X event needs dur, a finite number >= 0")
            tracks.setdefault(key, []).append((round(e["ts"] * 1000), round((e["ts"] + e["dur"]) * 1000), i))
            slices += 1
            names[e["name"]] += 1
            cats[e.get("cat", "")] += 1
        elif ph == "C":
            args = e.get("args")
            if not isinstance(args, dict) or not args:
                raise TraceFormatError(f"{where}: a counter event needs args with at least one value")
            for k, v in args.items():
                if not _number(v):
                    raise TraceFormatError(f"{where}: counter value {k}={v!r} is not a finite number")
                counters[f"{e['name']} {k}"] += 1
        elif ph in ("i", "I"):
            if e.get("s", "t") not in ("g", "p", "t"):
                raise TraceFormatError(f"{where}: instant scope must be g, p or t, got {e.get('s')!r}")
            slices += 1
            names[e["name"]] += 1
            cats[e.get("cat", "")] += 1
        else:
            raise TraceFormatError(f"{where}: B/E events are not expected from edgepower")
    for key, spans in tracks.items():
        spans.sort(key=lambda s: (s[0], -s[1]))
        stack: list = []
        for t0, t1, i in spans:
            while stack and stack[-1][0] <= t0:
                stack.pop()
            if stack and t1 > stack[-1][0]:
                raise TraceFormatError(f"event {i} on track {key} overlaps event {stack[-1][1]} without nesting")
            stack.append((t1, i))
    return {"slices": slices, "counter_values": sum(counters.values()), "counter_tracks": dict(counters),
            "threads": threads, "slice_names": names, "categories": cats, "process": process}
