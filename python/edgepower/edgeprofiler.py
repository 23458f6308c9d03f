"""EdgeProfiler interoperability: import their raw data exactly, export ours in their layout.

EdgeProfiler (``fuzzylabs/edge-vision-power-estimation``, Apache-2.0) records a Jetson power log
and TensorRT per-layer latencies, then maps power samples onto layer windows. Its raw layout::

    RAW_DIR/idling_power.json                      {"timestamp": ..., "avg_idle_power": <uW>}
    RAW_DIR/<model>/<model>_power_log.log          YYYYmmdd-HH:MM:SS.ffffff,<mV>,<mA>
    RAW_DIR/<model>/trt_profiling/trt_layer_latency.json   {layer: [[latency_ms, end_ts], ...]}
    RAW_DIR/<model>/trt_profiling/trt_engine_info.json     {"Layers": [{"Name", "LayerType"}, ...]}

:func:`map_power_to_layers` reproduces their ``power_runtime_mapping_layerwise.csv`` bit for bit
(``mode="compat"``) or integrates energy per window without their flaws (``mode="corrected"``);
:func:`write_raw_dir` writes edgepower measurements in the raw layout so their pipeline can
consume them. The parsing and both sweeps run in the native core (``edgepower._core``).
See docs/edgeprofiler.md.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ._native import core as _core

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "COMPAT_COLUMNS",
    "CORRECTED_COLUMNS",
    "MAPPING_CSV",
    "EdgeProfilerError",
    "EdgeProfilerWarning",
    "layer_averages",
    "layer_stats",
    "map_power_to_layers",
    "write_mapping_csv",
    "write_raw_dir",
]

log = logging.getLogger(__name__)
_ep = _core.edgeprofiler

PathLike = Union[str, "os.PathLike[str]"]

#: Name upstream gives the mapping table.
MAPPING_CSV = "power_runtime_mapping_layerwise.csv"
POWER_INCL = "layer_power_including_idle_power_micro_watt"
POWER_EXCL = "layer_power_excluding_idle_power_micro_watt"
#: Columns of the compat table, exactly upstream's.
COMPAT_COLUMNS = ["cycle", "layer_name", "layer_type", POWER_INCL, POWER_EXCL, "layer_run_time"]
#: Columns of the corrected table: upstream's six (power = trapezoid energy / window length),
#: then energies, the number of samples inside each window and why a figure is missing.
CORRECTED_COLUMNS = COMPAT_COLUMNS + [
    "layer_energy_including_idle_power_micro_joule",
    "layer_energy_excluding_idle_power_micro_joule",
    "num_samples",
    "reason",
]
_TS_FORMAT = "YYYYmmdd-HH:MM:SS.ffffff"
# The corrected mode warns when more than these shares of windows are empty / overlap.
_EMPTY_SHARE_WARN = 0.5
_OVERLAP_SHARE_WARN = 0.5


class EdgeProfilerError(ValueError):
    """Bad input in an EdgeProfiler raw directory (the message says which file and how to fix it)."""


class EdgeProfilerWarning(UserWarning):
    """Something in EdgeProfiler data that makes figures doubtful; also listed in the result."""


# ---------------------------------------------------------------------------------------------
# reading the raw layout


def _paths(raw_dir: Path, model: str) -> Dict[str, Path]:
    mdir = raw_dir / model
    return {
        "dir": mdir,
        "log": mdir / f"{model}_power_log.log",
        "latency": mdir / "trt_profiling" / "trt_layer_latency.json",
        "engine": mdir / "trt_profiling" / "trt_engine_info.json",
        "idle": raw_dir / "idling_power.json",
    }


def _require(path: Path, what: str, hint: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"missing {what}: {path} does not exist. {hint}")


def _load_json(path: Path, what: str) -> Any:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise EdgeProfilerError(f"{what} {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise EdgeProfilerError(f"{what} {path} is not UTF-8 text ({exc.reason})") from None


def _read_idle_uw(path: Path) -> float:
    _require(path, "idle power file", "EdgeProfiler writes idling_power.json next to the model folders; "
             "create it as {\"avg_idle_power\": <microwatts>} or pass idle_power_uw=.")
    doc = _load_json(path, "idle power file")
    if not isinstance(doc, dict) or "avg_idle_power" not in doc:
        raise EdgeProfilerError(f"idle power file {path} has no \"avg_idle_power\" key; expected "
                                "{\"timestamp\": \"%Y%m%d-%H%M%S\", \"avg_idle_power\": <microwatts>}")
    v = doc["avg_idle_power"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise EdgeProfilerError(f"idle power file {path}: avg_idle_power must be a finite number of "
                                f"microwatts, got {v!r}")
    return float(v)


def _read_latencies(path: Path) -> Tuple[List[str], np.ndarray, np.ndarray, bool, int]:
    """Layer names (execution order), latency_ms and end_us as [layer, cycle] arrays."""
    _require(path, "TensorRT layer latency file", "EdgeProfiler's TensorRT profiler writes it under "
             "<model>/trt_profiling/; check RAW_DIR and --model.")
    doc = _load_json(path, "layer latency file")
    if not isinstance(doc, dict) or not doc:
        raise EdgeProfilerError(f"layer latency file {path} has no layers; expected "
                                "{layer_name: [[latency_ms, \"YYYYmmdd-HH:MM:SS.ffffff\"], ...], ...}")
    names = list(doc)
    counts = {name: (len(v) if isinstance(v, list) else -1) for name, v in doc.items()}
    for name, n in counts.items():
        if n < 0:
            raise EdgeProfilerError(f"layer latency file {path}: layer {name!r} maps to "
                                    f"{type(doc[name]).__name__}, expected a list of [latency_ms, timestamp]")
    cycles = counts[names[0]]
    uneven = [name for name in names if counts[name] != cycles]
    if uneven:
        raise EdgeProfilerError(
            f"layer latency file {path}: layer {names[0]!r} has {cycles} entries but {uneven[0]!r} has "
            f"{counts[uneven[0]]} ({len(uneven)} layers differ); the k-th entry of every layer is cycle k, "
            "so every layer needs one entry per cycle. Trim the file to complete cycles.")
    if cycles == 0:
        raise EdgeProfilerError(f"layer latency file {path} has layers but no cycles (empty lists)")
    lat: List[Any] = []
    stamps: List[Any] = []
    for name in names:
        entries = doc[name]
        try:
            lat.extend([e[0] for e in entries])
            stamps.extend([e[1] for e in entries])
        except (TypeError, IndexError, KeyError):
            for c, e in enumerate(entries):
                if not isinstance(e, list) or len(e) < 2:
                    raise EdgeProfilerError(f"layer latency file {path}: layer {name!r} cycle {c + 1} is {e!r}, "
                                            "expected [latency_ms, \"YYYYmmdd-HH:MM:SS.ffffff\"]") from None
            raise
    all_int = all(type(v) is int for v in lat)
    try:
        lat_arr = np.array(lat, dtype=np.float64)
        ok = not any(type(v) is bool for v in lat) and bool(np.all(np.isfinite(lat_arr) & (lat_arr >= 0)))
    except (TypeError, ValueError):
        ok = False
    bad = None if ok else next(
        (i for i, v in enumerate(lat)
         if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0), None)
    if bad is not None:
        name, c = names[bad // cycles], bad % cycles + 1
        raise EdgeProfilerError(f"layer latency file {path}: layer {name!r} cycle {c} has latency {lat[bad]!r}; "
                                "expected a finite, non-negative number of milliseconds")
    bad = next((i for i, s in enumerate(stamps) if not isinstance(s, str)), None)
    try:
        if bad is not None:
            raise ValueError(f"timestamp #{bad}")
        end_us = _ep.parse_timestamps(stamps)
    except ValueError as exc:
        if bad is None:
            bad = int(str(exc).split("#", 1)[1].split()[0])
        name, c = names[bad // cycles], bad % cycles + 1
        raise EdgeProfilerError(f"layer latency file {path}: layer {name!r} cycle {c} has timestamp "
                                f"{stamps[bad]!r}; expected \"{_TS_FORMAT}\" (fraction of 1 to 6 digits)") from None
    latency_ms = lat_arr.reshape(len(names), cycles)
    return names, latency_ms, np.asarray(end_us).reshape(len(names), cycles), all_int, cycles


def _read_layer_types(path: Path, names: Sequence[str], notes: List[str]) -> List[str]:
    if not path.is_file():
        notes.append(f"no TensorRT engine info at {path}: every layer_type is 'Unknown'")
        return ["Unknown"] * len(names)
    doc = _load_json(path, "engine info file")
    layers = doc.get("Layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        raise EdgeProfilerError(f"engine info file {path} has no \"Layers\" list; expected TensorRT's engine "
                                "inspector JSON ({\"Layers\": [{\"Name\": ..., \"LayerType\": ...}, ...]})")
    types: Dict[str, str] = {}
    for layer in layers:
        # With ProfilingVerbosity below DETAILED the inspector lists bare names: no type known.
        if isinstance(layer, dict) and isinstance(layer.get("Name"), str):
            types.setdefault(layer["Name"], str(layer.get("LayerType", "Unknown")))
    unknown = [n for n in names if n not in types]
    if unknown:
        notes.append(f"{len(unknown)} of {len(names)} layers in the latency file are not in {path.name} "
                     f"(layer_type 'Unknown'), e.g. {unknown[0]!r}")
    return [types.get(n, "Unknown") for n in names]


def _read_log(path: Path) -> Dict[str, Any]:
    _require(path, "power log", "EdgeProfiler's power logger writes <model>/<model>_power_log.log; "
             "check RAW_DIR and --model.")
    try:
        parsed = _ep.read_power_log(os.fspath(path))
    except _ep.ParseError as exc:
        raise EdgeProfilerError(f"{path}: {exc}") from None
    except RuntimeError as exc:
        raise EdgeProfilerError(str(exc)) from None
    if len(parsed["t_us"]) == 0:
        raise EdgeProfilerError(f"power log {path} has no samples ({parsed['blank_lines']} blank lines); "
                                "the power logger must run while the model is profiled")
    return parsed


# ---------------------------------------------------------------------------------------------
# mapping


def _pandas():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the report extra
        raise ImportError("edgepower.edgeprofiler returns pandas DataFrames: pip install 'edgepower[report]' "
                          "(or pip install pandas)") from None
    return pd


def _overlap_share(start_us: np.ndarray, end_us: np.ndarray) -> float:
    """Share of consecutive layers (within a cycle) whose window starts before the previous ended.

    Layers of one inference run one after another, so their windows cannot overlap. TensorRT
    reports layer times after the whole inference; EdgeProfiler stamps each report on arrival, so
    the windows pile up at the end of the cycle and nearly all of them overlap.
    """
    if start_us.shape[0] < 2:
        return 0.0
    overlap = start_us[1:, :] < end_us[:-1, :]
    return float(overlap.mean())


def map_power_to_layers(raw_dir: PathLike, model: str, mode: str = "compat", *,
                        output: Optional[PathLike] = None,
                        idle_power_uw: Optional[float] = None) -> "pd.DataFrame":
    """Map an EdgeProfiler power log onto TensorRT layer windows.

    Parameters
    ----------
    raw_dir : path
        EdgeProfiler's ``raw_data`` folder (holds ``idling_power.json`` and one folder per model).
    model : str
        The model folder name inside ``raw_dir``.
    mode : {"compat", "corrected"}
        ``"compat"`` reproduces upstream's ``power_runtime_mapping_layerwise.csv`` exactly: one
        forward pass that consumes samples, mean of mV*mA per window, rows dropped once the log
        runs out. ``"corrected"`` integrates each window by trapezoid (linear interpolation at its
        edges, samples shared by overlapping windows), keeps every row, and subtracts the idle
        power; it needs the log in time order.
    output : path, optional
        Also write the table as CSV there (upstream's name is :data:`MAPPING_CSV`).
    idle_power_uw : float, optional
        Idle power in microwatts; default ``avg_idle_power`` from ``raw_dir/idling_power.json``.

    Returns
    -------
    pandas.DataFrame
        One row a (cycle, layer) in upstream's order with :data:`COMPAT_COLUMNS` or
        :data:`CORRECTED_COLUMNS`. ``df.attrs`` holds ``mode``, ``warnings`` (every warning issued,
        as text) and ``diagnostics`` (row and sample counts, idle power, shares of empty and
        overlapping windows).

    Raises
    ------
    FileNotFoundError
        A required file is missing (the message names it and who writes it).
    EdgeProfilerError
        Malformed content: the message names the file, the line or layer and cycle, and what was
        expected. Also for an empty log, and in corrected mode for timestamps out of order.

    Warns
    -----
    EdgeProfilerWarning
        Log timestamps out of order (compat follows the file order, as upstream does), layers
        missing from the engine info, rows dropped at the end of the log, and, when most windows
        overlap and most hold no sample, that the windows cluster at the end of each cycle.
    """
    if mode not in ("compat", "corrected"):
        raise ValueError(f"mode must be 'compat' or 'corrected', not {mode!r}")
    pd = _pandas()
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise FileNotFoundError(f"EdgeProfiler raw directory {raw} does not exist")
    if not isinstance(model, str) or not model or "/" in model or model in (".", ".."):
        raise ValueError(f"model must be the name of a folder inside {raw}, got {model!r}")
    paths = _paths(raw, model)
    if not paths["dir"].is_dir():
        found = sorted(p.name for p in raw.iterdir() if p.is_dir())
        raise FileNotFoundError(f"no model folder {paths['dir']}; models in {raw}: {', '.join(found) or 'none'}")
    notes: List[str] = []
    idle_uw = _read_idle_uw(paths["idle"]) if idle_power_uw is None else float(idle_power_uw)
    names, latency_ms, end_lc, run_time_int, cycles = _read_latencies(paths["latency"])
    types = _read_layer_types(paths["engine"], names, notes)
    plog = _read_log(paths["log"])
    t_us = plog["t_us"]
    power_uw = plog["voltage_mv"] * plog["current_ma"]
    if plog["backward_steps"]:
        msg = (f"power log {paths['log']} goes back in time {plog['backward_steps']} times (first at line "
               f"{plog['first_backward_line']})")
        if mode == "corrected":
            raise EdgeProfilerError(msg + "; the corrected mode integrates over time and needs the samples in "
                                    "order: sort the log by its first column, or use mode='compat', which reads "
                                    "it in file order as upstream does")
        notes.append(msg + "; compat mode reads it in file order as upstream does, so samples after a jump "
                     "backwards may be skipped")

    num_layers = len(names)
    start_lc = end_lc - _ep.timedelta_ms_to_us(latency_ms.ravel()).reshape(latency_ms.shape)
    # Rows go cycle by cycle, then layers in key order: row r = cycle * L + layer.
    start = np.ascontiguousarray(start_lc.T).ravel()
    end = np.ascontiguousarray(end_lc.T).ravel()
    rows_total = start.shape[0]
    overlap = _overlap_share(start_lc, end_lc)

    if mode == "compat":
        mean_uw, counts, emitted = _ep.compat_sweep(t_us, power_uw, start, end)
        # Upstream leaves the net figure empty when the mean is missing or exactly 0.
        excl = np.where(mean_uw != 0, mean_uw - idle_uw, np.nan)
        cols: Dict[str, Any] = {POWER_INCL: mean_uw, POWER_EXCL: excl}
        extra: Dict[str, Any] = {}
        n_rows = int(emitted)
        if n_rows < rows_total:
            last_cycle = n_rows // num_layers + (1 if n_rows % num_layers else 0)
            notes.append(f"the power log ends before the layer windows: {rows_total - n_rows} of {rows_total} rows "
                         f"dropped after cycle {last_cycle} (upstream's rule)")
        empty = int((counts == 0).sum())
    else:
        res = _ep.corrected_windows(t_us, power_uw, start, end, idle_uw)
        status = res["status"]
        reasons = np.array([""] + [_core.status_message(k) for k in range(1, 7)], dtype=object)
        cols = {POWER_INCL: res["mean_power_uw"], POWER_EXCL: res["mean_power_excl_idle_uw"]}
        n_rows = rows_total
        counts = res["num_samples"]
        extra = {
            "layer_energy_including_idle_power_micro_joule": res["energy_uj"],
            "layer_energy_excluding_idle_power_micro_joule": res["energy_excl_idle_uj"],
            "num_samples": counts,
            "reason": reasons[np.minimum(status, 6)],
        }
        missing = int((status != 0).sum())
        if missing:
            notes.append(f"{missing} of {rows_total} windows have no energy (e.g. "
                         f"{_core.status_message(int(status[status != 0][0]))})")
        empty = int((counts == 0).sum())

    empty_share = empty / n_rows if n_rows else 1.0
    if overlap > _OVERLAP_SHARE_WARN and empty_share > _EMPTY_SHARE_WARN:
        notes.append(
            f"the layer timestamps cluster at the end of each cycle: {overlap:.0%} of consecutive layer windows "
            f"overlap and {empty_share:.0%} of windows hold no power sample. TensorRT reports layer times after "
            "the whole inference, so these windows do not cover the layers' execution; "
            + ("the compat figures repeat whatever samples fall there." if mode == "compat" else
               "the corrected energies integrate the right length of power but at the wrong time: treat them as "
               "the cycle's average, not per-layer measurements."))

    layer_idx = np.tile(np.arange(num_layers, dtype=np.int32), cycles)[:n_rows]
    cycle_col = (np.arange(n_rows, dtype=np.int64) // num_layers) + 1
    run_time = np.ascontiguousarray(latency_ms.T).ravel()[:n_rows]
    names_arr = np.array(names, dtype=object)
    types_arr = np.array(types, dtype=object)
    data: Dict[str, Any] = {
        "cycle": cycle_col,
        "layer_name": names_arr[layer_idx],
        "layer_type": types_arr[layer_idx],
        POWER_INCL: cols[POWER_INCL][:n_rows],
        POWER_EXCL: cols[POWER_EXCL][:n_rows],
        "layer_run_time": run_time.astype(np.int64) if run_time_int else run_time,
    }
    data.update(extra)
    df = pd.DataFrame(data)

    for note in notes:
        warnings.warn(note, EdgeProfilerWarning, stacklevel=2)
    df.attrs["mode"] = mode
    df.attrs["warnings"] = list(notes)
    df.attrs["diagnostics"] = {
        "rows_expected": rows_total,
        "rows": n_rows,
        "rows_dropped": rows_total - n_rows,
        "rows_with_samples": n_rows - empty,
        "empty_window_share": empty_share,
        "overlapping_window_share": overlap,
        "cycles": cycles,
        "layers": num_layers,
        "samples": int(t_us.shape[0]),
        "blank_lines": int(plog["blank_lines"]),
        "log_backward_steps": int(plog["backward_steps"]),
        "idle_power_uw": idle_uw,
    }
    if output is not None:
        _write_table(output, df, layer_idx, names, types)
    return df


# ---------------------------------------------------------------------------------------------
# CSV


def _write_bytes(path: PathLike, data: bytes) -> None:
    p = Path(path)
    if p.parent and not p.parent.is_dir():
        raise FileNotFoundError(f"cannot write {p}: folder {p.parent} does not exist")
    with open(p, "wb") as f:
        f.write(data)


def _write_table(path: PathLike, df: "pd.DataFrame", layer_idx: np.ndarray, names: List[str],
                 types: List[str]) -> None:
    # Fast path for a table just built: names and types are already factorised.
    columns: List[Tuple[Any, ...]] = []
    for col in df.columns:
        if col == "layer_name":
            columns.append(("text", layer_idx, names))
        elif col == "layer_type":
            columns.append(("text", layer_idx, types))
        else:
            columns.append(_column_spec(df[col]))
    _write_bytes(path, _ep.render_csv(list(map(str, df.columns)), columns, len(df)))


def _column_spec(series: "pd.Series") -> Tuple[Any, ...]:
    pd = _pandas()
    kind = series.dtype.kind
    if kind in "iu":
        return ("int", series.to_numpy(dtype=np.int64))
    if kind == "b":
        codes, uniques = pd.factorize(series.map(str))
        return ("text", codes.astype(np.int32), list(uniques))
    if kind == "f":
        return ("float", series.to_numpy(dtype=np.float64))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    texts = [str(u) for u in uniques] + [""]
    codes = np.where(codes < 0, len(texts) - 1, codes).astype(np.int32)
    return ("text", codes, texts)


def write_mapping_csv(df: "pd.DataFrame", path: PathLike) -> None:
    """Write a mapping table as upstream does (``DataFrame.to_csv(index=False)`` byte for byte).

    Floats are written as Python's ``repr`` (shortest round trip, e.g. ``5440000.0``), missing
    values as empty fields, integers in decimal, text quoted only when it holds ``,``, ``"`` or a
    line break. Rendering runs natively, so 100 000 rows take a few milliseconds.

    Parameters
    ----------
    df : pandas.DataFrame
        A table from :func:`map_power_to_layers` (or any table of numbers and text).
    path : path
        The CSV file to write.
    """
    columns = [_column_spec(df[c]) for c in df.columns]
    _write_bytes(path, _ep.render_csv([str(c) for c in df.columns], columns, len(df)))


# ---------------------------------------------------------------------------------------------
# averaging over cycles


def _filtered(df: "pd.DataFrame", cask_only: bool) -> "pd.DataFrame":
    missing = [c for c in ("layer_name", "layer_type", POWER_EXCL, "layer_run_time") if c not in df.columns]
    if missing:
        raise ValueError(f"not a mapping table: columns {missing} are missing (expected {COMPAT_COLUMNS})")
    if cask_only:
        return df[df["layer_type"].astype(str).str.startswith("Cask")]
    return df


def layer_averages(df: "pd.DataFrame", cask_only: bool = False) -> "pd.DataFrame":
    """Per-layer averages over cycles, as upstream's preprocessing computes them.

    Parameters
    ----------
    df : pandas.DataFrame
        A mapping table (:func:`map_power_to_layers`, or upstream's CSV read back).
    cask_only : bool
        Keep only layers whose type starts with ``Cask`` (TensorRT's convolution, pooling and
        GEMM kernels), as upstream's feature extraction does.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``layer_name`` (sorted): ``average_power`` (mean idle-excluded power over the
        cycles that have one, microwatts), ``average_run_time`` (ms, over all cycles), ``cycles``,
        ``cycles_with_power`` and ``layer_type``.
    """
    sub = _filtered(df, cask_only)
    g = sub.groupby("layer_name", sort=True)
    out = g.agg(average_power=(POWER_EXCL, "mean"), average_run_time=("layer_run_time", "mean"))
    out["cycles"] = g.size()
    out["cycles_with_power"] = g[POWER_EXCL].count()
    out["layer_type"] = g["layer_type"].first()
    return out


def layer_stats(df: "pd.DataFrame", column: str = POWER_EXCL, cask_only: bool = True) -> "pd.DataFrame":
    """Summary statistics of one column per layer, as upstream's ``<model>_average_*_stats.csv``.

    Parameters
    ----------
    df : pandas.DataFrame
        A mapping table.
    column : str
        The column to summarise: the idle-excluded power (default) or ``"layer_run_time"``.
    cask_only : bool
        Keep only ``Cask*`` layer types (upstream's default for these files).

    Returns
    -------
    pandas.DataFrame
        count, mean, std, min, 25%, 50%, 75%, max per ``layer_name`` (pandas ``describe``);
        ``to_csv()`` gives upstream's file.
    """
    sub = _filtered(df, cask_only)
    if column not in sub.columns:
        raise ValueError(f"no column {column!r} in the table")
    return sub.groupby("layer_name", sort=True)[column].describe()


# ---------------------------------------------------------------------------------------------
# export


def write_raw_dir(out_dir: PathLike, model: str, power_t_ns: Sequence[int], power_w: Sequence[float],
                  idle_power_w: float, layer_windows: Mapping[str, Sequence[Tuple[int, int]]], *,
                  layer_types: Optional[Mapping[str, str]] = None, epoch: Optional[datetime] = None,
                  voltage_mv: float = 5000.0, current_decimals: int = 3) -> Dict[str, Path]:
    """Write edgepower measurements in EdgeProfiler's raw layout.

    The power log gets a constant nominal voltage (``voltage_mv``, 5000 mV, the Jetson's 5 V input
    rail) and the current that reproduces the measured power, ``mA = power_uW / mV``, rounded to
    ``current_decimals`` decimals. With the defaults every logged power is within
    ``voltage_mv * 0.5 * 10**-current_decimals`` = 2.5 uW of the measurement (upstream's own logs
    hold whole mA, i.e. 5 mW steps; their parser reads decimals). Timestamps are truncated to whole
    microseconds, as their format allows.

    Parameters
    ----------
    out_dir : path
        The raw directory to create or fill (``idling_power.json`` goes there, the rest into
        ``out_dir/model``).
    model : str
        Model folder name.
    power_t_ns : array of int
        Sample timestamps, ns of CLOCK_MONOTONIC (edgepower's clock), ascending.
    power_w : array of float
        Total power at each timestamp, watts.
    idle_power_w : float
        Idle power, watts (written in microwatts).
    layer_windows : mapping
        ``{layer_name: [(start_ns, end_ns), ...]}`` in execution order, one window per cycle, the
        same number of cycles for every layer.
    layer_types : mapping, optional
        ``{layer_name: type}`` for ``trt_engine_info.json`` (default ``"Unknown"``). Upstream's
        feature step keeps types starting with ``Cask``.
    epoch : datetime, optional
        Wall-clock time of ``t_ns == 0``. Default: the current offset between the wall clock and
        CLOCK_MONOTONIC, so timestamps read as when the samples were taken.
    voltage_mv : float
        Nominal voltage written for every sample.
    current_decimals : int
        Decimals of the current (0 to 6).

    Returns
    -------
    dict
        Paths written: ``log``, ``latency``, ``engine``, ``idle``.
    """
    t_ns = np.asarray(power_t_ns, dtype=np.int64)
    p_w = np.asarray(power_w, dtype=np.float64)
    if t_ns.ndim != 1 or p_w.shape != t_ns.shape:
        raise ValueError(f"power_t_ns and power_w must be 1-D of the same length, got shapes {t_ns.shape} and "
                         f"{p_w.shape}")
    if t_ns.shape[0] == 0:
        raise ValueError("no power samples to export")
    if np.any(np.diff(t_ns) < 0):
        raise ValueError("power_t_ns must be ascending (sort the samples by time)")
    if not np.all(np.isfinite(p_w)):
        raise ValueError("power_w holds NaN or infinite values; drop those samples first")
    if not (isinstance(idle_power_w, (int, float)) and math.isfinite(idle_power_w)):
        raise ValueError(f"idle_power_w must be a finite number of watts, got {idle_power_w!r}")
    if not (voltage_mv > 0 and math.isfinite(voltage_mv)):
        raise ValueError(f"voltage_mv must be positive, got {voltage_mv!r}")
    if not (isinstance(current_decimals, int) and 0 <= current_decimals <= 6):
        raise ValueError(f"current_decimals must be an integer 0-6, got {current_decimals!r}")
    if not layer_windows:
        raise ValueError("layer_windows is empty: give {layer_name: [(start_ns, end_ns), ...]}")
    if not isinstance(model, str) or not model or "/" in model:
        raise ValueError(f"model must be a folder name, got {model!r}")
    windows = {}
    cycles = None
    for name, wins in layer_windows.items():
        w = np.asarray(wins, dtype=np.int64)
        if w.ndim != 2 or w.shape[1] != 2:
            raise ValueError(f"layer {name!r}: windows must be (start_ns, end_ns) pairs, got shape {w.shape}")
        if cycles is None:
            cycles = w.shape[0]
        elif w.shape[0] != cycles:
            raise ValueError(f"layer {name!r} has {w.shape[0]} windows but the first layer has {cycles}; "
                             "give every layer one window per cycle")
        if np.any(w[:, 1] < w[:, 0]):
            raise ValueError(f"layer {name!r}: a window ends before it starts")
        windows[str(name)] = w
    if epoch is None:
        epoch = datetime.now() - timedelta(microseconds=time.monotonic_ns() // 1000)
    epoch_us = int(_ep.parse_timestamps([epoch.strftime("%Y%m%d-%H:%M:%S.%f")])[0])

    out = Path(out_dir)
    mdir = out / model
    (mdir / "trt_profiling").mkdir(parents=True, exist_ok=True)
    paths = {"log": mdir / f"{model}_power_log.log", "latency": mdir / "trt_profiling" / "trt_layer_latency.json",
             "engine": mdir / "trt_profiling" / "trt_engine_info.json", "idle": out / "idling_power.json"}

    t_us = epoch_us + t_ns // 1000
    mv = np.full(t_us.shape, float(voltage_mv))
    ma = np.round(p_w * 1e6 / voltage_mv, current_decimals)
    _write_bytes(paths["log"], _ep.render_power_log(t_us, mv, ma))

    latency: Dict[str, List[List[Any]]] = {}
    for name, w in windows.items():
        stamps = _ep.format_timestamps(epoch_us + w[:, 1] // 1000)
        lat_ms = (w[:, 1] - w[:, 0]) / 1e6
        latency[name] = [[float(m), s] for m, s in zip(lat_ms, stamps)]
    with open(paths["latency"], "w", encoding="utf-8") as f:
        json.dump(latency, f, indent=4)
    types = dict(layer_types or {})
    engine = {"Layers": [{"Name": n, "LayerType": str(types.get(n, "Unknown"))} for n in windows],
              "Bindings": [], "Source": "edgepower export (layer types from the caller, not TensorRT)"}
    with open(paths["engine"], "w", encoding="utf-8") as f:
        json.dump(engine, f, indent=4)
    first = epoch + timedelta(microseconds=int(t_ns[0] // 1000))
    with open(paths["idle"], "w", encoding="utf-8") as f:
        json.dump({"timestamp": first.strftime("%Y%m%d-%H%M%S"), "avg_idle_power": float(idle_power_w) * 1e6},
                  f, indent=4)
    log.info("wrote EdgeProfiler raw data for %s to %s (%d samples, %d layers x %d cycles)",
             model, out, t_ns.shape[0], len(windows), cycles)
    return paths
