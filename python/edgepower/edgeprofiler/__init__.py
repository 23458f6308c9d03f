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

Modules: :mod:`.formats` (names, columns, errors), :mod:`.raw` (reading the raw layout),
:mod:`.mapping` (the mapping), :mod:`.tables` (CSV and averages), :mod:`.write` (export).
"""
from __future__ import annotations

from .formats import (COMPAT_COLUMNS, CORRECTED_COLUMNS, MAPPING_CSV, POWER_EXCL, POWER_INCL, EdgeProfilerError,
                      EdgeProfilerWarning)
from .mapping import map_power_to_layers
from .tables import layer_averages, layer_stats, write_mapping_csv
from .write import write_raw_dir

__all__ = [
    "COMPAT_COLUMNS",
    "CORRECTED_COLUMNS",
    "MAPPING_CSV",
    "POWER_EXCL",
    "POWER_INCL",
    "EdgeProfilerError",
    "EdgeProfilerWarning",
    "layer_averages",
    "layer_stats",
    "map_power_to_layers",
    "write_mapping_csv",
    "write_raw_dir",
]
