"""The emulators of :mod:`edgepower.testing` (see the package docstring)."""
from __future__ import annotations

import logging
import math
import shutil
import tempfile
from typing import Dict, Optional, Sequence

from .._native import core as _core
from ..sensors import create_sensor

log = logging.getLogger("edgepower")

CONVERSION_TIMES_S = (140e-6, 204e-6, 332e-6, 588e-6, 1.1e-3, 2.116e-3, 4.156e-3, 8.244e-3)
AVERAGES = (1, 4, 16, 64, 128, 256, 512, 1024)
#: What an INA3221 hwmon ``update_interval`` means: the mainline driver's C x (BC + SC), or the
#: pre-2021 drivers' N x C x (BC + SC) (both in whole ms, rounded to the closest).
UPDATE_INTERVAL_SEMANTICS = ("mainline", "pre-2021")


class RegionSource:
    """True power that follows the innermost active region of a timeline (W), else ``idle_w``.

    Parameters
    ----------
    levels_w : dict
        Region name -> power (W) while that region is the innermost active one with a level.
        Regions without a level (such as the profiler's windows) are transparent.
    idle_w : float
        Power when no region with a level is active.
    timeline : Timeline, optional
        The timeline to follow; a new one by default. Give the same timeline to the
        :class:`~edgepower.PowerMonitor` (``timeline=source.timeline``).
    """

    def __init__(self, levels_w: Dict[str, float], idle_w: float = 0.0,
                 timeline: Optional["_core.Timeline"] = None):
        if not isinstance(levels_w, dict):
            raise TypeError("levels_w must be a dict of region name -> watts")
        for k, v in levels_w.items():
            if not isinstance(k, str) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"level of region {k!r} must be a finite number of watts, got {v!r}")
        self.timeline = timeline if timeline is not None else _core.Timeline()
        self.levels_w = dict(levels_w)
        self.idle_w = float(idle_w)
        self.sensor = _core.RegionSensor(self.timeline, self.levels_w, self.idle_w)

    def energy_j(self, t0_ns: int, t1_ns: int) -> float:
        """Exact energy over [t0_ns, t1_ns] (J)."""
        return self.sensor.energy_at(int(t1_ns))[0] - self.sensor.energy_at(int(t0_ns))[0]

    def power_w(self, t_ns: int) -> float:
        """True power at t_ns (W)."""
        return self.sensor.power_at(int(t_ns))[0]


def _source(source) -> "_core.SyntheticSensor":
    if isinstance(source, RegionSource):
        return source.sensor
    if isinstance(source, _core.SyntheticSensor):
        return source
    raise TypeError(f"source must be an edgepower.testing.RegionSource or a synthetic sensor "
                    f"(edgepower._core.ConstantSensor, RegionSensor, ...), got {type(source).__name__}")


class Ina3221:
    """A running INA3221 emulator and its jetson-hwmon tree (a context manager).

    Parameters
    ----------
    source : RegionSource or synthetic sensor
        The true power of the first rail (the board total, ``VDD_IN``).
    root : str, optional
        Directory to build the sysfs tree in; a temporary directory (removed by :meth:`close`)
        by default.
    averages : int
        N of the running-average filter: 1, 4, 16, 64, 128, 256, 512 or 1024.
    conversion_s : float
        Bus and shunt conversion time (one of :data:`CONVERSION_TIMES_S`); ``bus_conversion_s``
        and ``shunt_conversion_s`` set them apart.
    labels, scales : sequence
        Rail labels (1 to 3 channels) and each rail's share of the source's power.
    shunt_ohm, bus_v : float
        Shunt resistor (current LSB = 40 uV / shunt_ohm) and bus voltage.
    noise_w : float
        Gaussian noise per shunt conversion (W-equivalent standard deviation).
    seed : int
        Noise seed.
    start : bool
        Start the conversion thread now (else call :meth:`start`).
    update_interval : {"mainline", "pre-2021"}
        What the tree's ``update_interval`` (whole ms) reports: ``"mainline"`` (the driver since
        2021) C x (bus + shunt conversion); ``"pre-2021"`` (older kernels) N times that.

    Notes
    -----
    NVIDIA's Jetson device trees set N=512 at 140 us (3 channels): a refresh every 0.84 ms but a
    filter time constant of about 430 ms. The chip's reset default is N=1 at 1.1 ms: a refresh
    every 6.6 ms.
    """

    def __init__(self, source, root: Optional[str] = None, *, averages: int = 1, conversion_s: float = 1.1e-3,
                 bus_conversion_s: Optional[float] = None, shunt_conversion_s: Optional[float] = None,
                 labels: Sequence[str] = ("VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"),
                 scales: Sequence[float] = (1.0, 0.6, 0.25), shunt_ohm: float = 0.005, bus_v: float = 5.0,
                 noise_w: float = 0.05, seed: int = 1, start: bool = True, update_interval: str = "mainline"):
        if update_interval not in UPDATE_INTERVAL_SEMANTICS:
            raise ValueError(f"update_interval must be one of {', '.join(UPDATE_INTERVAL_SEMANTICS)} (what the "
                             f"driver reports: C x (BC + SC), or N times that before 2021), got {update_interval!r}")
        self.source = source
        self._tmp = None
        if root is None:
            self._tmp = tempfile.mkdtemp(prefix="edgepower-ina3221-")
            root = self._tmp
        self.root = root
        labels = list(labels)
        try:
            self.emulator = _core.Ina3221Emulator(
                _source(source), root, labels=labels, scales=list(scales)[:len(labels)], shunt_ohm=shunt_ohm,
                bus_v=bus_v, bus_conversion_s=conversion_s if bus_conversion_s is None else bus_conversion_s,
                shunt_conversion_s=conversion_s if shunt_conversion_s is None else shunt_conversion_s,
                averages=averages, noise_w=noise_w, seed=seed,
                interval_includes_averages=update_interval == "pre-2021")
        except BaseException:
            self._cleanup()
            raise
        if start:
            self.start()

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> "Ina3221":
        """Starts the conversion thread (the files update from now on). Returns self."""
        self.emulator.start()
        return self

    def stop(self) -> None:
        """Stops the conversion thread; the files keep their last values."""
        self.emulator.stop()

    def close(self) -> None:
        """Stops and removes the temporary tree (a tree under a given root is left)."""
        self.stop()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> "Ina3221":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- use --------------------------------------------------------------------------------
    def sensor(self) -> "_core.Sensor":
        """The real ``jetson-hwmon`` sensor, reading this emulator's tree."""
        return create_sensor("jetson-hwmon", root=self.root)

    def register_read_latency_ns(self, t_from_ns: int, t_to_ns: int):
        """For the chip read in process (``_core.Ina3221RegisterSensor(self.emulator)``): for each
        register refresh of any channel in [t_from_ns, t_to_ns) (the chip's exact schedule), the
        first instant after it at which a read saw the registers, minus the refresh (ns, int64
        array). Refreshes after the last read are left out."""
        import numpy as np

        reads = np.sort(np.asarray(self.emulator.register_reads(), np.int64))
        reads = reads[reads >= t_from_ns]
        if reads.size == 0:
            return np.zeros(0, np.int64)
        ref = np.asarray(self.emulator.refresh_instants(int(t_from_ns), int(min(t_to_ns, reads[-1]))), np.int64)
        return reads[np.searchsorted(reads, ref)] - ref

    def true_energy_j(self, t0_ns: int, t1_ns: int, rail: int = 0) -> float:
        """Exact energy of a rail over [t0_ns, t1_ns] (J)."""
        return self.emulator.true_energy_j(rail, int(t0_ns), int(t1_ns))

    @property
    def refresh_s(self) -> float:
        """Register refresh period C x (bus + shunt), s."""
        return self.emulator.refresh_s

    @property
    def filter_tau_s(self) -> float:
        """Running-average time constant N x refresh, s."""
        return self.emulator.filter_tau_s

    @property
    def averages(self) -> int:
        return self.emulator.averages

    @property
    def hwmon_dir(self) -> str:
        return self.emulator.hwmon_dir

    def __repr__(self) -> str:
        return (f"<Ina3221 N={self.averages} refresh={self.refresh_s * 1e3:.3g} ms "
                f"tau={self.filter_tau_s * 1e3:.4g} ms root={self.root!r}>")


def nvml_counter(source, period_s: float = 0.1, phase_s: float = 0.0) -> "_core.NvmlCounterEmulator":
    """An NVML-like energy counter (whole mJ) that steps every ``period_s`` (a sensor object to
    give to :class:`~edgepower.PowerMonitor`); ``true_energy_j(t0_ns, t1_ns)`` is the truth."""
    return _core.NvmlCounterEmulator(_source(source), period_s=period_s, phase_s=phase_s)


def nvml_instant(source, period_s: float = 0.1, window_s: float = 0.025, noise_w: float = 0.0,
                 phase_s: float = 0.0, seed: int = 1) -> "_core.NvmlInstantEmulator":
    """An NVML-like instant power reading: every ``period_s`` it becomes the mean over the last
    ``window_s`` (25 of 100 ms on A100/H100), plus noise, in whole mW."""
    return _core.NvmlInstantEmulator(_source(source), period_s=period_s, window_s=window_s, noise_w=noise_w,
                                     phase_s=phase_s, seed=seed)


def busy_model(layers: Dict[str, float], timeline: "_core.Timeline", prefix: str = "busy:"):
    """A torch model of layers that busy-wait a set time, each marking region ``prefix + name``
    on ``timeline`` while it works (give those regions power levels in a :class:`RegionSource`).

    Parameters
    ----------
    layers : dict
        Layer name -> busy time per call (s), in call order.
    timeline : Timeline
        The source's timeline.

    Returns
    -------
    torch.nn.Sequential
    """
    import collections
    import time

    import torch

    class BusyLayer(torch.nn.Module):
        def __init__(self, name: str, seconds: float):
            super().__init__()
            if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"busy time of layer {name!r} must be a positive number of seconds, got {seconds!r}")
            self.seconds = float(seconds)
            self.region = timeline.region(prefix + name)

        def forward(self, x):
            clock = time.perf_counter_ns
            end = clock() + int(self.seconds * 1e9)
            timeline.begin(self.region)
            while clock() < end:
                pass
            timeline.end(self.region)
            return x

        def extra_repr(self) -> str:
            return f"seconds={self.seconds:g}"

    return torch.nn.Sequential(collections.OrderedDict((n, BusyLayer(n, s)) for n, s in layers.items()))


__all__ = ["AVERAGES", "CONVERSION_TIMES_S", "Ina3221", "UPDATE_INTERVAL_SEMANTICS", "RegionSource", "busy_model", "nvml_counter", "nvml_instant"]
