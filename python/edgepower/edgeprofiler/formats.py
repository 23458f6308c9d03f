"""EdgeProfiler's formats: file names, columns, and the errors raised for their data."""
from __future__ import annotations

import logging
import os
from typing import Union

from .._native import core as _core

log = logging.getLogger("edgepower.edgeprofiler")
EP = _core.edgeprofiler

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
TS_FORMAT = "YYYYmmdd-HH:MM:SS.ffffff"
# The corrected mode warns when more than these shares of windows are empty / overlap.
EMPTY_SHARE_WARN = 0.5
OVERLAP_SHARE_WARN = 0.5


class EdgeProfilerError(ValueError):
    """Bad input in an EdgeProfiler raw directory (the message says which file and how to fix it)."""


class EdgeProfilerWarning(UserWarning):
    """Something in EdgeProfiler data that makes figures doubtful; also listed in the result."""


__all__ = ["COMPAT_COLUMNS", "CORRECTED_COLUMNS", "MAPPING_CSV", "POWER_EXCL", "POWER_INCL", "EdgeProfilerError", "EdgeProfilerWarning", "PathLike"]
