"""What both profiling modes share: a :class:`Run` record from capture to clean-up.

A run (1) captures the call sites (:mod:`.capture`) and gives each a timeline region, (2) starts
the monitor if needed and waits for its first samples, (3) takes the idle baseline (measured over
``idle_s``, or given), (4) sizes the target window from the sensor's update interval, and, on
every path, (5) restores the modules' train/eval modes and stops a monitor it started. The mode
(:mod:`.isolation`, :mod:`.insitu`) only produces windows and marks in between; :func:`provenance`
records how the figures came about.
"""
from __future__ import annotations

import logging
import math
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .. import __version__ as _version
from ..monitor import PowerMonitor
from ..report import LayerRow, Window
from ..sensors import SensorError
from .allocator import allocator_note
from .cache import CacheContext, plan
from .capture import MODEL_LABEL, CallSite, capture, clone, describe_inputs, synchronizer, tensors
from .dtypes import input_dtypes, model_dtype
from .identify import choose_estimator
from .load import load_warning, others_cores, usable_cpus
from .load import snapshot as cpu_snapshot
from .options import ProfileOptions

log = logging.getLogger("edgepower")


@dataclass
class Progress:
    """What the profiler is doing, passed to the ``progress`` callback.

    stage: ``"capture"``, ``"identify"``, ``"idle"``, ``"measure"`` or ``"done"``; done/total
    count windows in the measure stage; label is the call site being measured; round counts from 0.
    """

    stage: str
    done: int
    total: int
    label: str = ""
    round: int = 0
    rounds: int = 1


@dataclass
class Outcome:
    """What a mode produces: its windows (with energies), its settings for the provenance, and,
    in situ, the per-forward marks (``cycles``), the attribution times and a hook that adds its
    notes to the rows."""

    windows: List[Window]
    method: Dict[str, Any] = field(default_factory=dict)
    cycles: Optional[Dict[str, Any]] = None
    attribution_t_ns: Optional[np.ndarray] = None
    annotate: Optional[Callable[[List[LayerRow]], None]] = None


@dataclass
class Run:
    """One profile in progress: the model, its call sites, the monitor and the baseline.

    Attributes (units in the names): ``sites`` (captured call sites) and ``whole`` (the whole
    model as a call site); ``sync`` synchronises the CUDA devices in ``devices``;
    ``idle_power_w`` and ``idle_source``; ``target_window_s`` from ``update_interval_s`` (and
    where that came from, ``update_interval_source``).
    """

    model: Any
    options: ProfileOptions
    monitor: PowerMonitor
    args: tuple
    kwargs: Dict[str, Any]
    emit: Callable[[Progress], None]
    layers_spec: Any = None
    layer_names: List[str] = field(default_factory=list)
    sites: List[CallSite] = field(default_factory=list)
    whole: Optional[CallSite] = None
    not_called: List[str] = field(default_factory=list)
    capture_s: float = math.nan
    sync: Callable[[], None] = lambda: None
    devices: List[str] = field(default_factory=list)
    started_here: bool = False
    idle_power_w: Optional[float] = None
    idle_source: str = ""
    idle_before_w: Optional[float] = None
    idle_after_w: Optional[float] = None
    settle_s: float = 0.0
    idle_t_ns: Optional[List[int]] = None  # the idle windows measured before / after profiling
    idle_after_t_ns: Optional[List[int]] = None
    warnings: List[str] = field(default_factory=list)
    others_cpus: Optional[float] = None  # other processes' CPU load during the idle baseline (load.py)
    target_window_s: float = math.nan
    update_interval_s: float = math.nan
    update_interval_source: str = "unknown"
    started_unix_s: float = field(default_factory=time.time)
    sampler_error: str = ""
    estimator_info: Dict[str, Any] = field(default_factory=dict)
    sampling_why: str = ""  # where the rate and the in-situ round length came from (sampling.py)
    cache: Optional[CacheContext] = None  # isolation: the cache state layers are measured in (cache.py)
    windows: List[Window] = field(default_factory=list)  # isolation: the windows as they finish
    allocator_note: str = ""  # what the allocator setting did (allocator.py)
    precision: Dict[str, Any] = field(default_factory=dict)  # isolation: the extra rounds (precision.py)
    resumed: Dict[Tuple[str, int], List[Window]] = field(default_factory=dict)  # (label, round): from a spool
    _modes: Dict[Any, bool] = field(default_factory=dict, repr=False)

    @property
    def timeline(self):
        return self.monitor.timeline

    @property
    def cuda_devices(self) -> List[str]:
        return [d for d in self.devices if d.startswith("cuda")]

    # ---- the steps --------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Eval mode, capture, timeline regions and the synchroniser."""
        self._modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        self.allocator_note = allocator_note(self.options.allocator)  # before the first forward
        self.emit(Progress("capture", 0, 1))
        self.sites, self.not_called, self.capture_s = capture(self.model, self.layer_names, self.args, self.kwargs)
        self.whole = CallSite(MODEL_LABEL, 0, len(self.sites), self.model, clone(tuple(self.args)),
                              clone(dict(self.kwargs)))
        self.emit(Progress("capture", 1, 1))
        for s in self.sites:
            s.region = self.timeline.region(s.label)
        self.whole.region = self.timeline.region(MODEL_LABEL)
        self.sync, self.devices = synchronizer(self.model, self.sites + [self.whole])
        if self.options.mode == "isolation":
            self.cache = plan(self.model, [tensors((s.args, s.kwargs)) for s in self.sites], self.options.cache_context)

    def start(self) -> None:
        """Starts the monitor (if it is not running), waits for its first samples, sizes the
        target window and takes the idle baseline."""
        if not self.monitor.running:
            self.monitor.start()
            self.started_here = True
        _wait_for_first_sample(self.monitor)
        self.estimator_info = choose_estimator(self.monitor, self.options, lambda s, d: self.emit(Progress(s, d, 1)))
        self._target_window()  # before idle: the settle pause uses the update interval and the filter
        self._idle()

    def finish(self) -> None:
        """Clean-up on every path: restores the modules' modes and stops a monitor this run
        started. A sampler error is kept in ``sampler_error`` (the report records it) instead of
        losing the measurements."""
        for m, was_training in self._modes.items():
            m.train(was_training)
        if self.started_here:
            try:
                self.monitor.stop()
            except SensorError as exc:
                log.warning("the sampler stopped with an error: %s", exc)
                self.sampler_error = str(exc)

    def _idle(self) -> None:
        """The idle baseline before profiling: given, or measured over ``idle_s`` after a settle
        pause (the capture just ran the model; a filtering sensor still shows it)."""
        o, monitor = self.options, self.monitor
        if o.idle_power_w is not None:
            monitor.idle_power_w = o.idle_power_w
            self.idle_power_w, self.idle_source = o.idle_power_w, "given"
        elif o.idle_s > 0:
            self.emit(Progress("idle", 0, 1))
            self.settle_s = self._settle_s()
            time.sleep(self.settle_s)
            before = cpu_snapshot()
            self.idle_before_w = self.idle_power_w = monitor.measure_idle(o.idle_s)
            self.others_cpus = others_cores(before, cpu_snapshot())
            warning = load_warning(self.others_cpus, torch.get_num_threads(), usable_cpus())
            if warning:
                self.warn(warning)
            self.idle_t_ns = list(monitor.idle_window_ns or []) or None
            self.emit(Progress("idle", 1, 1))
            self.idle_source = f"measured over {o.idle_s:g} s before profiling (after {self.settle_s:.2g} s to settle)"
            self._check_idle_level(self.idle_before_w)
        else:
            self.idle_power_w, self.idle_source = None, "none (idle_s=0): net figures are not available"

    def _settle_s(self) -> float:
        """0.1 s, plus five time constants of the sensor's filter where one is known (a running
        average keeps showing the capture's load for that long), capped at 60 s (an idle window
        on a filter still decaying is off by about tau x the readings' step / idle_s: 35 mW at
        tau = 3.4 s after a 10 s cap; docs/accuracy.md)."""
        tau = 0.0
        estimator = self.monitor.estimator
        if estimator is not None:
            tau = estimator.model.filter_tau_s
        elif math.isfinite(self.update_interval_s):
            tau = self.update_interval_s
        return min(60.0, 0.1 + 5.0 * tau)

    def idle_after(self) -> None:
        """Measures idle again after the last window (as long as before) and uses the mean of the
        two, so a baseline that drifted during the profile is seen and halved; the drift's effect
        on the rows is judged against their CIs (:func:`idle_drift_warnings`)."""
        o = self.options
        if o.idle_power_w is not None or o.idle_s <= 0 or self.idle_before_w is None:
            return
        self.emit(Progress("idle", 0, 1))
        time.sleep(self.settle_s)  # the last window's load must leave the sensor (hold, filter) first
        self.idle_after_w = self.monitor.measure_idle(o.idle_s)
        self.idle_after_t_ns = list(self.monitor.idle_window_ns or []) or None
        self.emit(Progress("idle", 1, 1))
        self.idle_power_w = 0.5 * (self.idle_before_w + self.idle_after_w)
        self.monitor.idle_power_w = self.idle_power_w
        self.idle_source = (f"mean of {o.idle_s:g} s before and {o.idle_s:g} s after profiling (each after "
                            f"{self.settle_s:.2g} s to settle)")

    def _check_idle_level(self, idle_w: float) -> None:
        """An estimate whose idle is near its maximum cannot see this process's work."""
        info = self.monitor.info
        max_w = _watts(dict(info.details).get("max_w", ""))
        if info.estimated and math.isfinite(max_w) and max_w > 0 and idle_w > 0.8 * max_w:
            self.warn(f"the idle baseline is {idle_w:.1f} W, {idle_w / max_w:.0%} of the estimate's maximum "
                      f"{max_w:.1f} W: other processes are loading the CPU, so a system-wide estimate cannot see "
                      "this process's work and net energies will be noise. Use the per-process estimate, stop the "
                      "other load, or measure on a device with a power sensor.")

    def window_done(self, new: List[Window]) -> None:
        """A call site's windows of one round are finished: into the monitor's spool, if it has one
        (with their energy, once the samples after them are in; edgepower.spool)."""
        spool = self.monitor.spool
        if spool is not None:
            for w in new:
                spool.add_window({"type": "profile_window", "site_windows": len(new), **w.to_dict()}, w.t0_ns, w.t1_ns)

    def warn(self, message: str) -> None:
        """A warning for the user: logged now and kept in the report's provenance."""
        log.warning("%s", message)
        self.warnings.append(message)

    def _target_window(self) -> None:
        interval, source = math.nan, "unknown"
        ui = self.monitor.info.update_interval_s
        if isinstance(ui, float) and math.isfinite(ui) and ui > 0:
            interval, source = ui, "sensor info"
        else:
            eff = self.monitor.stats().get("effective_update_interval_s", math.nan)
            if isinstance(eff, float) and math.isfinite(eff) and eff > 0:
                interval, source = eff, "measured (effective update interval of the readings)"
        target = max(self.options.min_window_s, self.estimator_info.get("min_window_s", 0.0))
        if math.isfinite(interval):
            target = max(target, self.options.k_updates * interval)
        self.target_window_s, self.update_interval_s, self.update_interval_source = target, interval, source


def _wait_for_first_sample(monitor: PowerMonitor) -> None:
    # A window may only start once the sampler has a sample before it.
    deadline = time.monotonic() + 2.0 + 10.0 / monitor.rate_hz
    while len(monitor.sampler) < 2:
        if time.monotonic() > deadline or monitor.sampler.failed:
            st = monitor.stats()
            raise SensorError(f"sensor {monitor.info.kind} gave no samples within 2 s of starting "
                              f"(read errors: {st.get('read_errors')}, last error: {st.get('last_error') or 'none'})")
        time.sleep(min(0.002, 0.5 / monitor.rate_hz))


def _watts(text: Any) -> float:
    """The number at the start of a sensor detail such as ``"65.000 W"`` (NaN if none)."""
    try:
        return float(str(text).split()[0])
    except (ValueError, IndexError):
        return math.nan


# Smallest idle drift worth a warning: half a milliwatt, the precision the warning prints at and
# below the resolution of the boards' sensors (an INA3221 rail resolves about 1 mW at 5 V, RAPL
# counts 61 uJ per tick). Without it, a steady synthetic level warned of "drift by -0.000 W".
DRIFT_FLOOR_W = 0.0005


def idle_drift_warnings(run: Run, rows: List[LayerRow]) -> List[str]:
    """Warnings when the idle baseline moved between before and after by more than the rows'
    CIs: the drift times a row's latency is the error it puts into that row's net energy."""
    if run.idle_before_w is None or run.idle_after_w is None:
        return []
    drift = run.idle_after_w - run.idle_before_w
    if abs(drift) < DRIFT_FLOOR_W:  # prints as +-0.000 W: float rounding of a steady level, not a drift
        return []
    worst = [r for r in rows if r.kind == "layer" and r.status in ("ok", "not resolved")
             and math.isfinite(r.ci95_mj) and math.isfinite(r.latency_ms)
             and 0.5 * abs(drift) * r.latency_ms > r.ci95_mj]
    if not worst:
        return []
    return [f"the idle power drifted by {drift:+.3f} W during the profile ({run.idle_before_w:.3f} W before, "
            f"{run.idle_after_w:.3f} W after): half of that times the latency is more than the CI for "
            f"{len(worst)} layer(s), e.g. {worst[0].layer}. Net energies use the mean of the two; keep the device "
            "idle and at a steady temperature (or profile again) for tighter figures."]


def edge_gap_limit_s(run: Run) -> float:
    """Largest accepted gap between the samples around a window's edge."""
    return max(run.options.edge_gap_periods / run.monitor.rate_hz, 0.001)


def provenance(run: Run, method: Dict[str, Any]) -> Dict[str, Any]:
    """The report's ``meta``: where every figure comes from. ``method`` holds the mode's own
    settings (merged over the common ones)."""
    o, monitor, model = run.options, run.monitor, run.model
    prov = dict(monitor.provenance())
    prov["sampler"] = monitor.stats()
    settings: Dict[str, Any] = {
        "mode": o.mode, "repeats": o.repeats, "min_window_s": o.min_window_s, "k_updates": o.k_updates,
        "min_repeats": o.min_repeats, "warmup": o.warmup, "rounds": o.rounds, "seed": o.seed,
        "target_window_s": run.target_window_s, "sensor_update_interval_s": run.update_interval_s,
        "sensor_update_interval_source": run.update_interval_source, "trace_model": o.trace_model,
        "edge_retries": o.edge_retries, "edge_gap_limit_s": edge_gap_limit_s(run),
        "ci_target_pct": o.ci_target_pct, "max_rounds": o.max_rounds,
        "inference_mode": True, "eval_mode": True, "cuda_synchronized": bool(run.cuda_devices),
        "cache_context": run.cache.as_dict() if run.cache is not None else None,
        "sampling": run.sampling_why,
        "allocator": {"mode": o.allocator, "note": run.allocator_note},
    }
    if run.precision:
        settings["precision"] = run.precision
    settings.update(method)
    meta: Dict[str, Any] = {
        "model": type(model).__name__,
        "model_module": type(model).__module__,
        "model_params": int(sum(p.numel() for p in model.parameters())),
        "inputs": describe_inputs(run.args, run.kwargs),
        "input_dtypes": input_dtypes(run.args, run.kwargs),
        "dtype": model_dtype(model),
        "devices": run.devices,
        "layers": run.layers_spec if isinstance(run.layers_spec, str) or run.layers_spec is None
        else list(run.layers_spec),
        "selected_layers": list(run.layer_names),
        "not_called": run.not_called,
        "capture_s": run.capture_s,
        "method": settings,
        "estimator": run.estimator_info,
        "idle_power_w": run.idle_power_w,
        "idle_source": run.idle_source,
        "idle_t_ns": run.idle_t_ns,
        "idle_after_t_ns": run.idle_after_t_ns,
        "idle": {"before_w": run.idle_before_w, "after_w": run.idle_after_w, "settle_s": run.settle_s,
                 "drift_w": (run.idle_after_w - run.idle_before_w) if run.idle_after_w is not None
                 and run.idle_before_w is not None else None},
        "warnings": list(run.warnings),
        "monitor": prov,
        "sensor": monitor.info.kind,
        "estimated": bool(monitor.info.estimated),
        "environment": {
            "edgepower": _version, "torch": torch.__version__, "python": sys.version.split()[0],
            "platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "torch_threads": torch.get_num_threads(),
            "cpus": usable_cpus(), "other_processes_cpus": run.others_cpus,
            "cuda_devices": [torch.cuda.get_device_name(torch.device(d)) for d in run.cuda_devices],
        },
        "started_unix_s": run.started_unix_s,
        "wall_s": time.time() - run.started_unix_s,
    }
    if run.sampler_error:
        meta["sampler_error"] = run.sampler_error
    return meta


__all__ = ["Outcome", "Progress", "Run", "edge_gap_limit_s", "idle_drift_warnings", "provenance"]
