"""PowerMonitor: a native sampler thread plus named energy windows."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
from typing import Dict, Iterator, Optional, Union

import numpy as np

from . import trace
from .readings import warn_about_readings as _warn_about_readings
from .spool import SpoolWriter
from ._native import core as _core
from .energy.estimators import Estimator
from .energy.window import window_energy
from .measurement import Measurement, Samples, WindowResult
from .monitor_args import check_keywords, sampler_rate
from .sensors import SensorModel, create_sensor
from .sensors.info import board_total, total_rail_name

log = logging.getLogger("edgepower")


class PowerMonitor:
    """Samples one sensor on a native thread and measures energy over named windows.

    Parameters
    ----------
    sensor : str or Sensor
        A spec such as ``"auto"``, ``"constant:5"``, ``"jetson-hwmon"`` (see
        :func:`edgepower.sensors`), or a sensor object.
    rate_hz : float or "refresh"
        Sampling rate, 1 to 20000 Hz (the native sampler checks the range); ``"refresh"``: read
        just after each sensor refresh, learnt from the readings (``stats()["refresh_*"]``).
    timeline : Timeline, optional
        Timeline to mark windows on; a region sensor's own timeline is used when it has one.
    max_consecutive_failures : int
        The sampler gives up after this many failed reads in a row; :meth:`stop` then raises.
    log_path : str, optional
        Streams samples to this CSV while sampling (flushed about every 0.2 s): a crash leaves it.
    root : str
        Filesystem root for sysfs-based sensors (tests use fixture trees).
    realtime : bool
        Ask for SCHED_FIFO (lowest priority) for the sampler thread, which keeps its deadlines
        under CPU load; runs normally where that is not permitted (``stats()["realtime"]``).
    estimator : Estimator, optional
        A sensor-aware estimator (:class:`edgepower.energy.Estimator`) for the board total of
        every window (and the idle baseline); ``None``: the plain trapezoid / counter difference.
    max_memory_mb : float, optional
        Cap on the memory of stored samples; None: 10 % of physical RAM.
    memory_policy : {"stop", "rolling"}
        At the cap, ``"stop"`` stops sampling (:meth:`stop` raises ``SamplerLimitError``);
        ``"rolling"`` keeps the newest samples and counts the dropped ones (``stats()``), except
        what a spool or ``log_path`` has not written yet, kept up to the cap again (any lost: a
        ``"gap"`` record, a log warning).
    spool, spool_sync_s : str, float
        Folder to append samples, timeline marks and finished windows to as they happen, fsynced
        every ``spool_sync_s`` (:mod:`edgepower.spool`; read with :func:`edgepower.read_spool`).

    Examples
    --------
    >>> with PowerMonitor(sensor="constant:5", rate_hz=1000) as mon:   # doctest: +SKIP
    ...     mon.begin_window("step"); run(); m = mon.end_window("step")
    >>> m.energy_j, m.avg_power_w                                       # doctest: +SKIP
    """

    def __init__(self, sensor: Union[str, "_core.Sensor"] = "auto", rate_hz: Union[float, str] = 1000.0, *,
                 timeline: Optional["_core.Timeline"] = None, max_consecutive_failures: int = 100,
                 log_path: Optional[str] = None, root: str = "/", realtime: bool = True,
                 estimator: Optional[Estimator] = None, max_memory_mb: Optional[float] = None,
                 memory_policy: str = "stop", spool: Optional[str] = None, spool_sync_s: float = 1.0):
        # Every keyword is checked first, before the sensor is built or any sampling starts.
        check_keywords(rate_hz=rate_hz, estimator=estimator, max_consecutive_failures=max_consecutive_failures,
                       realtime=realtime, timeline=timeline, root=root, log_path=log_path)
        own = getattr(sensor, "timeline", None) if isinstance(sensor, _core.Sensor) else None
        # `is not None`, not `or`: an empty Timeline has len() 0 and is falsy.
        self.timeline: "_core.Timeline" = (timeline if timeline is not None else own if own is not None
                                           else _core.Timeline())
        self.sensor: "_core.Sensor" = create_sensor(sensor, root=root, timeline=self.timeline)
        if isinstance(self.sensor, _core.RegionSensor):
            self.timeline = self.sensor.timeline
        self.info = self.sensor.info
        self.rails = list(self.info.rails)
        # rate_hz stays the nominal rate (Hz) in refresh mode; the native sampler checks the range.
        self.rate_hz, rate_kw = sampler_rate(rate_hz, self.info, estimator)
        self.sampler = _core.Sampler(self.sensor, **rate_kw, max_consecutive_failures=max_consecutive_failures,
                                     realtime_priority=1 if realtime else 0, max_memory_mb=max_memory_mb,
                                     memory_policy=memory_policy)
        self.estimator = estimator
        self.idle_power_w: Optional[float] = None
        self.idle_window_ns: Optional[tuple] = None  # (t0, t1) of the last measure_idle()
        self._open: Dict[str, int] = {}
        self._log_path = log_path
        self._writer: Optional[trace.TraceWriter] = None
        self._log_thread: Optional[threading.Thread] = None
        self._log_stop = threading.Event()
        self.spool: Optional[SpoolWriter] = SpoolWriter(spool, spool_sync_s) if spool is not None else None

    # ---- lifecycle ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.sampler.running

    def start(self) -> "PowerMonitor":
        """Starts the sampler thread (and the CSV log, if any) and returns once the first
        sample is recorded, so a window begun right after start() is covered. Returns self.

        The log file is opened before the sampler starts; if anything fails, start() leaves
        nothing running (no sampler thread, no log thread, no open file) and raises."""
        if self._log_path and self._writer is None:
            self._writer = trace.TraceWriter(self._log_path, self.info, self.rate_hz, what="log_path")
            self._writer.hold(self.sampler)
        try:
            self.sampler.start()
            deadline = time.monotonic() + 1.0 + 2.0 / self.rate_hz
            while len(self.sampler) == 0 and self.sampler.running and time.monotonic() < deadline:
                time.sleep(0.0002)
            if self._writer is not None and self._log_thread is None:
                self._log_stop.clear()
                self._log_thread = threading.Thread(target=self._log_loop, name="edgepower-log", daemon=True)
                self._log_thread.start()
            if self.spool is not None and not self.spool.opened:
                self.spool.open(self)
        except BaseException:
            self._abandon_start()
            raise
        return self

    def _abandon_start(self) -> None:
        """Undoes a failed start(): stops the sampler and the log thread, closes the log."""
        with contextlib.suppress(Exception):  # the start's own error is the one to report
            self.sampler.stop()
        self._log_stop.set()
        if self._log_thread is not None:
            self._log_thread.join()
        if self._writer is not None:
            self._writer.close()
        self._log_thread = self._writer = None
        with contextlib.suppress(Exception):
            self.spool is not None and self.spool.opened and self.spool.close("start failed")

    def stop(self) -> None:
        """Stops sampling. Raises SensorError if the sampler gave up after repeated failures;
        the samples recorded before that stay readable (and are flushed to the log)."""
        try:
            self.sampler.stop()
        finally:
            _warn_about_readings(self.sampler.stats())
            if self._log_thread is not None:
                self._log_stop.set()
                self._log_thread.join()
                self._log_thread = None
            if self._writer is not None:
                self._writer.write(self.sampler)
                self._writer.close()
                self._writer = None
            if self.spool is not None:
                self.spool.close(str(self.sampler.stats().get("stop_reason", "")))

    def _log_loop(self) -> None:
        while not self._log_stop.wait(0.2):
            try:
                self._writer.write(self.sampler)  # type: ignore[union-attr]
            except Exception:  # keep sampling; stop() reports the final write
                log.exception("writing the sample log failed")

    def __enter__(self) -> "PowerMonitor":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            try:
                self.stop()
            except Exception:  # do not mask the user's exception
                log.exception("stopping the monitor failed")
        else:
            self.stop()

    # ---- windows ------------------------------------------------------------------------------
    def begin_window(self, name: str) -> None:
        """Opens a window named ``name`` now. Windows may nest and overlap."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"window name must be a non-empty string, got {name!r}")
        if name in self._open:
            raise ValueError(f"window {name!r} is already open; end it before opening it again")
        if not self.running and not self.sampler.failed:
            raise RuntimeError("the monitor is not running: call start() or use it as a context manager")
        region = self.timeline.region(name)
        self.timeline.begin(region)
        self._open[name] = _core.now_ns()

    def end_window(self, name: str) -> Measurement:
        """Closes window ``name`` and returns its Measurement.

        Waits (at most a few sample periods) for the first sample after the window's end, so
        the right edge is interpolated rather than extrapolated.
        """
        if name not in self._open:
            open_ = ", ".join(sorted(self._open)) or "none"
            raise KeyError(f"no open window named {name!r} (open windows: {open_}); call begin_window({name!r}) first")
        t1 = _core.now_ns()
        self.timeline.end(self.timeline.region(name))
        t0 = self._open.pop(name)
        self.wait_for_sample_after(_core.now_ns())  # after the end mark too: timeline readers integrate it
        m = self.measure(t0, t1, name=name)
        if self.spool is not None:
            self.spool.note({"type": "window", **{k: v for k, v in m.to_dict().items() if k != "provenance"}})
        return m

    @contextlib.contextmanager
    def window(self, name: str) -> Iterator[WindowResult]:
        """``with mon.window("step") as w: ...`` measures the block; ``w.measurement`` (also
        ``w.energy_j``) is set when it ends, exceptions included."""
        result = WindowResult(name)
        self.begin_window(name)
        try:
            yield result
        finally:
            result.measurement = self.end_window(name)

    def open_windows(self):
        """Names of the windows currently open."""
        return sorted(self._open)

    def wait_for_sample_after(self, t_ns: int, timeout_s: Optional[float] = None) -> bool:
        """Waits until a sample at or after ``t_ns`` exists (so a window ending at ``t_ns`` is
        interpolated, not cut short); returns whether one came. The default timeout is eight
        sample periods (at least 0.1 s); it also returns early when the sampler stops."""
        if timeout_s is None:
            timeout_s = max(0.1, 8.0 / self.rate_hz)
        elif isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s >= 0 \
                or not math.isfinite(timeout_s):
            raise ValueError(f"timeout_s must be a finite number of seconds >= 0 (or None for the default), "
                             f"got {timeout_s!r}")
        deadline = time.monotonic() + timeout_s
        poll_s = min(0.002, 0.25 / self.rate_hz)
        while True:
            n = len(self.sampler)
            if n and int(self.sampler.samples(n - 1)["t_ns"][0]) >= t_ns:
                return True
            if not self.running or time.monotonic() > deadline:
                return False
            time.sleep(poll_s)

    def measure(self, t0_ns: int, t1_ns: int, name: str = "window", *, plain: bool = False) -> Measurement:
        """Energy over [t0_ns, t1_ns] from the samples recorded so far (see Measurement).

        Plain per rail (:func:`edgepower.energy.window_energy`); with an ``estimator`` (and not
        ``plain=True``) the board total comes from it (``energy_per_rail_j`` keeps the plain
        per-rail figures and ``method`` names the estimator, e.g. ``"lag (INA3221 N=512 140us
        x3)"``)."""
        t0_ns, t1_ns = int(t0_ns), int(t1_ns)
        estimator = None if plain else self.estimator
        pad = estimator.padding_ns(self.rate_hz) if estimator is not None else 0
        # Copy only the samples the window needs: one before t0 to one after t1 (and the padding).
        lo = max(0, self.sampler.index_at_or_after(t0_ns - pad) - 1)
        hi = min(len(self.sampler), self.sampler.index_at_or_after(t1_ns + pad) + 1)
        s = self.sampler.samples(lo, hi)
        w = window_energy(self.info, s["t_ns"], s["power_w"], s["counter_j"], t0_ns, t1_ns)
        total, method = w.total_j, w.method
        if estimator is not None:
            power = board_total(self.info, s["power_w"]) if self.info.has_power else None
            counter = board_total(self.info, s["counter_j"]) if s["counter_j"].shape[0] else None
            energy, used = estimator.energy(s["t_ns"], power, counter, t0_ns, t1_ns, self.info.counter_range_j)
            if math.isfinite(energy):
                total, method = energy, f"{used} ({estimator.model.name})"
        reason = w.reason
        if reason and self.sampler.failed:
            reason += f" (the sampler stopped: {self.sampler.stats()['last_error']})"
        duration = (t1_ns - t0_ns) * 1e-9
        return Measurement(
            name=name, t0_ns=t0_ns, t1_ns=t1_ns, duration_s=duration, energy_j=total,
            avg_power_w=total / duration if duration > 0 else math.nan,
            energy_per_rail_j=dict(zip(self.rails, w.per_rail_j)),
            num_samples=w.num_samples, sensor=self.info.kind,
            estimated=bool(self.info.estimated), method=method, idle_power_w=self.idle_power_w,
            reason=reason, provenance=self.provenance())

    def measure_idle(self, duration_s: float = 2.0) -> float:
        """Measures idle power over ``duration_s`` (the caller keeps the device idle), stores
        it as ``idle_power_w`` for net energies, and returns it."""
        if not (isinstance(duration_s, (int, float)) and duration_s > 0 and math.isfinite(duration_s)):
            raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
        self.begin_window("(idle)")
        time.sleep(duration_s)
        m = self.end_window("(idle)")
        if not m.ok:
            raise RuntimeError(f"idle baseline could not be measured: {m.reason}")
        self.idle_power_w = m.avg_power_w
        self.idle_window_ns = (m.t0_ns, m.t1_ns)
        return m.avg_power_w

    # ---- data ---------------------------------------------------------------------------------
    def samples(self, begin: int = 0, end: Optional[int] = None) -> Samples:
        """Samples recorded so far as NumPy arrays (safe while sampling)."""
        s = self.sampler.samples(begin, end)
        return Samples(t_ns=s["t_ns"], power_w=s["power_w"], counter_j=s["counter_j"],
                       read_ns=s["read_ns"], lateness_ns=s["lateness_ns"], rails=list(self.rails))

    def total_power(self, samples: Optional[Samples] = None) -> np.ndarray:
        """Board total power per sample: the total rail, or the sum of rails."""
        s = samples if samples is not None else self.samples()
        return np.asarray(board_total(self.info, s.power_w)).reshape(-1)

    def to_pandas(self):
        """Samples as a pandas DataFrame: t_ns, t_s (from the first sample), one ``<rail>_w``
        column per rail, total_w, counters (``<rail>_counter_j``) where present, read_us."""
        import pandas as pd

        s = self.samples()
        cols = {"t_ns": s.t_ns, "t_s": (s.t_ns - (s.t_ns[0] if len(s) else 0)) * 1e-9}
        for i, r in enumerate(self.rails):
            cols[f"{r}_w"] = s.power_w[:, i]
        cols["total_w"] = self.total_power(s)
        if s.counter_j.shape[0]:
            for i, r in enumerate(self.rails):
                cols[f"{r}_counter_j"] = s.counter_j[:, i]
        cols["read_us"] = s.read_ns / 1000.0
        return pd.DataFrame(cols)

    def to_csv(self, path: str) -> str:
        """Writes every sample to ``path`` in edgepower's trace CSV (see edgepower.trace)."""
        w = trace.TraceWriter(path, self.info, self.rate_hz)
        try:
            w.write(self.sampler)
        finally:
            w.close()
        return path

    def stats(self) -> Dict[str, object]:
        """Sampler statistics: samples, achieved rate, lateness and read-time percentiles, share
        of identical readings, effective sensor update interval, read errors, missed deadlines."""
        st = dict(self.sampler.stats())
        st["sensor"] = self.info.kind
        st["estimated"] = bool(self.info.estimated)
        return st

    def provenance(self) -> Dict[str, object]:
        """Where the figures come from: sensor, rails, rates, update interval, idle baseline.
        Cheap (no copy of the samples); :meth:`stats` has the full sampler statistics."""
        achieved = self.sampler.stats()["achieved_rate_hz"] if len(self.sampler) >= 2 else math.nan
        return {
            "sensor": self.info.kind,
            "sensor_description": self.info.description,
            "rails": list(self.rails),
            "total_rail": total_rail_name(self.info),
            "estimated": bool(self.info.estimated),
            "requested_rate_hz": self.rate_hz, "sampler_mode": "refresh" if self.sampler.refresh else "fixed",
            "achieved_rate_hz": achieved,
            "sampler_realtime": bool(self.sampler.realtime),
            "sensor_update_interval_s": self.info.update_interval_s,
            "idle_power_w": self.idle_power_w,
            "details": dict(self.info.details),
            **({"estimator": {"method": self.estimator.method, "model": dataclasses.asdict(self.estimator.model)}}
               if self.estimator is not None else {}),
        }

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<PowerMonitor sensor={self.info.kind!r} rate_hz={self.rate_hz:g} {state} samples={len(self.sampler)}>"

    def _repr_html_(self) -> str:
        from .export.html import monitor_html

        return monitor_html(self)


class CompensatedMonitor(PowerMonitor):
    """A :class:`PowerMonitor` whose window energies (and idle baseline) use a sensor-aware
    estimator: ``PowerMonitor(sensor, estimator=Estimator(model, method), **kwargs)``.

    Parameters
    ----------
    sensor : str or Sensor
        As for PowerMonitor.
    model : SensorModel
        The sensor's model (:meth:`SensorModel.ina3221`, :meth:`SensorModel.counter`, ...).
    method : str
        One of :data:`edgepower.energy.METHODS` (default ``"auto"``).
    **kwargs
        Passed to PowerMonitor (``rate_hz``, ``timeline``, ...).
    """

    def __init__(self, sensor, model: SensorModel, method: str = "auto", **kwargs):
        super().__init__(sensor, estimator=Estimator(model, method), **kwargs)

    @property
    def model(self) -> SensorModel:
        return self.estimator.model  # type: ignore[union-attr]

    @property
    def method(self) -> str:
        return self.estimator.method  # type: ignore[union-attr]


__all__ = ["CompensatedMonitor", "PowerMonitor"]
