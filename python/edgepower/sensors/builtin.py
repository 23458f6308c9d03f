"""The built-in sensor kinds: spec options parsed into native sensors (csrc/core/sensors/).

Each factory takes ``(args, options, root=, timeline=)`` from :func:`~edgepower.sensors.parse_spec`
and returns a native sensor (unavailable ones as null objects with the reason). A new kind is a
factory here plus one :func:`~edgepower.sensors.register_kind` line.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from .._native import core as _core
from .registry import SensorKind, register_kind

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


def _seed(options: Dict[str, str], kind: str) -> int:
    """The noise seed: an integer from 0 to 2**64 - 1 (the native generator's uint64)."""
    text = options.pop("seed", "1")
    try:
        value = float(text)
        seed = int(value) if value == int(value) else -1
    except (ValueError, OverflowError):
        seed = -1
    if not 0 <= seed < 2 ** 64:
        raise ValueError(f"sensor '{kind}': seed must be an integer from 0 to 2**64-1, got {text!r}")
    return seed


def _synthetic_options(options: Dict[str, str], kind: str) -> Dict[str, object]:
    o = dict(refresh_s=_float(options, "refresh", 0.0, kind=kind),
             noise_w=_float(options, "noise", 0.0, kind=kind),
             seed=_seed(options, kind),
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


def _cpu_figures(args, options, kind: str) -> Dict[str, object]:
    """idle=<W>, max=<W>, cpus=<n> of the CPU estimates (absent: the CPU table, else defaults)."""
    _no_args(args, kind, ("idle=<W>", "max=<W>", "cpus=<n>"))
    kwargs: Dict[str, object] = {}
    if "idle" in options:
        kwargs["idle_w"] = _float(options, "idle", kind=kind)
    if "max" in options:
        kwargs["max_w"] = _float(options, "max", kind=kind)
    if "cpus" in options:
        raw = options.pop("cpus")
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"sensor '{kind}': cpus must be the number of logical CPUs the idle/max figures "
                             f"are for (an integer >= 1), got {raw!r}")
        kwargs["cpus"] = int(raw)
    _no_leftovers(options, kind, ("idle", "max", "cpus"))
    return kwargs


def _cpu_estimate(args, options, root="/", timeline=None):
    return _core.CpuEstimateSensor(root, **_cpu_figures(args, dict(options), "cpu-estimate"))


def _cpu_process(args, options, root="/", timeline=None):
    return _core.CpuProcessSensor(root, **_cpu_figures(args, dict(options), "cpu-process"))


# auto_rank: energy counters first (nvml, rapl, hwmon energy), then hardware power sensors
# (Jetson INA3221), then the labelled per-process estimate; the system-wide cpu-estimate, replay and
# synthetic kinds are never automatic.
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
register_kind(SensorKind("cpu-process", "ESTIMATE from this process's CPU time (no power sensor; other "
                         "processes do not change it)", _cpu_process, auto_rank=100, example="cpu-process:idle=5,max=45"))
register_kind(SensorKind("cpu-estimate", "ESTIMATE from system-wide CPU utilisation (every process counts)",
                         _cpu_estimate, example="cpu-estimate:idle=5,max=45"))
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

__all__: List[str] = []
