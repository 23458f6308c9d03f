"""Helpers every export shares: number checks, JSON-ready values, the estimate notice."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

ESTIMATE_NOTE = ("NOTE: no power sensor measured these figures: every energy and power below is an ESTIMATE "
                 "from a model of the device, not a measurement (sensor {sensor}).")


#: Short precision names, as energy harnesses spell them in file names (``fp32_per_layer_energy.csv``).
DTYPE_SHORT = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "int8": "int8", "float64": "fp64"}


def short_dtype(dtype: str) -> str:
    """``fp32``, ``fp16``, ``bf16``, ``int8`` for a precision name ('' stays '')."""
    return DTYPE_SHORT.get(dtype, dtype.replace("float", "fp"))


def finite(x: Any) -> bool:
    """True for an int or float (not bool) that is finite."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def jsonable(obj: Any) -> Any:
    """NaN and infinities become None; NumPy scalars and arrays become Python values."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def num(x: Any, fmt: str, width: int) -> str:
    """``x`` formatted, or ``n/a`` right-aligned when it is not a finite number."""
    return f"{x:{width}{fmt}}" if finite(x) else f"{'n/a':>{width}}"


__all__ = ["DTYPE_SHORT", "ESTIMATE_NOTE", "finite", "jsonable", "num", "short_dtype"]
