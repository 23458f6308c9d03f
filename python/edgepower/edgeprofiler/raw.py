"""Reading EdgeProfiler's raw layout: idle power, TensorRT layer latencies and types, the power log."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .formats import TS_FORMAT, EdgeProfilerError, EP

def raw_paths(raw_dir: Path, model: str) -> Dict[str, Path]:
    mdir = raw_dir / model
    return {
        "dir": mdir,
        "log": mdir / f"{model}_power_log.log",
        "latency": mdir / "trt_profiling" / "trt_layer_latency.json",
        "engine": mdir / "trt_profiling" / "trt_engine_info.json",
        "idle": raw_dir / "idling_power.json",
    }


def require_file(path: Path, what: str, hint: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"missing {what}: {path} does not exist. {hint}")


def load_json(path: Path, what: str) -> Any:
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise EdgeProfilerError(f"{what} {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise EdgeProfilerError(f"{what} {path} is not UTF-8 text ({exc.reason})") from None


def read_idle_uw(path: Path) -> float:
    require_file(path, "idle power file", "EdgeProfiler writes idling_power.json next to the model folders; "
             "create it as {\"avg_idle_power\": <microwatts>} or pass idle_power_uw=.")
    doc = load_json(path, "idle power file")
    if not isinstance(doc, dict) or "avg_idle_power" not in doc:
        raise EdgeProfilerError(f"idle power file {path} has no \"avg_idle_power\" key; expected "
                                "{\"timestamp\": \"%Y%m%d-%H%M%S\", \"avg_idle_power\": <microwatts>}")
    v = doc["avg_idle_power"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise EdgeProfilerError(f"idle power file {path}: avg_idle_power must be a finite number of "
                                f"microwatts, got {v!r}")
    return float(v)


def read_latencies(path: Path) -> Tuple[List[str], np.ndarray, np.ndarray, bool, int]:
    """Layer names (execution order), latency_ms and end_us as [layer, cycle] arrays."""
    require_file(path, "TensorRT layer latency file", "EdgeProfiler's TensorRT profiler writes it under "
             "<model>/trt_profiling/; check RAW_DIR and --model.")
    doc = load_json(path, "layer latency file")
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
        end_us = EP.parse_timestamps(stamps)
    except ValueError as exc:
        if bad is None:
            bad = int(str(exc).split("#", 1)[1].split()[0])
        name, c = names[bad // cycles], bad % cycles + 1
        raise EdgeProfilerError(f"layer latency file {path}: layer {name!r} cycle {c} has timestamp "
                                f"{stamps[bad]!r}; expected \"{TS_FORMAT}\" (fraction of 1 to 6 digits)") from None
    latency_ms = lat_arr.reshape(len(names), cycles)
    return names, latency_ms, np.asarray(end_us).reshape(len(names), cycles), all_int, cycles


def read_layer_types(path: Path, names: Sequence[str], notes: List[str]) -> List[str]:
    if not path.is_file():
        notes.append(f"no TensorRT engine info at {path}: every layer_type is 'Unknown'")
        return ["Unknown"] * len(names)
    doc = load_json(path, "engine info file")
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


def read_log(path: Path) -> Dict[str, Any]:
    require_file(path, "power log", "EdgeProfiler's power logger writes <model>/<model>_power_log.log; "
             "check RAW_DIR and --model.")
    try:
        parsed = EP.read_power_log(os.fspath(path))
    except EP.ParseError as exc:
        raise EdgeProfilerError(f"{path}: {exc}") from None
    except RuntimeError as exc:
        raise EdgeProfilerError(str(exc)) from None
    if len(parsed["t_us"]) == 0:
        raise EdgeProfilerError(f"power log {path} has no samples ({parsed['blank_lines']} blank lines); "
                                "the power logger must run while the model is profiled")
    return parsed


__all__: List[str] = []
