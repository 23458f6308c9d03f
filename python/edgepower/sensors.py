"""Sensor kinds, spec strings and discovery.

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

from ._native import core as _core

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

    Never raises. Each entry has: kind, available, reason, summary, rails, units (has_power /
    has_counter), update_interval_s, estimated, synthetic, example.
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
                         description=info.description)
        except Exception as exc:  # discovery never raises
            entry.update(available=False, reason=f"{type(exc).__name__}: {exc}", rails=[],
                         has_power=False, has_counter=False, update_interval_s=float("nan"),
                         estimated=False, description="")
        out.append(entry)
    return out


# ---- option helpers -------------------------------------------------------------------------
def _float(options: Dict[str, str], key: str, default: Optional[float] = None, *, kind: str) -> float:
    if key not in options:
        if default is None:
            raise ValueError(f"sensor '{kind}' needs {key}=<number>")
        return default
    try:
        return float(options.pop(key))
    except ValueError:
        raise ValueError(f"sensor '{kind}': {key} must be a number") from None


def _synthetic_options(options: Dict[str, str], kind: str) -> Dict[str, object]:
    o = dict(refresh_s=_float(options, "refresh", 0.0, kind=kind),
             noise_w=_float(options, "noise", 0.0, kind=kind),
             seed=int(_float(options, "seed", 1.0, kind=kind)),
             counter=options.pop("counter", "0").lower() in ("1", "true", "yes"),
             counter_range_j=_float(options, "range", 0.0, kind=kind))
    return o


def _no_leftovers(options: Dict[str, str], kind: str, allowed: Sequence[str]) -> None:
    if options:
        raise ValueError(f"sensor '{kind}' does not take {', '.join(sorted(options))}; "
                         f"it takes {', '.join(allowed)}")


_COMMON = ("refresh", "noise", "seed", "counter", "range")


def _constant(args, options, root="/", timeline=None):
    options = dict(options)
    if "watts" in options:
        args = list(args) + [options.pop("watts")]
    try:
        watts = [float(a) for a in args] or [5.0]
    except ValueError:
        raise ValueError(f"constant sensor levels must be numbers (W), got {args}") from None
    syn = _synthetic_options(options, "constant")
    _no_leftovers(options, "constant", ("<watts>[,<watts>...]",) + _COMMON)
    return _core.ConstantSensor(watts, **syn)


def _square(args, options, root="/", timeline=None):
    options = dict(options)
    low = _float(options, "low", 2.0, kind="square")
    high = _float(options, "high", 8.0, kind="square")
    period = _float(options, "period", 0.1, kind="square")
    duty = _float(options, "duty", 0.5, kind="square")
    syn = _synthetic_options(options, "square")
    _no_leftovers(options, "square", ("low", "high", "period", "duty") + _COMMON)
    return _core.SquareSensor(low, high, period, duty, **syn)


def _pairs(args: Sequence[str], kind: str) -> List[Tuple[str, str]]:
    pairs = []
    for a in args:
        if "/" not in a:
            raise ValueError(f"sensor '{kind}' takes pairs like 0/1.5 (time_s/watts or region/watts), got {a!r}")
        x, y = a.split("/", 1)
        pairs.append((x.strip(), y.strip()))
    return pairs


def _piecewise(args, options, root="/", timeline=None):
    options = dict(options)
    points = _pairs(args, "piecewise") or [("0", "2"), ("1", "8"), ("2", "2")]
    try:
        times = [float(t) for t, _ in points]
        watts = [float(w) for _, w in points]
    except ValueError:
        raise ValueError("piecewise points must be numbers: time_s/watts") from None
    step = options.pop("step", "0").lower() in ("1", "true", "yes")
    syn = _synthetic_options(options, "piecewise")
    _no_leftovers(options, "piecewise", ("<t_s>/<watts>...", "step") + _COMMON)
    return _core.PiecewiseSensor(times, watts, step, **syn)


def _regions(args, options, root="/", timeline=None):
    options = dict(options)
    try:
        levels = {name: float(w) for name, w in _pairs(args, "regions")}
    except ValueError:
        raise ValueError("regions levels must be region/watts with numeric watts") from None
    idle = _float(options, "idle", 0.0, kind="regions")
    syn = _synthetic_options(options, "regions")
    _no_leftovers(options, "regions", ("<region>/<watts>...", "idle") + _COMMON)
    return _core.RegionSensor(timeline if timeline is not None else _core.Timeline(), levels, idle, **syn)


register_kind(SensorKind("constant", "synthetic constant power per rail", _constant, synthetic=True,
                         example="constant:5"))
register_kind(SensorKind("square", "synthetic square wave", _square, synthetic=True,
                         example="square:low=2,high=8,period=0.1"))
register_kind(SensorKind("piecewise", "synthetic piecewise-linear profile (time_s/watts points)",
                         _piecewise, synthetic=True, example="piecewise:0/2,1/8,2/2,step=1"))
register_kind(SensorKind("regions", "synthetic: power follows the active timeline region", _regions,
                         synthetic=True, example="regions:conv/9,fc/4,idle=2"))

__all__ = ["Sensor", "SensorError", "SensorKind", "SensorUnavailable", "create_sensor", "kinds",
           "parse_spec", "register_kind", "sensors"]
