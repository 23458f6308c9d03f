"""The profiler's settings as one validated record, so every check happens once, before any work.

:class:`ProfileOptions` holds what both modes use; :class:`InSituOptions` what only in-situ mode
uses. Both check their values in ``__post_init__`` and raise ValueError saying what is allowed.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Optional, Union

from .allocator import ALLOCATOR_MODES

log = logging.getLogger("edgepower")

#: Modes of :class:`edgepower.LayerProfiler`.
MODES = ("isolation", "in-situ")


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def check_mode(mode: Any) -> str:
    """The mode, or a ValueError listing the modes."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"unknown profiling mode {mode!r}; modes: {', '.join(repr(m) for m in MODES)} "
                         "('isolation': each layer alone in repeated windows; 'in-situ': the whole model "
                         "repeatedly, samples attributed to the layer running when they were taken)")
    return mode


ATTRIBUTIONS = ("auto", "assignment")

#: Default relative half-width (%) of the 95 % CI each call site is measured to in isolation
#: (extra rounds for the sites above it: :mod:`edgepower.profile.precision`).
DEFAULT_CI_TARGET_PCT = 10.0


@dataclass(frozen=True)
class InSituOptions:
    """Settings of in-situ mode (see :class:`edgepower.LayerProfiler`): ``sync_layers`` (CUDA:
    synchronise in every hook), ``max_delay_s`` (random delay before each forward; None: the
    sensor's update interval, at least two sample periods), ``max_round_s`` (longest round of
    adaptive forwards), ``attribution`` (``"auto"``: deconvolution where the sensor integrates
    over its readings (an INA3221 model, known or identified), else assignment of readings to
    the window they fall in; ``"assignment"`` keeps assignment; docs/profiler.md)."""

    sync_layers: bool = False
    max_delay_s: Optional[float] = None
    max_round_s: float = 5.0
    attribution: str = "auto"

    def __post_init__(self) -> None:
        _require(isinstance(self.sync_layers, bool), f"sync_layers must be True or False, got {self.sync_layers!r}")
        _require(self.max_delay_s is None or (_number(self.max_delay_s) and self.max_delay_s >= 0),
                 f"max_delay_s must be a number of seconds >= 0 or None (auto), got {self.max_delay_s!r}")
        _require(_number(self.max_round_s) and self.max_round_s > 0,
                 f"max_round_s must be a positive number of seconds, got {self.max_round_s!r}")
        _require(self.attribution in ATTRIBUTIONS,
                 f"attribution must be one of {', '.join(ATTRIBUTIONS)}, got {self.attribution!r}")


@dataclass(frozen=True)
class ProfileOptions:
    """Settings of a profile (the keywords of :class:`edgepower.LayerProfiler`, which documents
    each one)."""

    mode: str = "isolation"
    repeats: Union[str, int] = "auto"
    min_window_s: float = 0.2
    k_updates: float = 10.0
    min_repeats: int = 3
    warmup: int = 2
    rounds: int = 3
    idle_s: float = 1.0
    idle_power_w: Optional[float] = None
    seed: int = 0
    trace_model: bool = False
    edge_retries: int = 2
    in_situ: InSituOptions = field(default_factory=InSituOptions)
    #: A window edge whose neighbouring samples are further apart than this many sample periods
    #: is measured again (isolation).
    edge_gap_periods: float = 4.0
    #: ``"auto"``: the sensor-aware estimator wherever a model is known or identified
    #: (:mod:`edgepower.profile.identify`); ``"plain"``: the trapezoid / counter difference.
    estimator: str = "auto"
    #: Isolation: ``"model"``: a layer's weights and output are as cold in cache as in the model's
    #: forward (:mod:`edgepower.profile.cache`); ``"warm"``: every layer measured warm.
    cache_context: str = "model"
    #: Isolation: sites whose net energy's 95 % CI is wider than this % of it (and excludes zero)
    #: get extra rounds, up to ``max_rounds`` (None: 4 x ``rounds``) and half the planned rounds'
    #: time (:mod:`edgepower.profile.precision`); None: exactly ``rounds`` rounds.
    ci_target_pct: Optional[float] = DEFAULT_CI_TARGET_PCT
    max_rounds: Optional[int] = None
    #: ``"steady"``: glibc keeps freed activations for reuse (:mod:`edgepower.profile.allocator`;
    #: set for the rest of the process); ``"as-is"``: the allocator is left alone.
    allocator: str = "steady"

    def __post_init__(self) -> None:
        check_mode(self.mode)
        r = self.repeats
        _require(r == "auto" if isinstance(r, str) else (isinstance(r, int) and not isinstance(r, bool) and r > 0),
                 f"repeats must be 'auto' or a positive number of calls per window, got {r!r}")
        _require(_number(self.min_window_s) and self.min_window_s > 0,
                 f"min_window_s must be a positive number of seconds, got {self.min_window_s!r}")
        _require(_number(self.k_updates) and self.k_updates > 0,
                 f"k_updates must be a positive number of sensor update intervals, got {self.k_updates!r}")
        for name, low in (("min_repeats", 1), ("warmup", 0), ("rounds", 1), ("edge_retries", 0), ("seed", -(2 ** 63))):
            v = getattr(self, name)
            _require(isinstance(v, int) and not isinstance(v, bool) and v >= low,
                     f"{name} must be an int >= {low}, got {v!r}")
        _require(self.ci_target_pct is None or (_number(self.ci_target_pct) and self.ci_target_pct > 0),
                 f"ci_target_pct must be a percentage > 0 (the 95 % CI's half-width each site is measured to) or "
                 f"None (exactly `rounds` rounds), got {self.ci_target_pct!r}")
        _require(self.max_rounds is None or (isinstance(self.max_rounds, int) and not isinstance(self.max_rounds, bool)
                                             and self.max_rounds >= self.rounds),
                 f"max_rounds must be an int >= rounds ({self.rounds}) or None (4 x rounds), got {self.max_rounds!r}")
        _require(self.allocator in ALLOCATOR_MODES,
                 f"allocator must be one of {', '.join(map(repr, ALLOCATOR_MODES))} ('steady': freed activations "
                 f"kept for reuse, 'as-is': the C allocator left alone), got {self.allocator!r}")
        _require(_number(self.idle_s) and self.idle_s >= 0,
                 f"idle_s must be a number of seconds >= 0 (0: no idle baseline), got {self.idle_s!r}")
        _require(self.idle_power_w is None or (_number(self.idle_power_w) and self.idle_power_w >= 0),
                 f"idle_power_w must be a power in W >= 0, got {self.idle_power_w!r}")
        _require(isinstance(self.trace_model, bool), f"trace_model must be True or False, got {self.trace_model!r}")
        _require(isinstance(self.in_situ, InSituOptions), "in_situ must be an InSituOptions")
        _require(self.estimator in ("auto", "plain"), f"estimator must be 'auto' (the sensor-aware estimator where a "
                 f"model is known or identified) or 'plain', got {self.estimator!r}")
        _require(self.cache_context in ("model", "warm"), "cache_context must be 'model' (each layer as cold in "
                 f"cache as in the model's forward) or 'warm', got {self.cache_context!r}")
        if self.mode != "in-situ" and (self.in_situ.sync_layers or self.in_situ.max_delay_s is not None):
            log.info("sync_layers and max_delay_s apply to mode='in-situ' only; ignored in %s mode", self.mode)

    @property
    def fixed_repeats(self) -> Optional[int]:
        """The fixed number of calls per window, or None for adaptive windows."""
        return self.repeats if isinstance(self.repeats, int) else None

    def as_dict(self) -> Dict[str, Any]:
        """For the provenance."""
        d = asdict(self)
        d.update(d.pop("in_situ"))
        return d


__all__ = ["DEFAULT_CI_TARGET_PCT", "InSituOptions", "MODES", "ProfileOptions", "check_mode"]
