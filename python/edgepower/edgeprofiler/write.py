"""Writing edgepower measurements in EdgeProfiler's raw layout."""
from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .formats import PathLike, EP, log
from .tables import write_bytes

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
    epoch_us = int(EP.parse_timestamps([epoch.strftime("%Y%m%d-%H:%M:%S.%f")])[0])

    out = Path(out_dir)
    mdir = out / model
    (mdir / "trt_profiling").mkdir(parents=True, exist_ok=True)
    paths = {"log": mdir / f"{model}_power_log.log", "latency": mdir / "trt_profiling" / "trt_layer_latency.json",
             "engine": mdir / "trt_profiling" / "trt_engine_info.json", "idle": out / "idling_power.json"}

    t_us = epoch_us + t_ns // 1000
    mv = np.full(t_us.shape, float(voltage_mv))
    ma = np.round(p_w * 1e6 / voltage_mv, current_decimals)
    write_bytes(paths["log"], EP.render_power_log(t_us, mv, ma))

    latency: Dict[str, List[List[Any]]] = {}
    for name, w in windows.items():
        stamps = EP.format_timestamps(epoch_us + w[:, 1] // 1000)
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


__all__ = ["write_raw_dir"]
