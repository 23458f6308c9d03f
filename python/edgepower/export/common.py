"""Helpers every export shares: number checks, JSON-ready values, the estimate notice."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

ESTIMATE_NOTE = ("NOTE: no power sensor measured these figures: every energy and power below is an ESTIMATE "
                 "from a model of the device, not a measurement (sensor {sensor}).")


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


__all__ = ["ESTIMATE_NOTE", "finite", "jsonable", "num"]
