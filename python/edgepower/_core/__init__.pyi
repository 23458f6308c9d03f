"""
edgepower native core: sampler thread, timeline, energy integration, sensors
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
from . import edgeprofiler
__all__: list[str] = ['ConstantSensor', 'CpuEstimateSensor', 'FailingSensor', 'HwmonSensor', 'Ina3221Emulator', 'Ina3221Registers', 'JetsonHwmonSensor', 'JetsonIioSensor', 'NvmlCounterEmulator', 'NvmlInstantEmulator', 'NvmlLikeSensor', 'NvmlSensor', 'PiecewiseSensor', 'RaplSensor', 'RegionSensor', 'ReplaySensor', 'Sampler', 'Sensor', 'SensorError', 'SensorInfo', 'SensorUnavailable', 'SquareSensor', 'SyntheticSensor', 'Timeline', 'assign_samples', 'attribute_windows', 'counter_delta', 'counter_energy', 'edgeprofiler', 'integrate_power', 'now_ns', 'repeat_stats', 'status_message', 'student_t_quantile', 'unwrap_counter']
class Timeline:
    """
    Append-only log of region begin/end marks on the monotonic clock; mark() is lock-free and callable from any thread.
    """
    def __init__(self) -> None:
        ...
    def __len__(self) -> int:
        ...
    def begin(self, id: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Marks the beginning of region `id` now.
        """
    def end(self, id: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Marks the end of region `id` now.
        """
    def mark(self, id: typing.SupportsInt | typing.SupportsIndex, begin: bool) -> None:
        ...
    def mark_at(self, t_ns: typing.SupportsInt | typing.SupportsIndex, id: typing.SupportsInt | typing.SupportsIndex, begin: bool) -> None:
        ...
    def marks(self, begin: typing.SupportsInt | typing.SupportsIndex = 0) -> dict:
        """
        Marks from index `begin` as arrays t_ns, region, kind (1 = begin).
        """
    def merge(self, t_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], region: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], kind: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8]) -> None:
        """
        Appends marks taken elsewhere on the same clock (kind 1 = begin, 0 = end).
        """
    def region(self, name: str) -> int:
        """
        Id of the named region (created once).
        """
    def region_name(self, id: typing.SupportsInt | typing.SupportsIndex) -> str:
        ...
    def windows(self) -> dict:
        """
        Matched begin/end pairs sorted by begin: arrays region, t0_ns, t1_ns.
        """
    @property
    def num_regions(self) -> int:
        ...
class SensorError(RuntimeError):
    pass
class SensorUnavailable(SensorError):
    pass
class SensorInfo:
    """
    What a sensor measures and how (provenance).
    """
    def __repr__(self) -> str:
        ...
    def to_dict(self) -> dict:
        ...
    @property
    def available(self) -> bool:
        ...
    @property
    def counter_range_j(self) -> float:
        ...
    @property
    def description(self) -> str:
        ...
    @property
    def details(self) -> dict[str, str]:
        ...
    @property
    def estimated(self) -> bool:
        ...
    @property
    def has_counter(self) -> bool:
        ...
    @property
    def has_power(self) -> bool:
        ...
    @property
    def kind(self) -> str:
        ...
    @property
    def power_derived(self) -> bool:
        ...
    @property
    def rails(self) -> list[str]:
        ...
    @property
    def reason(self) -> str:
        ...
    @property
    def total_rail(self) -> int:
        ...
    @property
    def update_interval_s(self) -> float:
        ...
class Sensor:
    """
    A power source read by the sampler thread.
    """
    def read(self) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
        """
        Reads once: (power_w per rail, counter_j per rail; NaN where not provided).
        """
    def require_available(self) -> None:
        """
        Raises SensorUnavailable with the reason if this sensor cannot be used here.
        """
    @property
    def info(self) -> SensorInfo:
        ...
    @property
    def num_rails(self) -> int:
        ...
class SyntheticSensor(Sensor):
    def energy_at(self, t_ns: typing.SupportsInt | typing.SupportsIndex) -> list[float]:
        """
        True energy per rail from origin to t_ns (J).
        """
    def power_at(self, t_ns: typing.SupportsInt | typing.SupportsIndex) -> list[float]:
        """
        True power per rail at t_ns (no noise, no hold).
        """
    @property
    def origin_ns(self) -> int:
        ...
class ConstantSensor(SyntheticSensor):
    def __init__(self, watts: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], rails: collections.abc.Sequence[str] = [], refresh_s: typing.SupportsFloat | typing.SupportsIndex = 0.0, noise_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 1, counter: bool = False, counter_range_j: typing.SupportsFloat | typing.SupportsIndex = 0.0, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1, power: bool = True) -> None:
        """
        power=False with counter=True: a counter-only sensor (power_w NaN).
        """
class SquareSensor(SyntheticSensor):
    def __init__(self, low_w: typing.SupportsFloat | typing.SupportsIndex, high_w: typing.SupportsFloat | typing.SupportsIndex, period_s: typing.SupportsFloat | typing.SupportsIndex, duty: typing.SupportsFloat | typing.SupportsIndex = 0.5, refresh_s: typing.SupportsFloat | typing.SupportsIndex = 0.0, noise_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 1, counter: bool = False, counter_range_j: typing.SupportsFloat | typing.SupportsIndex = 0.0, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        ...
class PiecewiseSensor(SyntheticSensor):
    def __init__(self, times_s: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], watts: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], step: bool = False, refresh_s: typing.SupportsFloat | typing.SupportsIndex = 0.0, noise_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 1, counter: bool = False, counter_range_j: typing.SupportsFloat | typing.SupportsIndex = 0.0, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        ...
class RegionSensor(SyntheticSensor):
    def __init__(self, timeline: Timeline, levels_w: collections.abc.Mapping[str, typing.SupportsFloat | typing.SupportsIndex], idle_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, refresh_s: typing.SupportsFloat | typing.SupportsIndex = 0.0, noise_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 1, counter: bool = False, counter_range_j: typing.SupportsFloat | typing.SupportsIndex = 0.0, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        ...
    @property
    def levels_w(self) -> dict[str, float]:
        ...
    @property
    def timeline(self) -> Timeline:
        ...
class FailingSensor(Sensor):
    def __init__(self, inner: Sensor, ok_reads: typing.SupportsInt | typing.SupportsIndex, fail_reads: typing.SupportsInt | typing.SupportsIndex, message: str = 'injected failure') -> None:
        ...
class JetsonHwmonSensor(Sensor):
    """
    Jetson INA3221 via hwmon (JetPack 5+): in<i>_input mV x curr<i>_input mA per labelled rail; NC and sum channels skipped; total VDD_IN, else POM_5V_IN, else the sum.
    """
    def __init__(self, root: str = '/') -> None:
        ...
class JetsonIioSensor(Sensor):
    """
    Jetson INA3221 via the legacy ina3221x IIO driver (JetPack 4): in_power<i>_input mW.
    """
    def __init__(self, root: str = '/') -> None:
        ...
class HwmonSensor(Sensor):
    """
    Generic hwmon power<i>_input (uW) or energy<i>_input (uJ, counters with derived power).
    """
    def __init__(self, root: str = '/', name: str = '', mode: str = 'auto') -> None:
        ...
class RaplSensor(Sensor):
    """
    RAPL energy counters via powercap (energy_uj, uJ); power derived from the counters.
    """
    def __init__(self, root: str = '/') -> None:
        ...
class NvmlSensor(Sensor):
    """
    NVIDIA GPU via NVML loaded with dlopen (library: argument, else $EDGEPOWER_NVML_LIBRARY, else libnvidia-ml.so.1). Energy counter where supported; power from NVML_FI_DEV_POWER_INSTANT, else the counter, else nvmlDeviceGetPowerUsage (a 1 s average, flagged in info.details).
    """
    @staticmethod
    def library_path(library: str = '') -> str:
        """
        The NVML library path that would be loaded.
        """
    def __init__(self, index: typing.SupportsInt | typing.SupportsIndex = 0, library: str = '') -> None:
        ...
class ReplaySensor(Sensor):
    """
    Plays an edgepower trace CSV or an EdgeProfiler power log back in real time from the first read; reads fail with SensorError after the end.
    """
    def __init__(self, path: str, speed: typing.SupportsFloat | typing.SupportsIndex = 1.0) -> None:
        ...
    @property
    def num_samples(self) -> int:
        ...
    @property
    def span_s(self) -> float:
        ...
class CpuEstimateSensor(Sensor):
    """
    ESTIMATE: idle_w + (max_w - idle_w) x CPU utilisation from <root>/proc/stat; info.estimated is True.
    """
    def __init__(self, root: str = '/', idle_w: typing.SupportsFloat | typing.SupportsIndex = 10.0, max_w: typing.SupportsFloat | typing.SupportsIndex = 65.0) -> None:
        ...
    @property
    def utilisation(self) -> float:
        ...
class Sampler:
    """
    A native thread reading one sensor at rate_hz on absolute deadlines. It never takes the GIL.
    """
    MAX_RATE_HZ: typing.ClassVar[float] = 20000.0
    MIN_RATE_HZ: typing.ClassVar[float] = 1.0
    @staticmethod
    def check_rate_hz(rate_hz: typing.SupportsFloat | typing.SupportsIndex) -> None:
        """
        Raises ValueError unless MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ (the sampler's own check).
        """
    def __init__(self, sensor: Sensor, rate_hz: typing.SupportsFloat | typing.SupportsIndex = 1000.0, max_consecutive_failures: typing.SupportsInt | typing.SupportsIndex = 100, chunk_samples: typing.SupportsInt | typing.SupportsIndex = 16384, realtime_priority: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    def __len__(self) -> int:
        ...
    def index_at_or_after(self, t_ns: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        First sample index with t_ns >= t (len() if none).
        """
    def samples(self, begin: typing.SupportsInt | typing.SupportsIndex = 0, end: typing.Any = None) -> dict:
        """
        Copies samples [begin, end) recorded so far: t_ns int64, read_ns/lateness_ns int32, power_w float64 [n, rails], counter_j float64 [n, rails] (0 rows without counters).
        """
    def start(self) -> None:
        ...
    def stats(self) -> dict:
        ...
    def stop(self) -> None:
        """
        Stops and joins the thread; raises SensorError if it gave up after consecutive failures.
        """
    @property
    def failed(self) -> bool:
        ...
    @property
    def has_counter(self) -> bool:
        ...
    @property
    def rails(self) -> int:
        ...
    @property
    def rate_hz(self) -> float:
        ...
    @property
    def realtime(self) -> bool:
        ...
    @property
    def running(self) -> bool:
        ...
    @property
    def sensor(self) -> Sensor:
        ...
class Ina3221Registers:
    """
    One INA3221 channel's registers as the hwmon files show them.
    """
    @property
    def bus_mv(self) -> int:
        ...
    @property
    def current_ma(self) -> int:
        ...
    @property
    def last_update_ns(self) -> int:
        ...
    @property
    def shunt_uv(self) -> int:
        ...
    @property
    def updates(self) -> int:
        ...
class Ina3221Emulator:
    """
    Software INA3221 that maintains a jetson-hwmon sysfs tree under root (see edgepower.testing).
    """
    def __init__(self, source: SyntheticSensor, root: str, labels: collections.abc.Sequence[str] = ['VDD_IN', 'VDD_CPU_GPU_CV', 'VDD_SOC'], scales: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = [1.0, 0.6, 0.25], shunt_ohm: typing.SupportsFloat | typing.SupportsIndex = 0.005, bus_v: typing.SupportsFloat | typing.SupportsIndex = 5.0, bus_conversion_s: typing.SupportsFloat | typing.SupportsIndex = 0.0011, shunt_conversion_s: typing.SupportsFloat | typing.SupportsIndex = 0.0011, averages: typing.SupportsInt | typing.SupportsIndex = 1, noise_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 1, device: str = '1-0040', hwmon: str = 'hwmon0') -> None:
        ...
    def advance_to(self, t_ns: typing.SupportsInt | typing.SupportsIndex, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        ...
    def registers(self, channel: typing.SupportsInt | typing.SupportsIndex) -> Ina3221Registers:
        ...
    def start(self) -> None:
        ...
    def stop(self) -> None:
        ...
    def true_energy_j(self, channel: typing.SupportsInt | typing.SupportsIndex, t0_ns: typing.SupportsInt | typing.SupportsIndex, t1_ns: typing.SupportsInt | typing.SupportsIndex) -> float:
        ...
    def true_power_w(self, channel: typing.SupportsInt | typing.SupportsIndex, t_ns: typing.SupportsInt | typing.SupportsIndex) -> float:
        ...
    @property
    def averages(self) -> int:
        ...
    @property
    def bus_conversion_s(self) -> float:
        ...
    @property
    def conversion_lag_s(self) -> float:
        ...
    @property
    def conversions(self) -> int:
        ...
    @property
    def filter_tau_s(self) -> float:
        ...
    @property
    def hwmon_dir(self) -> str:
        ...
    @property
    def labels(self) -> list[str]:
        ...
    @property
    def refresh_s(self) -> float:
        ...
    @property
    def running(self) -> bool:
        ...
    @property
    def shunt_conversion_s(self) -> float:
        ...
class NvmlLikeSensor(Sensor):
    def last_update_ns(self, t_ns: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def true_energy_j(self, t0_ns: typing.SupportsInt | typing.SupportsIndex, t1_ns: typing.SupportsInt | typing.SupportsIndex) -> float:
        ...
    @property
    def origin_ns(self) -> int:
        ...
    @property
    def period_s(self) -> float:
        ...
class NvmlCounterEmulator(NvmlLikeSensor):
    def __init__(self, source: SyntheticSensor, period_s: typing.SupportsFloat | typing.SupportsIndex = 0.1, phase_s: typing.SupportsFloat | typing.SupportsIndex = 0.0, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        ...
class NvmlInstantEmulator(NvmlLikeSensor):
    def __init__(self, source: SyntheticSensor, period_s: typing.SupportsFloat | typing.SupportsIndex = 0.1, window_s: typing.SupportsFloat | typing.SupportsIndex = 0.025, noise_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, phase_s: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 1, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        ...
    def observed_w(self, t_ns: typing.SupportsInt | typing.SupportsIndex) -> float:
        ...
def assign_samples(t_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], power_w: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], t0_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], t1_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> tuple[numpy.typing.NDArray[numpy.int64], numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int64]]:
    """
    Assigns each sample to the innermost window [t0, t1) active at its timestamp (the one begun last) in one sweep: (num_samples, power_sum_w per window, owner per sample, -1 for none). Samples must be ascending; non-finite power is assigned to no window.
    """
def attribute_windows(t_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], power_w: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], t0_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], t1_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64]) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.int64], numpy.typing.NDArray[numpy.uint8]]:
    """
    Energy of many windows (any order, may overlap) in one sweep: (energy_j, num_samples, status).
    """
def counter_delta(c0_j: typing.SupportsFloat | typing.SupportsIndex, c1_j: typing.SupportsFloat | typing.SupportsIndex, range_j: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def counter_energy(t_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], counter_j: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], range_j: typing.SupportsFloat | typing.SupportsIndex, t0_ns: typing.SupportsInt | typing.SupportsIndex, t1_ns: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
    """
    Energy over [t0, t1] from counter readings, wraps at range_j corrected (0: never wraps).
    """
def integrate_power(t_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], power_w: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], t0_ns: typing.SupportsInt | typing.SupportsIndex, t1_ns: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
    """
    Energy over [t0, t1] by trapezoid with interpolated edges: a dict (energy_j, duration_s, avg_power_w, num_samples, status, reason) or a list of them for 2-D power. NaN with a reason when the samples do not cover the window.
    """
def now_ns() -> int:
    """
    Nanoseconds of CLOCK_MONOTONIC: the clock of every sample and mark, the same as time.monotonic_ns().
    """
def repeat_stats(values: typing.Annotated[numpy.typing.ArrayLike, numpy.float64]) -> dict:
    """
    Mean, sample standard deviation and 95% CI half-width (Student t).
    """
def status_message(status: typing.SupportsInt | typing.SupportsIndex) -> str:
    ...
def student_t_quantile(p: typing.SupportsFloat | typing.SupportsIndex, df: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def unwrap_counter(counter_j: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], range_j: typing.SupportsFloat | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float64]:
    """
    Cumulative energy from raw readings, starting at 0.
    """
