"""The sensor registry: kinds, spec strings, construction and discovery.

A sensor is named by a spec string ``kind[:arg,arg,key=value,...]``, for example
``constant:5``, ``square:low=2,high=8,period=0.1`` or ``jetson-hwmon``. :func:`create_sensor`
turns a spec into a native sensor; :func:`sensors` lists every kind with whether it is available
here and why not. Discovery never raises; using an unavailable sensor raises
:class:`SensorUnavailable` with the reason and the fix.
"""
from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from .._native import core as _core
from .info import total_rail_name

SensorError = _core.SensorError
SensorUnavailable = _core.SensorUnavailable
Sensor = _core.Sensor

log = logging.getLogger("edgepower")

Factory = Callable[..., "_core.Sensor"]


@dataclass
class SensorKind:
    """A registered kind of sensor.

    ``factory(args, options, root=..., timeline=...)`` builds the sensor from a parsed spec;
    hardware kinds return an unavailable sensor (null object) rather than raising.
    ``auto_rank``: lower is preferred by ``sensor="auto"``; None never picked automatically.
    """

    name: str
    summary: str
    factory: Factory
    synthetic: bool = False
    auto_rank: Optional[int] = None
    example: str = ""


_KINDS: Dict[str, SensorKind] = {}


def register_kind(kind: SensorKind) -> None:
    """Adds (or replaces) a sensor kind."""
    _KINDS[kind.name] = kind


def kinds() -> List[str]:
    """Names of every registered sensor kind."""
    return sorted(_KINDS)


def parse_spec(spec: str) -> Tuple[str, List[str], Dict[str, str]]:
    """Splits ``kind:a,b,key=value`` into (kind, [a, b], {key: value})."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a sensor spec must be a non-empty string like 'constant:5', got {spec!r}")
    kind, _, rest = spec.strip().partition(":")
    args: List[str] = []
    options: Dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            options[key] = value
        else:
            args.append(part)
    return kind.strip().lower(), args, options


def _unknown_kind(kind: str) -> ValueError:
    close = difflib.get_close_matches(kind, list(_KINDS), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return ValueError(f"unknown sensor kind {kind!r}.{hint} Known kinds: {', '.join(kinds())} "
                      "(run `edgepower sensors` to see which are available here).")


def create_sensor(spec: Union[str, "_core.Sensor"] = "auto", *, root: str = "/",
                  timeline: Optional["_core.Timeline"] = None) -> "_core.Sensor":
    """Builds a sensor from a spec string (or returns a sensor object unchanged).

    Parameters
    ----------
    spec : str or Sensor
        ``"auto"`` picks the best available sensor: energy counters first, then hardware power
        sensors, then the CPU estimate. Otherwise ``kind[:args]``; see :func:`sensors`.
    root : str
        Filesystem root that sysfs-based sensors read under (tests pass fixture trees).
    timeline : Timeline, optional
        Needed by the ``regions`` synthetic sensor.

    Raises
    ------
    ValueError
        Unknown kind or a bad option, with what was expected.
    SensorUnavailable
        The sensor cannot be used here; the message says why and how to fix it.
    """
    if isinstance(spec, _core.Sensor):
        return spec
    kind, args, options = parse_spec(spec)
    if kind == "auto":
        if args or options:
            raise ValueError("'auto' takes no options; name a sensor kind to pass options")
        return _auto(root)
    if kind not in _KINDS:
        raise _unknown_kind(kind)
    sensor = _KINDS[kind].factory(args, options, root=root, timeline=timeline)
    sensor.require_available()
    return sensor


def _auto(root: str) -> "_core.Sensor":
    reasons = []
    for k in sorted((k for k in _KINDS.values() if k.auto_rank is not None), key=lambda k: k.auto_rank):
        try:
            sensor = k.factory([], {}, root=root, timeline=None)
        except (ValueError, OSError, SensorError) as exc:
            reasons.append(f"{k.name}: {exc}")
            continue
        if sensor.info.available:
            log.info("sensor=auto picked %s (%s)", k.name, sensor.info.description)
            return sensor
        reasons.append(f"{k.name}: {sensor.info.reason}")
    raise SensorUnavailable("sensor='auto' found no usable sensor here. " + " | ".join(reasons) +
                            " | For a synthetic source, pass e.g. sensor='constant:5'.")


def sensors(root: str = "/") -> List[Dict[str, object]]:
    """Every sensor kind with whether it is available here, and why not.

    Never raises. Each entry has: kind, available, reason, summary, rails, total_rail, units
    (text, e.g. ``"power W; energy counter J"``), has_power, has_counter, update_interval_s
    (NaN where the sensor does not say), estimated, synthetic, example, description.
    """
    out = []
    for name in kinds():
        k = _KINDS[name]
        entry: Dict[str, object] = {"kind": name, "summary": k.summary, "synthetic": k.synthetic,
                                    "example": k.example or name}
        try:
            info = k.factory([], {}, root=root, timeline=_core.Timeline()).info
            entry.update(available=info.available, reason=info.reason, rails=list(info.rails),
                         has_power=info.has_power, has_counter=info.has_counter,
                         update_interval_s=info.update_interval_s, estimated=info.estimated,
                         description=info.description, units=_units(info),
                         total_rail=total_rail_name(info))
        except Exception as exc:  # discovery never raises
            entry.update(available=False, reason=f"{type(exc).__name__}: {exc}", rails=[],
                         has_power=False, has_counter=False, update_interval_s=float("nan"),
                         estimated=False, description="", units="", total_rail="")
        out.append(entry)
    return out


def _units(info) -> str:
    """Units of a sensor's columns in words, e.g. ``"power W (derived from the counter); energy
    counter J, wraps at 262143.33 J"``."""
    parts = []
    if info.has_power:
        derived = str(info.details.get("power", "")).startswith("derived")
        parts.append("power W" + (" (derived from the counter)" if derived else ""))
    if info.has_counter:
        wrap = f", wraps at {info.counter_range_j:.6g} J" if info.counter_range_j > 0 else ""
        parts.append("energy counter J" + wrap)
    return "; ".join(parts)



__all__ = ["Factory", "Sensor", "SensorError", "SensorKind", "SensorUnavailable", "create_sensor", "kinds",
           "parse_spec", "register_kind", "sensors"]
