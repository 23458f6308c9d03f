"""The checks of :class:`edgepower.PowerMonitor`'s keywords, run before its sensor is built or any
sampling starts: a ValueError or TypeError naming the keyword (an OSError for ``log_path``'s
folder, see :func:`edgepower.trace.check_output_path`)."""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from . import trace
from ._native import core as _core
from .energy.estimators import Estimator


#: ``rate_hz=REFRESH``: the sampler learns the sensor's refresh period and phase from its readings
#: and reads just after each refresh (falling back to polling at FALLBACK_RATE_HZ, and saying so in
#: ``stats()["refresh_note"]``, where the readings do not change on a regular refresh).
REFRESH = "refresh"
FALLBACK_RATE_HZ = 1000.0


def refresh_guess_s(info: Any, estimator: Any) -> Optional[float]:
    """The starting guess of a sensor's refresh period (s): the estimator's model, else the model
    known for the sensor (:func:`edgepower.sensors.model.model_for`), else None (the native
    sampler then uses the sensor's own ``update_interval_s``, if any)."""
    if estimator is not None:
        return float(estimator.model.refresh_s)
    from .sensors.model import model_for

    try:
        return float(model_for(info).refresh_s)
    except (ValueError, OSError):
        return None


def sampler_rate(rate_hz: Any, info: Any, estimator: Any) -> Tuple[float, Dict[str, Any]]:
    """(the nominal sample rate in Hz, the native Sampler's rate keywords) for a checked
    ``rate_hz``: in refresh mode the nominal rate is one sample per guessed refresh (the fallback
    rate without a guess), the rate the windows' padding and timeouts assume."""
    if rate_hz != REFRESH:
        return float(rate_hz), {"rate_hz": float(rate_hz)}
    guess = refresh_guess_s(info, estimator)
    if guess is None and info.update_interval_s > 0:
        guess = float(info.update_interval_s)
    nominal = 1.0 / guess if guess else FALLBACK_RATE_HZ
    return nominal, {"rate_hz": FALLBACK_RATE_HZ, "refresh": True, "refresh_guess_s": guess}


def check_keywords(*, rate_hz: Any, estimator: Any, max_consecutive_failures: Any, realtime: Any, timeline: Any,
                   root: Any, log_path: Any) -> None:
    if rate_hz == REFRESH:
        pass
    elif isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float)):
        raise ValueError(f"rate_hz must be a number of Hz or {REFRESH!r} (read each sensor refresh just after it), "
                         f"got {rate_hz!r}")
    else:
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


__all__ = ["FALLBACK_RATE_HZ", "REFRESH", "check_keywords", "refresh_guess_s", "sampler_rate"]
