"""edgepower's trace CSV: every sample with its provenance, readable by pandas and by the replay
sensor.

Format (version 1)::

    # edgepower trace v1
    # meta: {"sensor": {...SensorInfo...}, "rate_hz": 1000.0, "created_utc": "..."}
    t_ns,read_ns,power_w:<rail>,...[,counter_j:<rail>,...]
    123456789,812,5.0,...

Lines starting with ``#`` are comments; ``t_ns`` is CLOCK_MONOTONIC nanoseconds.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
import logging
import math
import os
from typing import IO, Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

MAGIC = "# edgepower trace v1"
log = logging.getLogger("edgepower")


def info_dict(info) -> Dict[str, object]:
    d = info.to_dict() if hasattr(info, "to_dict") else dict(info)
    d = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
    return d


_info_dict = info_dict


def check_output_path(path, what: str = "path") -> str:
    """``path`` as a str if a file can be written there, else an error naming ``what`` and the fix:
    TypeError (not a path), ValueError (empty), IsADirectoryError (a folder), FileNotFoundError
    (its folder does not exist), PermissionError (its folder is not writable)."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{what} must be a file path (str), got {type(path).__name__}")
    path = os.fspath(path)
    if not path:
        raise ValueError(f"{what} must be a file path, got an empty string")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} {path!r} is a folder; give a file path such as {os.path.join(path, 'trace.csv')!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"{what} {path!r}: folder {parent!r} does not exist; create it first or choose another path")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{what} {path!r}: folder {parent!r} is not writable")
    return path


class TraceWriter:
    """Appends a sampler's new samples to a trace CSV on each write(); crash-safe (each write is
    flushed, so the file holds everything up to the last write)."""

    def __init__(self, path: str, info, rate_hz: float, what: str = "trace path"):
        self.path = check_output_path(path, what)
        self.rails: List[str] = list(info.rails)
        self.has_counter = bool(info.has_counter)
        meta = {"sensor": info_dict(info), "rate_hz": rate_hz,
                "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        cols = ["t_ns", "read_ns"] + [f"power_w:{r}" for r in self.rails]
        if self.has_counter:
            cols += [f"counter_j:{r}" for r in self.rails]
        # The header goes into a side file renamed onto the path (as edgepower-record does): a
        # reader watching the path never finds it empty or with half a header.
        partial = self.path + ".partial"
        self._f = open(partial, "w", encoding="utf-8", newline="\n")
        try:
            self._f.write(f"{MAGIC}\n# meta: {json.dumps(meta)}\n{','.join(cols)}\n")
            self._f.flush()
            os.replace(partial, self.path)
        except BaseException:
            self._f.close()
            try:
                os.remove(partial)
            except OSError:
                pass
            raise
        self.written = 0
        self.lost = 0  # samples the sampler dropped before they were written (rolling policy)
        self.gaps: List[Tuple[int, int]] = []  # [from, to) sample indices lost, oldest first
        self._hold: Optional[Tuple[Any, int]] = None  # (sampler, its hold id) while holding

    def hold(self, sampler) -> None:
        """Under the rolling memory policy, keeps what this writer has not written yet in the
        sampler's memory past the cap (for up to the cap again), so a writer starved of CPU for a
        while loses nothing; each write() moves the hold on, close() releases it. Several writers
        may hold one sampler (a spool and a log): the one furthest behind counts."""
        self.release()
        self._hold = (sampler, int(sampler.add_hold(self.written)))

    def release(self) -> None:
        """Stops holding samples (close() does this)."""
        if self._hold is not None:
            sampler, hold = self._hold
            self._hold = None
            sampler.remove_hold(hold)

    def write(self, sampler) -> int:
        """Writes the samples recorded since the last call; returns how many. Samples the rolling
        memory policy dropped before this call are counted in ``lost`` and listed in ``gaps``."""
        s = sampler.samples(self.written)
        n = int(s["t_ns"].shape[0])
        begin = int(s.get("begin", self.written))
        if begin > self.written:
            self.lost += begin - self.written
            self.gaps.append((self.written, begin))
            held = self._hold is not None and self._hold[0] is sampler
            log.warning("trace %s: %d samples were dropped by the sampler's rolling memory cap before they were "
                        "written (%s)", self.path, begin - self.written,
                        "this writer held them past the cap, but fell behind by more than the cap holds twice"
                        if held else "this writer did not hold them: TraceWriter.hold() keeps them past the cap")
        end = int(s.get("end", self.written + n))
        if n == 0:
            self._advance(sampler, end)
            return 0
        parts = [s["t_ns"].astype(np.int64).astype(str), s["read_ns"].astype(str)]
        vals = [s["power_w"]]
        if self.has_counter:
            vals.append(s["counter_j"])
        block = np.hstack(vals)
        # repr-precision floats: a trace read back gives the very same numbers.
        text_vals = np.char.mod("%.17g", block)
        rows = np.column_stack(parts + [text_vals])
        self._f.write("\n".join(",".join(r) for r in rows))
        self._f.write("\n")
        self._f.flush()
        self._advance(sampler, end)
        return n

    def _advance(self, sampler, end: int) -> None:
        self.written = end
        if self._hold is not None and self._hold[0] is sampler:
            sampler.hold_from(self._hold[1], end)

    def sync(self) -> None:
        """Makes what was written durable (fsync): the spool's sync points."""
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self.release()
        if not self._f.closed:
            self._f.close()


class Trace(NamedTuple):
    meta: Dict[str, object]
    rails: List[str]
    t_ns: np.ndarray
    read_ns: np.ndarray
    power_w: np.ndarray
    counter_j: np.ndarray


class _Prefix(io.RawIOBase):
    """The first ``size`` bytes of a binary file (a spool's complete lines, edgepower.spool)."""

    def __init__(self, f: IO[bytes], size: int):
        self._f, self._left = f, size

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        data = self._f.read(min(len(b), self._left))
        b[:len(data)] = data
        self._left -= len(data)
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


def _open(path: str, size: Optional[int], text: bool = True):
    if size is None:
        return open(path, encoding="utf-8") if text else open(path, "rb")
    raw = io.BufferedReader(_Prefix(open(path, "rb"), size))
    return io.TextIOWrapper(raw, encoding="utf-8") if text else raw


def _head(path: str, size: Optional[int] = None) -> Tuple[Dict[str, object], List[str], int]:
    """(meta, header cells, lines before the data) of a trace; ValueError naming the line."""
    meta: Dict[str, object] = {}
    with _open(path, size) as f:
        first = f.readline().rstrip("\n")
        if first != MAGIC:
            raise ValueError(f"{path}: line 1 is {first[:60]!r}, expected {MAGIC!r}; is this an edgepower trace?")
        for lineno, line in enumerate(f, start=2):
            line = line.strip()
            if not line:
                continue
            if line.startswith("# meta:"):
                try:
                    meta = json.loads(line[len("# meta:"):])
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: bad meta JSON ({exc})") from None
                continue
            if line.startswith("#"):
                continue
            header = line.split(",")
            if header[:2] != ["t_ns", "read_ns"]:
                raise ValueError(f"{path}:{lineno}: header must start with t_ns,read_ns, got {line[:80]!r}")
            _check_columns(path, lineno, header[2:])
            return meta, header, lineno
    raise ValueError(f"{path}: no header line (t_ns,read_ns,...) found")


def _check_columns(path: str, lineno: int, cols: List[str]) -> None:
    """power_w:<rail> columns, then as many counter_j:<rail> or none: the replay sensor's rule
    (csrc/core/sensors/replay.cpp), so both readers take the same files."""
    n_power = n_counter = 0
    for c in cols:
        if c.startswith("power_w:") and n_counter == 0:
            n_power += 1
        elif c.startswith("counter_j:"):
            n_counter += 1
        else:
            raise ValueError(f"{path}:{lineno}: unexpected column {c[:60]!r} (expected power_w:<rail> then "
                             "counter_j:<rail>)")
    if n_power == 0:
        raise ValueError(f"{path}:{lineno}: no power_w:<rail> column")
    if n_counter not in (0, n_power):
        raise ValueError(f"{path}:{lineno}: {n_counter} counter_j columns for {n_power} rails")


TAIL_BYTES = 1 << 16  # bytes examined at a file's end for a partial line


def complete_size(path: str) -> Tuple[int, int]:
    """(bytes up to and including the last newline before any NUL run, file size). A NUL in
    the tail is what a power cut leaves where unsynced data was: the line holding it is cut."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        start = max(0, size - TAIL_BYTES)
        f.seek(start)
        tail = f.read()
    nul = tail.find(b"\0")
    if nul >= 0:
        tail = tail[:nul]
    nl = tail.rfind(b"\n")
    if nl < 0 and start > 0:  # a line longer than the tail: look further back
        with open(path, "rb") as f:
            data = f.read(start + (nul if nul >= 0 else len(tail)))
        nl, start = data.rfind(b"\n"), 0
    return (start + nl + 1 if nl >= 0 else 0), size


def read_trace(path: str, size: Optional[int] = None) -> Trace:
    """Reads a trace CSV written by edgepower (with pandas' C parser). Raises ValueError naming
    the line that is wrong. ``size``: read only the first ``size`` bytes (whole lines; the spool
    reader passes the end of the last complete line). Without ``size``, an unfinished last line
    (no newline: the writer is still writing, or was killed mid-line) is left out with a warning."""
    path = os.fspath(path)
    if size is None:
        # A trace still being written (edgepower-record, PowerMonitor(spool=...)) or cut by a
        # kill or power loss can end in part of a line: that line is not known complete (a
        # number cut short still parses), so it is left out, and said so.
        ok, total = complete_size(path)
        if ok < total:
            log.warning("%s: left out the last %d bytes, an unfinished line (the writer was still writing, "
                        "or was stopped mid-line)", path, total - ok)
            size = ok
    meta, header, skip = _head(path, size)
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"reading a trace needs pandas ({exc}); install it with `pip install pandas`") from None
    dtypes = {h: np.float64 for h in header[2:]}
    # read_ns as int64, range-checked below: older pandas wrap an int32 column silently.
    dtypes.update({"t_ns": np.int64, "read_ns": np.int64})
    # Exact floats: pandas 3 parses them round-trip by default; before, it has to be asked.
    exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
    try:
        with _open(path, size, text=False) as f:
            df = pd.read_csv(f, skiprows=skip, header=None, names=header, dtype=dtypes, comment="#",
                             skip_blank_lines=True, engine="c", **exact)
    except (ValueError, pd.errors.ParserError, OverflowError):
        df = None
    # pandas fills a short row with NaN: a NaN in the last column (rare in real traces) is checked
    # line by line, as is anything pandas refused, so every error names its line.
    if df is None or (len(header) > 2 and bool(df.iloc[:, -1].isna().any())):
        return _read_checked(path, meta, header, skip, size)
    t = df["t_ns"].to_numpy(dtype=np.int64)
    vals = df.iloc[:, 2:].to_numpy(dtype=np.float64).reshape(len(df), len(header) - 2)
    rd = df["read_ns"].to_numpy(dtype=np.int64)
    i32 = np.iinfo(np.int32)
    if (t.shape[0] > 1 and np.any(np.diff(t) < 0)) or (rd.size and (rd.min() < i32.min or rd.max() > i32.max)):
        return _read_checked(path, meta, header, skip, size)
    return _trace(meta, header, t, rd.astype(np.int32), vals)


def _trace(meta: Dict[str, object], header: List[str], t: np.ndarray, rd: np.ndarray, vals: np.ndarray) -> Trace:
    rails = [h.split(":", 1)[1] for h in header if h.startswith("power_w:")]
    ncnt = sum(h.startswith("counter_j:") for h in header)
    power = vals[:, :len(rails)]
    counter = vals[:, len(rails):] if ncnt else np.empty((0, len(rails)))
    return Trace(meta, rails, t, rd, power, counter)


def _read_checked(path: str, meta: Dict[str, object], header: List[str], skip: int,
                  size: Optional[int] = None) -> Trace:
    """The line-by-line reader: slow, but it names the line of every error."""
    rows: List[List[str]] = []
    with _open(path, size) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if lineno <= skip or not line or line.startswith("#"):
                continue
            cells = line.split(",")
            if len(cells) != len(header):
                raise ValueError(f"{path}:{lineno}: {len(cells)} fields, the header has {len(header)}")
            cells.append(str(lineno))
            rows.append(cells)
    n = len(rows)
    t = np.empty(n, np.int64)
    rd = np.empty(n, np.int32)
    vals = np.empty((n, len(header) - 2), np.float64)
    for i, r in enumerate(rows):
        try:
            t[i] = int(r[0])
            read = int(r[1])
            if not -2**31 <= read < 2**31:  # numpy 1.x stores it wrapped, 2.x raises OverflowError
                raise OverflowError
            rd[i] = read
            vals[i] = [float(x) for x in r[2:-1]]
        except ValueError:
            raise ValueError(f"{path}:{r[-1]}: not a number in {','.join(r[:-1])[:80]!r}") from None
        except OverflowError:
            raise ValueError(f"{path}:{r[-1]}: a number out of range in {','.join(r[:-1])[:80]!r} (t_ns is a 64-bit "
                             "and read_ns a 32-bit integer)") from None
    if n > 1 and np.any(np.diff(t) < 0):
        bad = int(np.argmax(np.diff(t) < 0)) + 1
        raise ValueError(f"{path}:{rows[bad][-1]}: timestamps go backwards")
    return _trace(meta, header, t, rd, vals)


__all__ = ["MAGIC", "Trace", "TraceWriter", "check_output_path", "info_dict", "read_trace"]
