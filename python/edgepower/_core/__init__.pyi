"""
edgepower native core: sampler thread, timeline, energy integration, sensors
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
from . import edgeprofiler
__all__: list[str] = ['ConstantSensor', 'CpuEstimateSensor', 'CpuProcessSensor', 'Deconvolution', 'FailingSensor', 'HwmonSensor', 'Ina3221Emulator', 'Ina3221RegisterSensor', 'Ina3221Registers', 'JetsonHwmonSensor', 'JetsonIioSensor', 'NvmlCounterEmulator', 'NvmlInstantEmulator', 'NvmlLikeSensor', 'NvmlSensor', 'PiecewiseSensor', 'RaplSensor', 'RegionSensor', 'ReplaySensor', 'STATUS_COUNTER_RESET', 'Sampler', 'SamplerLimitError', 'Sensor', 'SensorError', 'SensorExhausted', 'SensorInfo', 'SensorUnavailable', 'SquareSensor', 'SyntheticSensor', 'Timeline', 'assign_samples', 'attribute_windows', 'classify_counter_step', 'counter_delta', 'counter_energy', 'cpu_power_figures', 'edgeprofiler', 'integrate_power', 'now_ns', 'physical_memory_bytes', 'repeat_stats', 'status_message', 'student_t_quantile', 'unwrap_counter']
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
class SensorExhausted(SensorError):
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
    def max_power_w(self) -> float:
        """
        Physical bound on one rail's power (W; 0 = none): a larger counter step is a reset
        """
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
    Plays an edgepower trace CSV or an EdgeProfiler power log back in real time from the first read. After the end, reads raise SensorExhausted and a sampler ends cleanly (no read error); with loop=True it starts over, counters rising across laps.
    """
    def __init__(self, path: str, speed: typing.SupportsFloat | typing.SupportsIndex = 1.0, loop: bool = False) -> None:
        ...
    @property
    def loop(self) -> bool:
        ...
    @property
    def num_samples(self) -> int:
        ...
    @property
    def span_s(self) -> float:
        ...
class CpuEstimateSensor(Sensor):
    """
    ESTIMATE, system-wide: idle + (max - idle) x CPU utilisation of every process from <root>/proc/stat; info.estimated is True. Figures as cpu_power_figures().
    """
    def __init__(self, root: str = '/', idle_w: typing.SupportsFloat | typing.SupportsIndex | None = None, max_w: typing.SupportsFloat | typing.SupportsIndex | None = None, cpus: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    @property
    def utilisation(self) -> float:
        ...
class CpuProcessSensor(Sensor):
    """
    ESTIMATE of this process's CPU energy: an energy counter (J) = idle share x elapsed time + W per busy CPU x (process CPU time - the reading thread's CPU time); power derived from it. Other processes do not change it. info.estimated is True. Figures as cpu_power_figures().
    """
    def __init__(self, root: str = '/', idle_w: typing.SupportsFloat | typing.SupportsIndex | None = None, max_w: typing.SupportsFloat | typing.SupportsIndex | None = None, cpus: typing.SupportsInt | typing.SupportsIndex = 0, power_window_s: typing.SupportsFloat | typing.SupportsIndex = 0.01) -> None:
        ...
    @property
    def counted_cpu_s(self) -> float:
        """
        CPU seconds counted at the last read (process minus the readers' own)
        """
    @property
    def excluded_cpu_s(self) -> float:
        """
        CPU seconds of the reading threads, left out, at the last read
        """
    @property
    def idle_share_w(self) -> float:
        """
        W of idle power in the counter
        """
    @property
    def per_cpu_w(self) -> float:
        """
        W that one busy logical CPU of this process adds
        """
class SamplerLimitError(SensorError):
    pass
class Sampler:
    """
    A native thread reading one sensor at rate_hz on absolute deadlines (refresh=True: just after each sensor refresh, learnt from the readings; rate_hz is then the fallback). It never takes the GIL. Stored samples are capped (max_samples, or max_memory_mb; default 10 % of physical RAM): memory_policy 'stop' stops with SamplerLimitError at the cap, 'rolling' keeps the newest samples.
    """
    MAX_RATE_HZ: typing.ClassVar[float] = 20000.0
    MIN_RATE_HZ: typing.ClassVar[float] = 1.0
    @staticmethod
    def check_rate_hz(rate_hz: typing.SupportsFloat | typing.SupportsIndex) -> None:
        """
        Raises ValueError unless MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ (the sampler's own check).
        """
    def __init__(self, sensor: Sensor, rate_hz: typing.SupportsFloat | typing.SupportsIndex = 1000.0, max_consecutive_failures: typing.SupportsInt | typing.SupportsIndex = 100, chunk_samples: typing.SupportsInt | typing.SupportsIndex = 16384, realtime_priority: typing.SupportsInt | typing.SupportsIndex = 0, *, max_samples: typing.SupportsInt | typing.SupportsIndex = 0, max_memory_mb: typing.Any = None, memory_policy: str = 'stop', max_chunks: typing.SupportsInt | typing.SupportsIndex = 131072, refresh: bool = False, refresh_guess_s: typing.Any = None) -> None:
        ...
    def __len__(self) -> int:
        """
        Samples recorded so far (the index after the newest).
        """
    def add_hold(self, index: typing.SupportsInt | typing.SupportsIndex | None = None) -> int:
        """
        Rolling memory policy: registers a consumer (a writer) that holds the samples from `index` on (None: none yet) past the cap, up to as many again as the cap holds; returns its id for hold_from and remove_hold. At most 8 at once (ValueError past that). No effect under the stop policy.
        """
    def hold_from(self, hold: typing.SupportsInt | typing.SupportsIndex, index: typing.SupportsInt | typing.SupportsIndex | None) -> None:
        """
        The consumer `hold` (add_hold's id) now needs the samples from `index` on (None: none).
        """
    def index_at_or_after(self, t_ns: typing.SupportsInt | typing.SupportsIndex) -> int:
        """
        First stored sample index with t_ns >= t (len() if none).
        """
    def remove_hold(self, hold: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        The consumer `hold` needs no more samples; its slot is free again.
        """
    def samples(self, since: typing.SupportsInt | typing.SupportsIndex = 0, end: typing.Any = None) -> dict:
        """
        Copies the stored samples [since, end) recorded so far: t_ns int64, read_ns/lateness_ns int32, power_w float64 [n, rails], counter_j float64 [n, rails] (0 rows without counters), and the absolute indices begin/end of the rows. Incremental: pass the previous call's 'end' as since. Rows dropped by the rolling policy are skipped (begin > since).
        """
    def start(self) -> None:
        ...
    def stats(self) -> dict:
        """
        Running statistics in O(1) memory (no samples are copied): rate, lateness/read percentiles, identical share, effective update interval, errors, memory policy and cap, dropped samples, counter resets and negative power readings per rail.
        """
    def stop(self) -> None:
        """
        Stops and joins the thread; raises SensorError if it gave up after consecutive failures, SamplerLimitError if it stopped at its memory cap. A replay that ended is not an error.
        """
    @property
    def failed(self) -> bool:
        ...
    @property
    def finished(self) -> bool:
        """
        True once the sensor ran out of data (a replay's end) and sampling ended cleanly.
        """
    @property
    def first_index(self) -> int:
        """
        Index of the oldest stored sample (> 0 once the rolling policy dropped some).
        """
    @property
    def has_counter(self) -> bool:
        ...
    @property
    def max_samples(self) -> int:
        """
        The cap on stored samples.
        """
    @property
    def memory_policy(self) -> str:
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
    def refresh(self) -> bool:
        """
        True: reads each sensor refresh just after it (rate_hz is the fallback polling rate).
        """
    @property
    def running(self) -> bool:
        ...
    @property
    def sensor(self) -> Sensor:
        ...
class Deconvolution:
    """
    Design matrix A (readings x regions + idle) of in-situ readings on a sensor kernel, and its non-negative least-squares solution (csrc/core/deconv.hpp).
    """
    def __init__(self, refresh_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], marks_t0_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], marks_t1_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], marks_region: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], n_regions: typing.SupportsInt | typing.SupportsIndex, *, observe_ns: typing.SupportsInt | typing.SupportsIndex, period_ns: typing.SupportsInt | typing.SupportsIndex = 0, averages: typing.SupportsInt | typing.SupportsIndex = 1, filter: str = 'exponential') -> None:
        """
        Builds A in one sweep. observe_ns: window of one conversion (0: instant readings); period_ns: time between conversions (needed for averages > 1); filter: 'exponential' (acc += (x - acc) / N) or 'sliding-mean' (mean of the last N conversions). Marks must not overlap.
        """
    def dense(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        A as a dense [rows, cols] array (last column: idle).
        """
    def solve(self, readings: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], weights: typing.Any = None, rank_tol: typing.SupportsFloat | typing.SupportsIndex = 1e-10) -> dict:
        """
        Non-negative least squares readings = A p (weights: per reading, e.g. bootstrap counts). Returns power_w (per column, NaN where not identifiable), identifiable, at_zero (bound active), column_weight, condition (of A with unit columns; inf when rank deficient), residual_rms_w, residual_w (per reading, readings - A p, weighted 0 or not), iterations.
        """
    @property
    def cols(self) -> int:
        ...
    @property
    def nonzeros(self) -> int:
        ...
    @property
    def rows(self) -> int:
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
    def __init__(self, source: SyntheticSensor, root: str, labels: collections.abc.Sequence[str] = ['VDD_IN', 'VDD_CPU_GPU_CV', 'VDD_SOC'], scales: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = [1.0, 0.6, 0.25], shunt_ohm: typing.SupportsFloat | typing.SupportsIndex = 0.005, bus_v: typing.SupportsFloat | typing.SupportsIndex = 5.0, bus_conversion_s: typing.SupportsFloat | typing.SupportsIndex = 0.0011, shunt_conversion_s: typing.SupportsFloat | typing.SupportsIndex = 0.0011, averages: typing.SupportsInt | typing.SupportsIndex = 1, noise_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, seed: typing.SupportsInt | typing.SupportsIndex = 1, device: str = '1-0040', hwmon: str = 'hwmon0', interval_includes_averages: bool = False) -> None:
        ...
    def advance_to(self, t_ns: typing.SupportsInt | typing.SupportsIndex, origin_ns: typing.SupportsInt | typing.SupportsIndex = -1) -> None:
        ...
    def refresh_instants(self, t0_ns: typing.SupportsInt | typing.SupportsIndex, t1_ns: typing.SupportsInt | typing.SupportsIndex, channel: typing.SupportsInt | typing.SupportsIndex = -1) -> list[int]:
        """
        The exact instants (CLOCK_MONOTONIC ns) at which channel's shunt register (-1: any channel's) refreshed in [t0_ns, t1_ns), in time order: the chip's own schedule.
        """
    def refresh_writes(self) -> list[int]:
        """
        When each shunt register refresh (any channel) began to be visible in the files (CLOCK_MONOTONIC ns just before the write), oldest first: the ground truth of how soon a reader saw each refresh.
        """
    def register_reads(self) -> list[int]:
        """
        When each in-process read (Ina3221RegisterSensor) saw the registers, CLOCK_MONOTONIC ns, oldest first.
        """
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
class Ina3221RegisterSensor(Sensor):
    """
    The emulated INA3221 read in process: each read computes the registers for its own instant, so the chip's refresh instants are exact (Ina3221Emulator.refresh_instants). Use it or the emulator's files, not both.
    """
    def __init__(self, emulator: Ina3221Emulator) -> None:
        ...
    @property
    def emulator(self) -> Ina3221Emulator:
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
def classify_counter_step(c0_j: typing.SupportsFloat | typing.SupportsIndex, c1_j: typing.SupportsFloat | typing.SupportsIndex, energy_dt_s: typing.SupportsFloat | typing.SupportsIndex, range_j: typing.SupportsFloat | typing.SupportsIndex, max_power_w: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> str:
    """
    'ok', 'wrap' or 'reset' for a counter step c0 -> c1 over energy_dt_s (see counter_energy).
    """
def counter_delta(c0_j: typing.SupportsFloat | typing.SupportsIndex, c1_j: typing.SupportsFloat | typing.SupportsIndex, range_j: typing.SupportsFloat | typing.SupportsIndex) -> float:
    ...
def counter_energy(t_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], counter_j: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], range_j: typing.SupportsFloat | typing.SupportsIndex, t0_ns: typing.SupportsInt | typing.SupportsIndex, t1_ns: typing.SupportsInt | typing.SupportsIndex, *, max_power_w: typing.SupportsFloat | typing.SupportsIndex = 0.0, update_interval_s: typing.SupportsFloat | typing.SupportsIndex = 0.0) -> typing.Any:
    """
    Energy over [t0, t1] from counter readings, wraps at range_j corrected (0: never wraps). A counter reset inside the window (a drop the range does not explain, or a step beyond max_power_w, the sensor's SensorInfo.max_power_w) is never integrated across: NaN with status 7 and its reason, plus counter_resets, partial_energy_j (the parts on either side) and gap_s (the unknown gaps).
    """
def cpu_power_figures(root: str = '/', idle_w: typing.SupportsFloat | typing.SupportsIndex | None = None, max_w: typing.SupportsFloat | typing.SupportsIndex | None = None, cpus: typing.SupportsInt | typing.SupportsIndex = 0) -> dict:
    """
    The CPU power figures the CPU estimates use (dict: idle_w, max_w, part_cpus, online_cpus, per_cpu_w, idle_share_w, model, matched, source), from <root>/proc/cpuinfo against a table of CPUs with cited TDPs, else the defaults; ValueError for bad overrides.
    """
def integrate_power(t_ns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], power_w: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], t0_ns: typing.SupportsInt | typing.SupportsIndex, t1_ns: typing.SupportsInt | typing.SupportsIndex) -> typing.Any:
    """
    Energy over [t0, t1] by trapezoid with interpolated edges: a dict (energy_j, duration_s, avg_power_w, num_samples, status, reason) or a list of them for 2-D power. NaN with a reason when the samples do not cover the window.
    """
def now_ns() -> int:
    """
    Nanoseconds of CLOCK_MONOTONIC: the clock of every sample and mark, the same as time.monotonic_ns().
    """
def physical_memory_bytes() -> int:
    """
    Physical RAM in bytes (0 if unknown).
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
STATUS_COUNTER_RESET: int = 7
