"""The checks of :class:`edgepower.PowerMonitor`'s keywords, run before its sensor is built or any
sampling starts: a ValueError or TypeError naming the keyword (an OSError for ``log_path``'s
folder, see :func:`edgepower.trace.check_output_path`)."""
from __future__ import annotations

import os
from typing import Any

from . import trace
from ._native import core as _core
from .energy.estimators import Estimator


def check_keywords(*, rate_hz: Any, estimator: Any, max_consecutive_failures: Any, realtime: Any, timeline: Any,
                   root: Any, log_path: Any) -> None:
    if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float)):
        raise ValueError(f"rate_hz must be a number of Hz, got {rate_hz!r}")
    _core.Sampler.check_rate_hz(float(rate_hz))  # the range: one rule, in C++
    if estimator is not None and not isinstance(estimator, Estimator):
        raise TypeError(f"estimator must be an edgepower.energy.Estimator or None, got {type(estimator).__name__}")
    if isinstance(max_consecutive_failures, bool) or not isinstance(max_consecutive_failures, int) \
            or max_consecutive_failures < 1:
        raise ValueError(f"max_consecutive_failures must be an int >= 1, got {max_consecutive_failures!r}")
    if not isinstance(realtime, bool):
        raise ValueError(f"realtime must be True or False, got {realtime!r}")
    if timeline is not None and not isinstance(timeline, _core.Timeline):
        raise TypeError(f"timeline must be an edgepower Timeline or None, got {type(timeline).__name__}")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str), got {type(root).__name__}")
    if log_path is not None:
        trace.check_output_path(log_path, "log_path")  # a bad path fails here, not in start()


__all__ = ["check_keywords"]
