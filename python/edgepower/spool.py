"""Spool: a monitor's samples, marks and finished windows on disk as they happen.

``PowerMonitor(..., spool=DIR)`` writes a folder of two append-only files:

``samples.csv``
    edgepower's trace CSV (:mod:`edgepower.trace`; the same :class:`~edgepower.trace.TraceWriter`
    as ``log_path``), one line a sample.
``events.jsonl``
    JSON lines, each a record with a ``"type"``: ``"spool"`` first (sensor, rails, rate, sync
    interval), then ``"regions"`` (names of new timeline regions), ``"marks"`` (batches of the
    timeline's begin/end marks), ``"window"`` (a PowerMonitor window's measurement),
    ``"profile_window"`` (a profiler window with its energy), records a caller adds with
    :meth:`SpoolWriter.note` (``"profile"``: a profile's settings), and ``"end"`` on a clean stop.

Every record is one line ending in a newline. A thread appends what is new every ``flush_s``
(0.2 s) and fsyncs both files every ``sync_s`` (1 s by default). A process killed mid-write leaves
at most one partial last line in each file: :func:`read_spool` reads up to the last complete
line and says how many bytes after it were incomplete. ``kill -9`` loses nothing written (the
page cache survives the process); a power cut loses at most what came after the last fsync.
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from . import trace
from .export.common import jsonable

log = logging.getLogger("edgepower")

VERSION = 1
SAMPLES = "samples.csv"
EVENTS = "events.jsonl"


def check_path(path: Any) -> str:
    """``path`` as a str if a spool can be written there (a folder, created if missing, holding no
    spool yet); ValueError / FileNotFoundError saying what to do otherwise."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"spool must be a folder path (str or os.PathLike), got {path!r}")
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"cannot spool to {path!r}: folder {parent!r} does not exist")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"spool {path!r} is a file; give a folder (it is created if missing)")
    if os.path.exists(os.path.join(path, EVENTS)):
        raise ValueError(f"spool folder {path!r} already holds a spool; read it with edgepower.read_spool(), then "
                         "remove it or choose another folder")
    return path


class SpoolWriter:
    """Appends a running monitor's samples, marks and windows to the spool folder ``path``.

    Made by ``PowerMonitor(spool=path, spool_sync_s=...)``; :meth:`open` (at ``start()``) creates
    the files and the writer thread, :meth:`close` (at ``stop()``) writes the rest and syncs.
    ``synced_samples`` / ``synced_records`` count what the last fsync made durable.
    """

    def __init__(self, path: Any, sync_s: float = 1.0, flush_s: float = 0.2):
        for name, v in (("spool_sync_s", sync_s), ("flush_s", flush_s)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {v!r}")
        self.path = check_path(path)
        self.sync_s, self.flush_s = float(sync_s), min(float(flush_s), float(sync_s))
        self.synced_samples = 0
        self.synced_records = 0
        self.records = 0
        self.closed = False
        self._lock = threading.Lock()
        self._queue: List[Dict[str, Any]] = []
        self._pending: List[Tuple[Dict[str, Any], int, int]] = []
        self._monitor: Any = None
        self._samples: Optional[trace.TraceWriter] = None
        self._events: Any = None
        self._marks = 0
        self._regions: set = set()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()
        self._last_sync = 0.0
        self._last_error = ""

    @property
    def opened(self) -> bool:
        return self._events is not None

    # ---- called by the monitor and its users ------------------------------------------------------
    def note(self, record: Dict[str, Any]) -> None:
        """Appends ``record`` (a dict with a ``"type"``) at the next flush."""
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            raise ValueError(f"a spool record must be a dict with a 'type' string, got {record!r}")
        with self._lock:
            self._queue.append(record)

    def add_window(self, record: Dict[str, Any], t0_ns: int, t1_ns: int) -> None:
        """Appends ``record`` with the energy over [t0_ns, t1_ns] (``energy_j``, ``num_samples``,
        ``reason``) once the samples after t1 that the monitor's estimator needs exist."""
        with self._lock:
            self._pending.append((record, int(t0_ns), int(t1_ns)))

    def open(self, monitor: Any) -> None:
        if self.closed:
            raise RuntimeError(f"the spool {self.path!r} was closed by stop(); give a restarted monitor a new spool")
        os.makedirs(self.path, exist_ok=True)
        self._monitor = monitor
        self._samples = trace.TraceWriter(os.path.join(self.path, SAMPLES), monitor.info, monitor.rate_hz)
        self._events = open(os.path.join(self.path, EVENTS), "w", encoding="utf-8", newline="\n")
        head = {"type": "spool", "version": VERSION, "samples": SAMPLES, "sensor": trace.info_dict(monitor.info),
                "rails": list(monitor.rails), "rate_hz": monitor.rate_hz, "sync_s": self.sync_s,
                "created_unix_s": time.time()}
        self._write_records([head])
        self._sync()
        # Under the rolling memory policy the sampler keeps what this writer has not written yet
        # past its cap (up to the cap again), so a writer starved for a while loses nothing.
        self._samples.hold(monitor.sampler)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="edgepower-spool", daemon=True)
        self._thread.start()

    def close(self, stop_reason: str = "") -> None:
        """Writes everything left, an ``"end"`` record, syncs and closes (after sampling stopped)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._events is None or self.closed:
            return
        self._tick(final=True)
        if self._samples is not None:
            self._samples.release()
        lost = self._samples.lost if self._samples else 0
        self._write_records([{"type": "end", "samples": self._samples.written if self._samples else 0,
                              "samples_lost": lost, "stop_reason": stop_reason}])
        self._sync()
        self._events.close()
        if self._samples is not None:
            self._samples.close()
        self.closed = True

    # ---- the writer thread ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self._tick()
            except Exception as exc:  # keep sampling; say each new failure once
                if str(exc) != self._last_error:
                    self._last_error = str(exc)
                    log.error("writing the spool %s failed: %s", self.path, exc)

    def _tick(self, final: bool = False) -> None:
        mon = self._monitor
        assert self._samples is not None
        self._samples.write(mon.sampler)  # moves its hold on
        gaps, self._samples.gaps = self._samples.gaps, []
        # Records first, marks after: a window's end mark is on the timeline before its record is
        # queued (end_window), so every record taken here has its marks in the read below. The
        # other order let a window ended in between reach the file a tick before its end mark (a
        # kill -9 then left a window without one).
        with self._lock:
            queued, self._queue = self._queue, []
            pending, self._pending = self._pending, []
        out = [{"type": "gap", "from_sample": a, "to_sample": b, "samples_lost": b - a,
                "reason": "the rolling memory cap dropped them before this writer wrote them"} for a, b in gaps]
        out += self._new_marks() + queued
        last = self._last_sample_t()
        pad = mon.estimator.padding_ns(mon.rate_hz) if mon.estimator is not None else 0
        keep = []
        for rec, t0, t1 in pending:
            if final or last >= t1 + pad:
                m = mon.measure(t0, t1, name=str(rec.get("label", "window")))
                out.append(dict(rec, energy_j=m.energy_j, num_samples=m.num_samples, reason=m.reason,
                                duration_s=(t1 - t0) * 1e-9, method=m.method))
            else:
                keep.append((rec, t0, t1))
        if keep:
            with self._lock:
                self._pending[:0] = keep
        self._write_records(out)
        if final or time.monotonic() - self._last_sync >= self.sync_s:
            self._sync()

    def _last_sample_t(self) -> int:
        n = len(self._monitor.sampler)
        return int(self._monitor.sampler.samples(n - 1)["t_ns"][0]) if n else -1

    def _new_marks(self) -> List[Dict[str, Any]]:
        tl = self._monitor.timeline
        m = tl.marks(self._marks)
        n = int(m["t_ns"].shape[0])
        if n == 0:
            return []
        self._marks += n
        regions = [int(r) for r in m["region"]]
        new = {r: tl.region_name(r) for r in set(regions) - self._regions}
        self._regions.update(new)
        out: List[Dict[str, Any]] = [{"type": "regions", "names": new}] if new else []
        out.append({"type": "marks", "t_ns": m["t_ns"].tolist(), "region": regions,
                    "begin": [bool(k) for k in m["kind"]]})
        return out

    def _write_records(self, records: List[Dict[str, Any]]) -> None:
        if records:
            self._events.write("".join(json.dumps(jsonable(r), separators=(",", ":")) + "\n" for r in records))
            self._events.flush()
            self.records += len(records)

    def _sync(self) -> None:
        self._events.flush()
        os.fsync(self._events.fileno())
        if self._samples is not None:
            self._samples.sync()
            self.synced_samples = self._samples.written
        self.synced_records = self.records
        self._last_sync = time.monotonic()


def append_record(path: Any, record: Dict[str, Any]) -> None:
    """Appends one record to the closed spool ``path`` (e.g. the CLI's ``"report"`` once the
    report is written) and syncs it."""
    with open(os.path.join(os.fspath(path), EVENTS), "a", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(jsonable(record), separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())


class Spool(NamedTuple):
    """A spool read back by :func:`read_spool`.

    ``header``: the ``"spool"`` record; ``samples``: a :class:`edgepower.trace.Trace`;
    ``marks``: arrays ``t_ns`` (int64), ``region`` (names), ``begin`` (bool); ``windows``: the
    ``"window"`` records; ``profile_windows``: the ``"profile_window"`` records; ``records``:
    every record in order (``of_type("gap")``: samples a starved writer lost under the rolling
    memory policy, by index); ``complete``: the writer stopped cleanly (an ``"end"`` record);
    ``incomplete``: bytes after the last complete line (``samples_bytes``, ``events_bytes``) and
    the records lost with them (``events_records``: 0 or 1).
    """

    path: str
    header: Dict[str, Any]
    samples: trace.Trace
    marks: Dict[str, np.ndarray]
    windows: List[Dict[str, Any]]
    profile_windows: List[Dict[str, Any]]
    records: List[Dict[str, Any]]
    complete: bool
    incomplete: Dict[str, int]

    def of_type(self, kind: str) -> List[Dict[str, Any]]:
        return [r for r in self.records if r.get("type") == kind]


def read_spool(path: Any, samples: bool = True) -> Spool:
    """Reads the spool folder ``path`` up to the last complete record of each file (a writer
    killed mid-line leaves a partial last line, ignored and counted in ``incomplete``).
    ``samples=False`` reads the records only (``samples`` is then empty).

    Raises FileNotFoundError when ``path`` holds no spool, ValueError naming the line when a
    record before the last is not valid JSON."""
    path = os.fspath(path)
    events = os.path.join(path, EVENTS)
    if not os.path.isfile(events):
        raise FileNotFoundError(f"{path!r} is not a spool folder: no {EVENTS} in it (PowerMonitor(spool=...) "
                                f"or `edgepower profile` writes one)")
    ev_ok, ev_size = trace.complete_size(events)
    with open(events, "rb") as f:
        lines = f.read(ev_ok).decode("utf-8", errors="replace").split("\n")[:-1]
    records: List[Dict[str, Any]] = []
    for i, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{events}:{i}: not a JSON record ({exc}); the spool is damaged there") from None
        if not isinstance(rec, dict) or "type" not in rec:
            raise ValueError(f"{events}:{i}: a record must be a JSON object with a 'type'")
        records.append(rec)
    if not records or records[0].get("type") != "spool":
        raise ValueError(f"{events}: the first record is not the spool header (type 'spool')")
    header = records[0]
    samples_path = os.path.join(path, str(header.get("samples", SAMPLES)))
    s_ok, s_size = trace.complete_size(samples_path) if os.path.isfile(samples_path) else (0, 0)
    rails = list(header.get("rails", []))
    head = b""
    if s_ok and samples:
        with open(samples_path, "rb") as f:
            head = f.read(min(s_ok, trace.TAIL_BYTES))
    if b"\nt_ns,read_ns" in head:
        data = trace.read_trace(samples_path, size=s_ok)
    else:  # not asked for, or killed before the trace's header line was complete: no samples yet
        data = trace.Trace({}, rails, np.zeros(0, np.int64), np.zeros(0, np.int32),
                              np.zeros((0, len(rails))), np.zeros((0, len(rails))))
    names: Dict[int, str] = {}
    t, reg, beg = [], [], []
    for r in records:
        if r["type"] == "regions":
            names.update({int(k): v for k, v in r["names"].items()})
        elif r["type"] == "marks":
            t += r["t_ns"]
            reg += [names.get(int(x), str(x)) for x in r["region"]]
            beg += r["begin"]
    marks = {"t_ns": np.asarray(t, np.int64), "region": np.asarray(reg, dtype=object),
             "begin": np.asarray(beg, bool)}
    ev_tail, s_tail = ev_size - ev_ok, s_size - s_ok
    return Spool(path, header, data, marks, [r for r in records if r["type"] == "window"],
                 [r for r in records if r["type"] == "profile_window"], records,
                 any(r["type"] == "end" for r in records),
                 {"samples_bytes": s_tail, "events_bytes": ev_tail, "events_records": int(ev_tail > 0)})


__all__ = ["EVENTS", "SAMPLES", "Spool", "SpoolWriter", "append_record", "check_path", "read_spool"]
