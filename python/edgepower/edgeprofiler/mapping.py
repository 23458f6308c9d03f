"""Mapping an EdgeProfiler power log onto TensorRT layer windows: upstream's rule exactly
("compat") or trapezoid energy per window ("corrected"). The sweeps run natively."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

import numpy as np

from .._native import core as _core
from .formats import (COMPAT_COLUMNS, EMPTY_SHARE_WARN, EP, OVERLAP_SHARE_WARN, POWER_EXCL, POWER_INCL,
                      EdgeProfilerError, EdgeProfilerWarning, PathLike)
from .raw import raw_paths, read_idle_uw, read_latencies, read_layer_types, read_log
from .tables import pandas_module, write_table

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


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
    pd = pandas_module()
    paths = _model_paths(raw_dir, model)
    notes: List[str] = []
    idle_uw = read_idle_uw(paths["idle"]) if idle_power_uw is None else float(idle_power_uw)
    names, latency_ms, end_lc, run_time_int, cycles = read_latencies(paths["latency"])
    types = read_layer_types(paths["engine"], names, notes)
    plog = read_log(paths["log"])
    _check_order(plog, paths["log"], mode, notes)
    t_us = plog["t_us"]
    power_uw = plog["voltage_mv"] * plog["current_ma"]

    start_lc = end_lc - EP.timedelta_ms_to_us(latency_ms.ravel()).reshape(latency_ms.shape)
    # Rows go cycle by cycle, then layers in key order: row r = cycle * L + layer.
    start = np.ascontiguousarray(start_lc.T).ravel()
    end = np.ascontiguousarray(end_lc.T).ravel()
    sweep = _compat if mode == "compat" else _corrected
    cols, n_rows, empty = sweep(t_us, power_uw, start, end, idle_uw, len(names), notes)
    overlap = _overlap_share(start_lc, end_lc)
    empty_share = empty / n_rows if n_rows else 1.0
    _note_clustering(overlap, empty_share, mode, notes)

    layer_idx = np.tile(np.arange(len(names), dtype=np.int32), cycles)[:n_rows]
    run_time = np.ascontiguousarray(latency_ms.T).ravel()[:n_rows]
    data: Dict[str, Any] = {
        "cycle": (np.arange(n_rows, dtype=np.int64) // len(names)) + 1,
        "layer_name": np.array(names, dtype=object)[layer_idx],
        "layer_type": np.array(types, dtype=object)[layer_idx],
        "layer_run_time": run_time.astype(np.int64) if run_time_int else run_time,
    }
    data.update({k: v[:n_rows] for k, v in cols.items()})
    df = pd.DataFrame(data)[COMPAT_COLUMNS + [c for c in cols if c not in COMPAT_COLUMNS]]

    for note in notes:
        warnings.warn(note, EdgeProfilerWarning, stacklevel=2)
    df.attrs["mode"] = mode
    df.attrs["warnings"] = list(notes)
    df.attrs["diagnostics"] = {
        "rows_expected": int(start.shape[0]),
        "rows": n_rows,
        "rows_dropped": int(start.shape[0]) - n_rows,
        "rows_with_samples": n_rows - empty,
        "empty_window_share": empty_share,
        "overlapping_window_share": overlap,
        "cycles": cycles,
        "layers": len(names),
        "samples": int(t_us.shape[0]),
        "blank_lines": int(plog["blank_lines"]),
        "log_backward_steps": int(plog["backward_steps"]),
        "idle_power_uw": idle_uw,
    }
    if output is not None:
        write_table(output, df, layer_idx, names, types)
    return df


def _model_paths(raw_dir: PathLike, model: str) -> Dict[str, Path]:
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise FileNotFoundError(f"EdgeProfiler raw directory {raw} does not exist")
    if not isinstance(model, str) or not model or "/" in model or model in (".", ".."):
        raise ValueError(f"model must be the name of a folder inside {raw}, got {model!r}")
    paths = raw_paths(raw, model)
    if not paths["dir"].is_dir():
        found = sorted(p.name for p in raw.iterdir() if p.is_dir())
        raise FileNotFoundError(f"no model folder {paths['dir']}; models in {raw}: {', '.join(found) or 'none'}")
    return paths


def _check_order(plog: Dict[str, Any], path: Path, mode: str, notes: List[str]) -> None:
    """A log that goes back in time: an error for the corrected mode, a note for compat."""
    if not plog["backward_steps"]:
        return
    msg = (f"power log {path} goes back in time {plog['backward_steps']} times (first at line "
           f"{plog['first_backward_line']})")
    if mode == "corrected":
        raise EdgeProfilerError(msg + "; the corrected mode integrates over time and needs the samples in "
                                "order: sort the log by its first column, or use mode='compat', which reads "
                                "it in file order as upstream does")
    notes.append(msg + "; compat mode reads it in file order as upstream does, so samples after a jump "
                 "backwards may be skipped")


def _compat(t_us: np.ndarray, power_uw: np.ndarray, start: np.ndarray, end: np.ndarray, idle_uw: float,
            num_layers: int, notes: List[str]) -> Tuple[Dict[str, Any], int, int]:
    """Upstream's sweep: (power columns, rows emitted, rows without a sample)."""
    mean_uw, counts, emitted = EP.compat_sweep(t_us, power_uw, start, end)
    # Upstream leaves the net figure empty when the mean is missing or exactly 0.
    excl = np.where(mean_uw != 0, mean_uw - idle_uw, np.nan)
    n_rows, rows_total = int(emitted), int(start.shape[0])
    if n_rows < rows_total:
        last_cycle = n_rows // num_layers + (1 if n_rows % num_layers else 0)
        notes.append(f"the power log ends before the layer windows: {rows_total - n_rows} of {rows_total} rows "
                     f"dropped after cycle {last_cycle} (upstream's rule)")
    return {POWER_INCL: mean_uw, POWER_EXCL: excl}, n_rows, int((counts == 0).sum())


def _corrected(t_us: np.ndarray, power_uw: np.ndarray, start: np.ndarray, end: np.ndarray, idle_uw: float,
               num_layers: int, notes: List[str]) -> Tuple[Dict[str, Any], int, int]:
    """Trapezoid energy per window: (columns, rows, rows without a sample)."""
    res = EP.corrected_windows(t_us, power_uw, start, end, idle_uw)
    status = res["status"]
    reasons = np.array([""] + [_core.status_message(k) for k in range(1, 7)], dtype=object)
    counts = res["num_samples"]
    cols = {
        POWER_INCL: res["mean_power_uw"],
        POWER_EXCL: res["mean_power_excl_idle_uw"],
        "layer_energy_including_idle_power_micro_joule": res["energy_uj"],
        "layer_energy_excluding_idle_power_micro_joule": res["energy_excl_idle_uj"],
        "num_samples": counts,
        "reason": reasons[np.minimum(status, 6)],
    }
    missing = int((status != 0).sum())
    if missing:
        notes.append(f"{missing} of {start.shape[0]} windows have no energy (e.g. "
                     f"{_core.status_message(int(status[status != 0][0]))})")
    return cols, int(start.shape[0]), int((counts == 0).sum())


def _note_clustering(overlap: float, empty_share: float, mode: str, notes: List[str]) -> None:
    """TensorRT's after-inference timestamps: most windows overlap and most hold no sample."""
    if overlap > OVERLAP_SHARE_WARN and empty_share > EMPTY_SHARE_WARN:
        notes.append(
            f"the layer timestamps cluster at the end of each cycle: {overlap:.0%} of consecutive layer windows "
            f"overlap and {empty_share:.0%} of windows hold no power sample. TensorRT reports layer times after "
            "the whole inference, so these windows do not cover the layers' execution; "
            + ("the compat figures repeat whatever samples fall there." if mode == "compat" else
               "the corrected energies integrate the right length of power but at the wrong time: treat them as "
               "the cycle's average, not per-layer measurements."))


__all__ = ["map_power_to_layers"]
