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
                         total_rail=(info.rails[info.total_rail] if 0 <= info.total_rail < len(info.rails)
                                     else "sum of rails"))
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


# ---- hardware and file sensors (native, csrc/core/sensors/) --------------------------------
def _no_args(args: Sequence[str], kind: str, allowed: Sequence[str]) -> None:
    if args:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes no options"
        raise ValueError(f"sensor '{kind}' got unexpected argument(s) {', '.join(args)}; {takes}")


def _jetson_hwmon(args, options, root="/", timeline=None):
    _no_args(args, "jetson-hwmon", ())
    _no_leftovers(dict(options), "jetson-hwmon", ("no options",))
    return _core.JetsonHwmonSensor(root)


def _jetson_iio(args, options, root="/", timeline=None):
    _no_args(args, "jetson-iio", ())
    _no_leftovers(dict(options), "jetson-iio", ("no options",))
    return _core.JetsonIioSensor(root)


def _hwmon(args, options, root="/", timeline=None):
    options = dict(options)
    _no_args(args, "hwmon", ("name=<hwmon name>", "mode=auto|energy|power"))
    name = options.pop("name", "")
    mode = options.pop("mode", "auto").lower()
    if mode not in ("auto", "energy", "power"):
        raise ValueError(f"sensor 'hwmon': mode must be auto, energy or power, got {mode!r}")
    _no_leftovers(options, "hwmon", ("name", "mode"))
    return _core.HwmonSensor(root, name=name, mode=mode)


def _rapl(args, options, root="/", timeline=None):
    _no_args(args, "rapl", ())
    _no_leftovers(dict(options), "rapl", ("no options",))
    return _core.RaplSensor(root)


def _nvml(args, options, root="/", timeline=None):
    options = dict(options)
    if len(args) > 1:
        raise ValueError(f"sensor 'nvml' takes one GPU index, got {', '.join(args)}")
    raw = options.pop("index", args[0] if args else "0")
    try:
        index = int(raw)
        if index < 0:
            raise ValueError
    except ValueError:
        raise ValueError(f"sensor 'nvml': index must be a GPU index >= 0 (see nvidia-smi -L), got {raw!r}") from None
    library = options.pop("library", "")
    _no_leftovers(options, "nvml", ("index", "library"))
    return _core.NvmlSensor(index, library)


def _replay(args, options, root="/", timeline=None):
    options = dict(options)
    if len(args) > 1:
        raise ValueError(f"sensor 'replay' takes one file, got {', '.join(args)}")
    path = options.pop("path", args[0] if args else "")
    speed = _float(options, "speed", 1.0, kind="replay")
    if not speed > 0:
        raise ValueError(f"sensor 'replay': speed must be > 0 (1 = real time), got {speed}")
    loop = options.pop("loop", "0").lower()
    if loop not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError(f"sensor 'replay': loop must be 1 (play again at the end) or 0, got {loop!r}")
    _no_leftovers(options, "replay", ("path", "speed", "loop"))
    return _core.ReplaySensor(path, speed, loop=loop in ("1", "true", "yes"))


def _cpu_estimate(args, options, root="/", timeline=None):
    options = dict(options)
    _no_args(args, "cpu-estimate", ("idle=<W>", "max=<W>"))
    kwargs = {}
    if "idle" in options:
        kwargs["idle_w"] = _float(options, "idle", kind="cpu-estimate")
    if "max" in options:
        kwargs["max_w"] = _float(options, "max", kind="cpu-estimate")
    _no_leftovers(options, "cpu-estimate", ("idle", "max"))
    return _core.CpuEstimateSensor(root, **kwargs)


# auto_rank: energy counters first (nvml, rapl, hwmon energy), then hardware power sensors
# (Jetson INA3221), then the labelled estimate; replay and synthetic kinds are never automatic.
register_kind(SensorKind("nvml", "NVIDIA GPU via NVML (energy counter, instant power field)", _nvml,
                         auto_rank=10, example="nvml:index=0"))
register_kind(SensorKind("rapl", "x86 CPU package/core/dram energy via RAPL powercap counters", _rapl,
                         auto_rank=20, example="rapl"))
register_kind(SensorKind("hwmon", "generic hwmon energy (uJ) or power (uW) files", _hwmon,
                         auto_rank=30, example="hwmon:mode=energy"))
register_kind(SensorKind("jetson-hwmon", "Jetson INA3221 rails via hwmon (JetPack 5+), P = V x I",
                         _jetson_hwmon, auto_rank=40, example="jetson-hwmon"))
register_kind(SensorKind("jetson-iio", "Jetson INA3221 rails via legacy IIO (JetPack 4, Nano/TX)",
                         _jetson_iio, auto_rank=41, example="jetson-iio"))
register_kind(SensorKind("cpu-estimate", "ESTIMATE from CPU utilisation (no power sensor)", _cpu_estimate,
                         auto_rank=100, example="cpu-estimate:idle=5,max=45"))
register_kind(SensorKind("replay", "plays a recorded trace (edgepower CSV or EdgeProfiler log) in real time",
                         _replay, example="replay:path=trace.csv"))

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
