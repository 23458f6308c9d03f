"""Layer-wise energy profiler: capture each layer's inputs, run each layer alone, measure.

Method (docs/profiler.md has the long form):

1. **Capture.** One dry run of the model, in eval mode under :func:`torch.inference_mode`, with a
   forward pre-hook (``with_kwargs=True``) on every selected layer. Each call's args and kwargs
   are kept, tensors detached and cloned before the layer runs (so an in-place layer cannot
   change what was captured), other values as they are. A module called several times in one
   forward (a shared ReLU) gives one call site per call, ``relu#0``, ``relu#1``. The hooks are
   removed on every path, exceptions and KeyboardInterrupt included.
2. **Idle baseline.** The sampler runs while the process sleeps for ``idle_s`` (or the caller
   passes ``idle_power_w``); net energy = gross - idle power x time.
3. **Isolation.** In rounds, each in a fresh random order of the call sites and the whole model:
   per call site, ``warmup`` calls, then repeated calls inside a window marked on the monitor's
   timeline (``CUDA`` synchronised before and after). The window is either ``repeats`` calls
   (fixed) or, by default, as many calls as it takes for the window to last
   ``max(min_window_s, k_updates x sensor update interval)`` and at least ``min_repeats`` calls.
   A call site that changes its own input (an in-place layer) is detected on its first warm-up
   call; its input is then restored from the captured copy before every call, and the cost of
   the restore copies alone, measured in a window of its own, is subtracted.
4. **Figures.** Per call site and round: latency = window / calls, energy per inference =
   window energy / calls. Over rounds: mean and 95 % confidence interval (Student t). The
   ``(unattributed)`` row is the whole model minus the sum of the layers (functional ops such
   as ``torch.flatten`` or residual adds, and whatever isolation changes), and the closure
   ratio is sum of layers / whole model.
"""
from __future__ import annotations

import logging
import math
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import __version__ as _version
from . import insitu as _insitu
from ._native import core as _core
from .monitor import PowerMonitor
from .presets import select_layers
from .report import Report
from .sensors import SensorError, create_sensor

log = logging.getLogger("edgepower")

MODEL_LABEL = "(model)"
UNATTRIBUTED_LABEL = "(unattributed)"
RESTORE_SUFFIX = " (restore)"


# ---- small helpers --------------------------------------------------------------------------------
def _clone(obj: Any) -> Any:
    """Deep copy of the tensors inside args/kwargs structures (detached); other values kept."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(_clone(o) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_clone(o) for o in obj)
    if isinstance(obj, dict):
        items = {k: _clone(v) for k, v in obj.items()}
        try:
            return type(obj)(items)
        except Exception:  # a dict subclass without a dict constructor
            return items
    return obj


def _tensors(obj: Any, out: Optional[List[torch.Tensor]] = None) -> List[torch.Tensor]:
    """Every tensor inside a structure, in a fixed traversal order."""
    out = [] if out is None else out
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors(o, out)
    elif isinstance(obj, dict):
        for v in obj.values():
            _tensors(v, out)
    return out


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if torch.equal(a, b):
        return True
    if a.dtype.is_floating_point or a.dtype.is_complex:
        return bool(torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True))
    return False


def _shape(obj: Any) -> str:
    if isinstance(obj, torch.Tensor):
        return "x".join(str(d) for d in obj.shape) if obj.dim() else "scalar"
    if isinstance(obj, (list, tuple)):
        return "(" + ", ".join(_shape(o) for o in obj) + ")"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k}={_shape(v)}" for k, v in obj.items()) + "}"
    if obj is None or isinstance(obj, (bool, int, float)):
        return repr(obj)
    return type(obj).__name__


def describe_inputs(args: Sequence[Any], kwargs: Dict[str, Any]) -> str:
    """Shapes of args and tensor kwargs, e.g. ``1x3x224x224, attention_mask=16x128``.
    None-valued kwargs are left out (Hugging Face passes many)."""
    parts = [_shape(a) for a in args]
    parts += [f"{k}={_shape(v)}" for k, v in kwargs.items() if v is not None]
    return ", ".join(parts)


def _finite_positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def _stats(values: Sequence[float]) -> Tuple[float, float, int]:
    """(mean, 95 % CI half-width, n) of the finite values; NaN where undefined."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, 0
    s = _core.repeat_stats(v)
    return float(s["mean"]), float(s["ci95_half_width"]), int(s["n"])


# ---- call sites -----------------------------------------------------------------------------------
@dataclass
class CallSite:
    """One call of one module in the captured forward (or the whole model)."""

    module_name: str
    call: int
    order: int
    module: Any
    args: tuple
    kwargs: Dict[str, Any]
    ncalls: int = 1
    inplace: Optional[bool] = None
    error: str = ""
    failed_round: Optional[int] = None
    region: int = -1
    restore_region: int = -1
    _work: Optional[Tuple[tuple, Dict[str, Any]]] = field(default=None, repr=False)
    _pairs: List[Tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        if self.module_name == MODEL_LABEL or self.ncalls == 1:
            return self.module_name
        return f"{self.module_name}#{self.call}"

    @property
    def is_model(self) -> bool:
        return self.module_name == MODEL_LABEL

    # The tensors the module is called with: a copy of the captured ones, so the capture stays
    # pristine and can restore them after an in-place call.
    def prepare(self) -> None:
        if self._work is None:
            self._work = (_clone(self.args), _clone(self.kwargs))
            self._pairs = list(zip(_tensors(self._work), _tensors((self.args, self.kwargs))))

    def restore(self) -> None:
        for dst, src in self._pairs:
            dst.copy_(src)

    def mutated(self) -> bool:
        return any(not _same(dst, src) for dst, src in self._pairs)

    def run(self) -> Any:
        a, k = self._work  # type: ignore[misc]
        return self.module(*a, **k)

    def run_restored(self) -> Any:
        self.restore()
        a, k = self._work  # type: ignore[misc]
        return self.module(*a, **k)

    def release(self) -> None:
        self._work = None
        self._pairs = []


@dataclass
class Progress:
    """What the profiler is doing, passed to the ``progress`` callback.

    stage: ``"capture"``, ``"idle"``, ``"measure"`` or ``"done"``; done/total count windows in
    the measure stage; label is the call site being measured; round counts from 0.
    """

    stage: str
    done: int
    total: int
    label: str = ""
    round: int = 0
    rounds: int = 1


class LayerProfiler:
    """Measures the energy and latency of each layer of a PyTorch model at inference.

    Parameters
    ----------
    model : torch.nn.Module
        The model. It is put in eval mode while profiling and its modes restored after.
    sensor : str or Sensor
        Sensor spec (``"auto"``: the best available here; ``"constant:5"``, ``"regions:..."``
        for synthetic sources; see :func:`edgepower.sensors`) or a sensor object.
    rate_hz : float
        Sampling rate of the monitor.
    layers : None, str or list of str
        None: leaf modules. A preset name (``"auto"``, ``"leaves"``, ``"vgg"``,
        ``"distilbert"``) or explicit module names (``"features.0"``, ``"features[0]"``).
    depth : int, optional
        Profile the modules this many levels down instead (and shallower leaves).
    repeats : "auto" or int
        ``"auto"`` (default): adaptive windows (see ``min_window_s``, ``k_updates``,
        ``min_repeats``). An int: exactly that many calls per window (the method of the tools
        that run each layer 100 times).
    min_window_s : float
        Shortest adaptive window, seconds.
    k_updates : float
        Adaptive windows also last at least this many sensor update intervals.
    min_repeats : int
        Fewest calls in an adaptive window.
    warmup : int
        Calls before each window, not measured.
    rounds : int
        Each round measures every call site and the whole model once, in a new random order;
        figures are the mean over rounds with a 95 % confidence interval.
    idle_s : float
        Seconds of idle baseline measured before profiling (0: none, unless ``idle_power_w``).
    idle_power_w : float, optional
        A known idle power to subtract instead of measuring it.
    seed : int
        Seed of the shuffled order.
    edge_retries : int
        A window whose edges the sampler did not sample on time (samples more than 4 periods
        apart around an edge, as when the sampler thread is starved of CPU) is measured again,
        up to this many times; the gap is reported per window.
    trace_model : bool
        While the whole model is measured, also mark each layer's region on the timeline (one
        hook call per layer call). Gives region-following sensors and traces the layers inside
        the whole model; adds a little time to the whole-model figure.
    mode : {"isolation", "in-situ"}
        ``"isolation"`` (default): each layer alone, as described above. ``"in-situ"``: the whole
        model runs repeatedly with hooks marking each layer on the timeline, and every sample
        goes to the layer running when it was taken (:mod:`edgepower.insitu`). In-situ, a
        round is a number of forwards (``repeats``, or adaptive: until the shortest layer has
        run ``max(min_window_s, k_updates x update interval)``, at most ``max_round_s``).
    sync_layers : bool
        In-situ on CUDA: synchronise the device in every hook (exact marks, changed timing).
        Default False: CUDA events mark the layers and the device is synchronised once per forward.
    max_delay_s : float, optional
        In-situ: random delay before each forward, uniform in ``[0, max_delay_s]``; default the
        sensor's update interval (at least two sample periods).
    max_round_s : float
        In-situ: longest round of adaptive forwards, seconds.
    monitor : PowerMonitor, optional
        Use this monitor (its sensor and timeline) instead of making one; it is started if
        needed and stopped only if the profiler started it.
    progress : callable, optional
        Called with a :class:`Progress` as profiling advances (the CLI draws a bar with it).
    before_window : callable, optional
        Called as ``before_window(label, round)`` before each call site's warm-up and window,
        e.g. :class:`edgepower.methods.PhaseShift` to spread the windows' phases.

    Examples
    --------
    >>> prof = LayerProfiler(model, sensor="auto")                # doctest: +SKIP
    >>> report = prof.profile(torch.randn(1, 3, 224, 224))        # doctest: +SKIP
    >>> print(report.summary()); report.to_pandas()               # doctest: +SKIP
    """

    def __init__(self, model: Any, sensor: Union[str, "_core.Sensor"] = "auto", rate_hz: float = 1000.0, *,
                 layers: Union[None, str, Sequence[str]] = None, depth: Optional[int] = None,
                 repeats: Union[str, int] = "auto", min_window_s: float = 0.2, k_updates: float = 10.0,
                 min_repeats: int = 3, warmup: int = 2, rounds: int = 3, idle_s: float = 1.0,
                 idle_power_w: Optional[float] = None, seed: int = 0, trace_model: bool = False,
                 edge_retries: int = 2,
                 mode: str = "isolation", sync_layers: bool = False, max_delay_s: Optional[float] = None,
                 max_round_s: float = 5.0,
                 monitor: Optional[PowerMonitor] = None,
                 progress: Optional[Callable[[Progress], None]] = None,
                 before_window: Optional[Callable[[str, int], None]] = None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}; wrap a function in a "
                            "Module or measure it with edgepower.PowerMonitor")
        if isinstance(repeats, str):
            if repeats != "auto":
                raise ValueError(f"repeats must be 'auto' or a positive int, got {repeats!r}")
        elif isinstance(repeats, bool) or not isinstance(repeats, int):
            raise ValueError(f"repeats must be 'auto' or a positive int, got {repeats!r}")
        elif repeats <= 0:
            raise ValueError(f"repeats must be a positive number of calls per window, got {repeats}")
        if not _finite_positive(min_window_s):
            raise ValueError(f"min_window_s must be a positive number of seconds, got {min_window_s!r}")
        if not _finite_positive(k_updates):
            raise ValueError(f"k_updates must be a positive number of sensor update intervals, got {k_updates!r}")
        for name, value, low in (("min_repeats", min_repeats, 1), ("warmup", warmup, 0), ("rounds", rounds, 1),
                                 ("edge_retries", edge_retries, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if not (isinstance(idle_s, (int, float)) and not isinstance(idle_s, bool) and math.isfinite(idle_s)
                and idle_s >= 0):
            raise ValueError(f"idle_s must be a number of seconds >= 0 (0: no idle baseline), got {idle_s!r}")
        if idle_power_w is not None and not (isinstance(idle_power_w, (int, float)) and math.isfinite(idle_power_w)
                                             and idle_power_w >= 0):
            raise ValueError(f"idle_power_w must be a power in W >= 0, got {idle_power_w!r}")
        if progress is not None and not callable(progress):
            raise TypeError("progress must be a callable taking a Progress, or None")
        if monitor is not None and not isinstance(monitor, PowerMonitor):
            raise TypeError(f"monitor must be an edgepower.PowerMonitor, got {type(monitor).__name__}")
        self.mode = _insitu.check_mode(mode)
        _insitu.check_options(self.mode, sync_layers, max_delay_s, max_round_s)
        self.sync_layers = sync_layers
        self.max_delay_s = None if max_delay_s is None else float(max_delay_s)
        self.max_round_s = float(max_round_s)
        self.model = model
        self.layer_names = select_layers(model, layers, depth)  # fails early on unknown names
        self.layers_spec = layers if depth is None else f"depth={depth}"
        self.rate_hz = float(rate_hz)
        self.repeats = repeats
        self.min_window_s = float(min_window_s)
        self.k_updates = float(k_updates)
        self.min_repeats = min_repeats
        self.warmup = warmup
        self.rounds = rounds
        self.idle_s = float(idle_s)
        self.idle_power_w = None if idle_power_w is None else float(idle_power_w)
        self.seed = seed
        self.trace_model = bool(trace_model)
        self.edge_gap_periods = 4.0
        self.edge_retries = int(edge_retries)
        self._active_monitor: Optional[PowerMonitor] = None
        self.progress = progress
        if before_window is not None and not callable(before_window):
            raise TypeError("before_window must be a callable taking (label, round), or None")
        self.before_window = before_window
        self._monitor = monitor
        # Build the sensor now, so an unavailable one fails before any work is done.
        self.sensor = monitor.sensor if monitor is not None else create_sensor(sensor)
        if monitor is None:
            PowerMonitor(self.sensor, rate_hz=self.rate_hz)  # validates rate_hz; never started

    # ---- public ---------------------------------------------------------------------------------
    def profile(self, *args: Any, **kwargs: Any) -> Report:
        """Profiles one forward ``model(*args, **kwargs)`` layer by layer.

        Returns
        -------
        Report

        Raises
        ------
        ValueError
            The model rejects the inputs (the message names the model and the input shapes).
        KeyboardInterrupt
            Passed on after the hooks are removed, the model's modes restored and the monitor
            stopped.
        """
        if self.mode == "in-situ":
            return _insitu.profile_in_situ(self, args, kwargs)
        model = self.model
        modes = {m: m.training for m in model.modules()}
        monitor = self._monitor or PowerMonitor(self.sensor, rate_hz=self.rate_hz)
        started_here = False
        timeline = monitor.timeline
        open_regions: List[int] = []
        t_start = time.time()
        meta: Dict[str, Any] = {}
        try:
            model.eval()
            sites, whole, not_called, capture_s, sync, devices = self._prepare_sites(args, kwargs, timeline)
            if not monitor.running:
                monitor.start()
                started_here = True
            idle_w, idle_source, target_s, interval_s, interval_source = self._baseline(monitor)
            self._active_monitor = monitor
            windows = self._measure(sites, whole, monitor, sync, target_s, open_regions)
            monitor.wait_for_sample_after(max((w["t1_ns"] for w in windows), default=0))
        finally:
            self._active_monitor = None
            for rid in open_regions:  # a window cut short by an exception: close its region
                timeline.end(rid)
            sampler_error = self._finish(modes, monitor, started_here)
        self._emit(Progress("done", 1, 1))
        meta.update(self._provenance(monitor, sites, whole, args, kwargs, devices, not_called, capture_s,
                                     idle_w, idle_source, target_s, interval_s, interval_source, t_start))
        if sampler_error:
            meta["sampler_error"] = sampler_error
        return self._report(monitor, sites, whole, windows, idle_w, meta)

    # ---- steps ----------------------------------------------------------------------------------
    @staticmethod
    def _finish(modes: Dict[Any, bool], monitor: PowerMonitor, started_here: bool) -> str:
        """Cleanup on every path of both modes: restores the modules' train/eval modes and stops
        a monitor this profile started. Returns the sampler's error ("" if none): the report
        records it instead of losing the measurements."""
        for m, was_training in modes.items():
            m.train(was_training)
        if started_here:
            try:
                monitor.stop()
            except SensorError as exc:
                log.warning("the sampler stopped with an error: %s", exc)
                return str(exc)
        return ""

    def _emit(self, p: Progress) -> None:
        if self.progress is not None:
            self.progress(p)

    def _prepare_sites(self, args: tuple, kwargs: Dict[str, Any], timeline: "_core.Timeline"):
        """Capture, the whole-model call site, timeline regions and the synchroniser: the steps
        both modes take before measuring. Returns (sites, whole, not_called, capture_s, sync,
        devices)."""
        self._emit(Progress("capture", 0, 1))
        sites, not_called, capture_s = self._capture(args, kwargs)
        whole = CallSite(MODEL_LABEL, 0, len(sites), self.model, _clone(tuple(args)), _clone(dict(kwargs)))
        self._emit(Progress("capture", 1, 1))
        for s in sites:
            s.region = timeline.region(s.label)
        whole.region = timeline.region(MODEL_LABEL)
        sync, devices = self._synchronizer(sites + [whole])
        return sites, whole, not_called, capture_s, sync, devices

    def _baseline(self, monitor: PowerMonitor):
        """Once the monitor runs: the first sample, the idle baseline and the target window.
        Returns (idle_w, idle_source, target_s, interval_s, interval_source)."""
        self._wait_for_first_sample(monitor)
        idle_w, idle_source = self._idle(monitor)
        target_s, interval_s, interval_source = self._target_window(monitor)
        return idle_w, idle_source, target_s, interval_s, interval_source

    def _capture(self, args: tuple, kwargs: Dict[str, Any]) -> Tuple[List[CallSite], List[str], float]:
        """The dry run with pre-hooks: every call of every selected layer, inputs cloned."""
        named = dict(self.model.named_modules())
        records: List[Tuple[str, tuple, Dict[str, Any]]] = []

        def hook_for(name: str):
            def hook(module, a, k):
                records.append((name, _clone(a), _clone(k)))
            return hook

        handles = []
        try:
            for name in self.layer_names:
                handles.append(named[name].register_forward_pre_hook(hook_for(name), with_kwargs=True))
            t0 = time.perf_counter()
            try:
                with torch.inference_mode():
                    self.model(*args, **kwargs)
            except Exception as exc:
                raise ValueError(f"{type(self.model).__name__} rejected the inputs ({describe_inputs(args, kwargs) or 'none'}): "
                                 f"{type(exc).__name__}: {exc}. Pass the inputs its forward() takes, as "
                                 "profile(*args, **kwargs).") from exc
            capture_s = time.perf_counter() - t0
        finally:
            for h in handles:
                h.remove()
        counts: Dict[str, int] = {}
        sites = []
        for order, (name, a, k) in enumerate(records):
            call = counts.get(name, 0)
            counts[name] = call + 1
            sites.append(CallSite(name, call, order, named[name], a, k))
        for s in sites:
            s.ncalls = counts[s.module_name]
        not_called = [n for n in self.layer_names if n not in counts]
        if not_called:
            log.warning("%d selected layer(s) were not called in the forward and are left out: %s",
                        len(not_called), ", ".join(not_called))
        if not sites:
            raise ValueError(f"none of the selected layers of {type(self.model).__name__} ran in the forward; "
                             "check the layer names or pass layers=None")
        return sites, not_called, capture_s

    def _synchronizer(self, sites: List[CallSite]) -> Tuple[Callable[[], None], List[str]]:
        devices = {t.device for t in self.model.parameters()} | {t.device for t in self.model.buffers()}
        for s in sites:
            devices |= {t.device for t in _tensors((s.args, s.kwargs))}
        cuda = sorted({d for d in devices if d.type == "cuda"}, key=str)

        def sync() -> None:
            for d in cuda:
                torch.cuda.synchronize(d)
        return sync, sorted(str(d) for d in devices)

    def _idle(self, monitor: PowerMonitor) -> Tuple[Optional[float], str]:
        if self.idle_power_w is not None:
            monitor.idle_power_w = self.idle_power_w
            return self.idle_power_w, "given"
        if self.idle_s > 0:
            self._emit(Progress("idle", 0, 1))
            idle = monitor.measure_idle(self.idle_s)
            self._emit(Progress("idle", 1, 1))
            return idle, f"measured over {self.idle_s:g} s before profiling"
        return None, "none (idle_s=0): net figures are not available"

    def _target_window(self, monitor: PowerMonitor) -> Tuple[float, float, str]:
        interval, source = math.nan, "unknown"
        ui = monitor.info.update_interval_s
        if isinstance(ui, float) and math.isfinite(ui) and ui > 0:
            interval, source = ui, "sensor info"
        else:
            eff = monitor.stats().get("effective_update_interval_s", math.nan)
            if isinstance(eff, float) and math.isfinite(eff) and eff > 0:
                interval, source = eff, "measured (effective update interval of the readings)"
        target = self.min_window_s
        if math.isfinite(interval):
            target = max(target, self.k_updates * interval)
        return target, interval, source

    def _window(self, site: CallSite, fn: Callable[[], Any], region: int, target_ns: int,
                sync: Callable[[], None], timeline: "_core.Timeline", open_regions: List[int]) -> Tuple[int, int, int]:
        """Runs fn repeatedly inside a marked window; returns (t0_ns, t1_ns, calls)."""
        clock = time.monotonic_ns  # CLOCK_MONOTONIC, the clock of the samples and marks
        sync()
        n = 0
        t0 = clock()
        timeline.mark_at(t0, region, True)
        open_regions.append(region)
        if isinstance(self.repeats, int):
            for _ in range(self.repeats):
                fn()
            n = self.repeats
        else:
            deadline = t0 + target_ns
            min_n = self.min_repeats
            while True:
                fn()
                n += 1
                if n >= min_n and clock() >= deadline:
                    break
        sync()
        t1 = clock()
        timeline.mark_at(t1, region, False)
        open_regions.remove(region)
        return t0, t1, n

    def _trace_hooks(self, sites: List[CallSite], timeline: "_core.Timeline") -> List[Any]:
        """Pre/post hooks that mark each layer's region while the whole model runs."""
        named = dict(self.model.named_modules())
        by_module: Dict[str, List[int]] = {}
        for s in sites:
            by_module.setdefault(s.module_name, []).append(s.region)
        count: Dict[str, int] = {}
        handles = []

        def reset(module, a):
            count.clear()

        handles.append(self.model.register_forward_pre_hook(reset))
        for name, regions in by_module.items():
            def pre(module, a, name=name, regions=regions):
                i = count.get(name, 0)
                count[name] = i + 1
                if i < len(regions):
                    timeline.begin(regions[i])

            def post(module, a, out, name=name, regions=regions):
                i = count.get(name, 0) - 1
                if 0 <= i < len(regions):
                    timeline.end(regions[i])
            handles.append(named[name].register_forward_pre_hook(pre))
            handles.append(named[name].register_forward_hook(post, always_call=True))
        return handles

    def _measure(self, sites: List[CallSite], whole: CallSite, monitor: PowerMonitor, sync: Callable[[], None],
                 target_s: float, open_regions: List[int]) -> List[Dict[str, Any]]:
        timeline = monitor.timeline
        target_ns = int(round(target_s * 1e9))
        rng = random.Random(self.seed)
        items = sites + [whole]
        windows: List[Dict[str, Any]] = []
        total = self.rounds * len(items)
        done = 0
        try:
            with torch.inference_mode():
                for r in range(self.rounds):
                    order = list(items)
                    rng.shuffle(order)
                    for site in order:
                        self._emit(Progress("measure", done, total, site.label, r, self.rounds))
                        done += 1
                        if site.error:
                            continue
                        try:
                            if self.before_window is not None:
                                self.before_window(site.label, r)
                            windows.extend(self._measure_site(site, r, sync, target_ns, timeline, open_regions, sites))
                        except Exception as exc:
                            site.error = f"{type(exc).__name__}: {exc}"
                            site.failed_round = r
                            log.warning("%s failed in isolation (round %d): %s", site.label, r, site.error)
                    self._emit(Progress("measure", done, total, "", r, self.rounds))
        finally:
            for s in items:
                s.release()
        return windows

    def _measure_site(self, site: CallSite, r: int, sync: Callable[[], None], target_ns: int,
                      timeline: "_core.Timeline", open_regions: List[int],
                      sites: List[CallSite]) -> List[Dict[str, Any]]:
        site.prepare()
        if site.inplace is None:
            # The first call tells whether the site changes its own input.
            site.run()
            site.inplace = site.mutated()
            if site.inplace:
                log.info("%s changes its input in place: restoring it before every call", site.label)
                site.restore_region = timeline.region(site.label + RESTORE_SUFFIX)
            warm = self.warmup - 1
        else:
            warm = self.warmup
        fn = site.run_restored if site.inplace else site.run
        for _ in range(max(0, warm)):
            fn()
        hooks = self._trace_hooks(sites, timeline) if site.is_model and self.trace_model else []
        try:
            t0, t1, n, gap, tries = self._checked_window(site, fn, site.region, target_ns, sync, timeline,
                                                         open_regions)
        finally:
            for h in hooks:
                h.remove()
        out = [dict(label=site.label, module=site.module_name, call=site.call, round=r, kind="model" if site.is_model
                    else "layer", t0_ns=t0, t1_ns=t1, calls=n, edge_gap_ms=gap * 1e3, retries=tries)]
        if site.inplace:
            # Restore copies alone, to subtract their cost.
            rt0, rt1, rn, gap, tries = self._checked_window(site, site.restore, site.restore_region, target_ns, sync,
                                                            timeline, open_regions)
            out.append(dict(label=site.label, module=site.module_name, call=site.call, round=r, kind="restore",
                            t0_ns=rt0, t1_ns=rt1, calls=rn, edge_gap_ms=gap * 1e3, retries=tries))
        return out

    def _checked_window(self, site: CallSite, fn: Callable[[], Any], region: int, target_ns: int,
                        sync: Callable[[], None], timeline: "_core.Timeline",
                        open_regions: List[int]) -> Tuple[int, int, int, float, int]:
        """A window whose edges were sampled on time: the energy of the slice between the last
        sample before an edge and the first after it is interpolated, so a late sample there
        (the sampler thread starved of CPU) is an error up to power step x gap / 2. Such a
        window is measured again, up to ``edge_retries`` times. Returns (t0, t1, calls, largest
        edge gap in s, retries)."""
        monitor = self._active_monitor
        limit_s = max(self.edge_gap_periods / monitor.rate_hz, 0.001)
        tries = 0
        while True:
            t0, t1, n = self._window(site, fn, region, target_ns, sync, timeline, open_regions)
            monitor.wait_for_sample_after(t1)
            gap = max(self._edge_gap_s(monitor, t0), self._edge_gap_s(monitor, t1))
            if not gap > limit_s or tries >= self.edge_retries:
                if gap > limit_s:
                    log.info("%s: samples around the window's edges were %.1f ms apart (limit %.1f ms) after %d "
                             "retries; kept", site.label, gap * 1e3, limit_s * 1e3, tries)
                return t0, t1, n, gap, tries
            tries += 1
            log.info("%s: samples around the window's edges were %.1f ms apart (limit %.1f ms): measuring again",
                     site.label, gap * 1e3, limit_s * 1e3)

    @staticmethod
    def _edge_gap_s(monitor: PowerMonitor, t_ns: int) -> float:
        sampler = monitor.sampler
        i = sampler.index_at_or_after(t_ns)
        if i == 0 or i >= len(sampler):
            return math.inf
        t = sampler.samples(i - 1, i + 1)["t_ns"]
        return (int(t[1]) - int(t[0])) * 1e-9

    @staticmethod
    def _wait_for_first_sample(monitor: PowerMonitor) -> None:
        # A window may only start once the sampler has a sample before it.
        deadline = time.monotonic() + 2.0 + 10.0 / monitor.rate_hz
        while len(monitor.sampler) < 2:
            if time.monotonic() > deadline or monitor.sampler.failed:
                st = monitor.stats()
                raise SensorError(f"sensor {monitor.info.kind} gave no samples within 2 s of starting "
                                  f"(read errors: {st.get('read_errors')}, last error: {st.get('last_error') or 'none'})")
            time.sleep(min(0.002, 0.5 / monitor.rate_hz))

    # ---- results --------------------------------------------------------------------------------
    def _provenance(self, monitor: PowerMonitor, sites: List[CallSite], whole: CallSite, args: tuple,
                    kwargs: Dict[str, Any], devices: List[str], not_called: List[str], capture_s: float,
                    idle_w: Optional[float], idle_source: str, target_s: float, interval_s: float,
                    interval_source: str, t_start: float) -> Dict[str, Any]:
        prov = dict(monitor.provenance())
        prov["sampler"] = monitor.stats()
        return {
            "model": type(self.model).__name__,
            "model_module": type(self.model).__module__,
            "model_params": int(sum(p.numel() for p in self.model.parameters())),
            "inputs": describe_inputs(args, kwargs),
            "devices": devices,
            "layers": self.layers_spec if isinstance(self.layers_spec, str) or self.layers_spec is None
            else list(self.layers_spec),
            "selected_layers": list(self.layer_names),
            "not_called": not_called,
            "capture_s": capture_s,
            "method": {
                "mode": self.mode,
                "repeats": self.repeats, "min_window_s": self.min_window_s, "k_updates": self.k_updates,
                "min_repeats": self.min_repeats, "warmup": self.warmup, "rounds": self.rounds, "seed": self.seed,
                "target_window_s": target_s, "sensor_update_interval_s": interval_s,
                "sensor_update_interval_source": interval_source, "trace_model": self.trace_model,
                "edge_retries": self.edge_retries, "edge_gap_limit_s": max(self.edge_gap_periods / monitor.rate_hz, 0.001),
                "inference_mode": True, "eval_mode": True,
                "cuda_synchronized": any(d.startswith("cuda") for d in devices),
            },
            "idle_power_w": idle_w,
            "idle_source": idle_source,
            "monitor": prov,
            "sensor": monitor.info.kind,
            "estimated": bool(monitor.info.estimated),
            "environment": {
                "edgepower": _version, "torch": torch.__version__, "python": sys.version.split()[0],
                "platform": platform.platform(), "machine": platform.machine(),
                "processor": platform.processor(), "torch_threads": torch.get_num_threads(),
                "cuda_devices": [torch.cuda.get_device_name(torch.device(d)) for d in devices if d.startswith("cuda")],
            },
            "started_unix_s": t_start,
            "wall_s": time.time() - t_start,
        }

    def _report(self, monitor: PowerMonitor, sites: List[CallSite], whole: CallSite, windows: List[Dict[str, Any]],
                idle_w: Optional[float], meta: Dict[str, Any]) -> Report:
        total_power = None
        s = monitor.samples()
        if len(s):
            total_power = monitor.total_power(s)
        for w in windows:
            m = monitor.measure(w["t0_ns"], w["t1_ns"], name=w["label"])
            w["duration_s"] = (w["t1_ns"] - w["t0_ns"]) * 1e-9
            w["energy_j"] = m.energy_j
            w["num_samples"] = m.num_samples
            w["reason"] = m.reason
        samples = {"t_ns": s.t_ns, "power_w": total_power if total_power is not None else np.zeros(0)}
        rows = build_rows(sites, whole, windows, idle_w, self.rounds, monitor.info.kind,
                          bool(monitor.info.estimated), self.model)
        return Report(rows=rows, windows=windows, meta=meta, samples=samples)


# ---- rows -----------------------------------------------------------------------------------------
def _per_round(windows: List[Dict[str, Any]], label: str, rounds: int, idle_w: Optional[float]) -> Dict[str, np.ndarray]:
    """Per-round figures of one call site: latency_s, gross_j, net_j per inference, and totals."""
    nan = np.full(rounds, math.nan)
    out = {k: nan.copy() for k in ("latency_s", "gross_j", "net_j", "window_s", "energy_j", "calls", "samples")}
    reasons = []
    by_round: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for w in windows:
        if w["label"] == label:
            by_round.setdefault(w["round"], {})[w["kind"]] = w
    for r, kinds in by_round.items():
        main = kinds.get("layer") or kinds.get("model")
        if main is None:
            continue
        n, t, e = main["calls"], main["duration_s"], main["energy_j"]
        lat, gross = t / n, e / n
        net = (e - idle_w * t) / n if idle_w is not None else math.nan
        if main["reason"]:
            reasons.append(main["reason"])
        rest = kinds.get("restore")
        if rest is not None:
            rn, rt, re_ = rest["calls"], rest["duration_s"], rest["energy_j"]
            lat -= rt / rn
            gross -= re_ / rn
            net = net - (re_ - idle_w * rt) / rn if idle_w is not None else math.nan
            if rest["reason"]:
                reasons.append(rest["reason"])
        if math.isfinite(net) and abs(net) <= 1e-12 * abs(gross):
            net = 0.0  # rounding left over from subtracting an identical baseline (a constant sensor)
        out["latency_s"][r], out["gross_j"][r], out["net_j"][r] = lat, gross, net
        out["window_s"][r], out["energy_j"][r] = t, e
        out["calls"][r], out["samples"][r] = n, main["num_samples"]
    out["reasons"] = sorted(set(reasons))  # type: ignore[assignment]
    return out


def _material(value: float, scale: float) -> bool:
    """True when value is a finite number distinguishable from zero at the scale of ``scale``
    (a net energy of a constant sensor is 0 up to rounding; a share of it means nothing)."""
    return math.isfinite(value) and math.isfinite(scale) and abs(value) > 1e-9 * max(abs(scale), 1e-300)


def _row(label: str, module: str, call: Optional[int], kind: str, type_: str, params: int, shapes: str,
         pr: Dict[str, Any], idle_w: Optional[float], sensor: str, estimated: bool, inplace: bool = False,
         status: str = "ok", error: str = "") -> Dict[str, Any]:
    lat, lat_ci, n_ok = _stats(pr["latency_s"])
    gross, gross_ci, _ = _stats(pr["gross_j"])
    net, net_ci, _ = _stats(pr["net_j"])
    calls = pr["calls"][np.isfinite(pr["calls"])]
    windows = pr["window_s"][np.isfinite(pr["window_s"])]
    energies = pr["energy_j"][np.isfinite(pr["energy_j"])]
    samples = pr["samples"][np.isfinite(pr["samples"])]
    headline, headline_ci = (net, net_ci) if idle_w is not None else (gross, gross_ci)
    notes = list(pr.get("reasons", []))
    if samples.size and samples.min() < 2:
        notes.append("a window held fewer than 2 samples: its energy is interpolated between samples; "
                     "use longer windows (min_window_s) or a higher rate")
    if inplace:
        notes.append("changes its input in place: input restored before every call, restore cost subtracted")
    if status == "ok" and n_ok == 0:
        status = "no data"
    if status == "ok" and not math.isfinite(gross):
        status = "no energy"
    return {
        "layer": label,
        "module": module,
        "call": call,
        "kind": kind,
        "type": type_,
        "params": int(params),
        "input_shapes": shapes,
        "rounds": int(n_ok),
        "repeats": int(calls.sum()) if calls.size else 0,
        "window_s": float(windows.mean()) if windows.size else math.nan,
        "total_time_s": float(windows.sum()) if windows.size else math.nan,
        "energy_total_j": float(energies.sum()) if energies.size else math.nan,
        "latency_ms": lat * 1e3,
        "latency_ci95_ms": lat_ci * 1e3,
        "energy_per_inference_mj": gross * 1e3,
        "net_energy_per_inference_mj": net * 1e3,
        "ci95_mj": headline_ci * 1e3,
        "ci95_pct": abs(headline_ci / headline) * 100 if _material(headline, gross) else math.nan,
        "avg_power_w": gross / lat if lat and math.isfinite(lat) else math.nan,
        "net_power_w": net / lat if lat and math.isfinite(lat) else math.nan,
        "idle_power_w": idle_w if idle_w is not None else math.nan,
        "num_samples": int(samples.sum()) if samples.size else 0,
        "energy_pct": math.nan,
        "inplace": bool(inplace),
        "status": status,
        "error": error,
        "note": "; ".join(notes),
        "sensor": sensor,
        "estimated": bool(estimated),
    }


def _combine(parts: List[Dict[str, np.ndarray]], sign: Sequence[float]) -> Dict[str, Any]:
    """Per-round sums (with signs) of several call sites' figures; NaN where any part is."""
    out: Dict[str, Any] = {}
    for key in ("latency_s", "gross_j", "net_j", "window_s", "energy_j", "calls", "samples"):
        acc = np.zeros_like(parts[0][key])
        for p, s in zip(parts, sign):
            acc = acc + s * p[key]
        out[key] = acc
    out["reasons"] = []
    return out


def build_rows(sites: List[CallSite], whole: CallSite, windows: List[Dict[str, Any]], idle_w: Optional[float],
               rounds: int, sensor: str, estimated: bool, model: Any) -> List[Dict[str, Any]]:
    """Rows of the report: call sites in call order, a total after the last call of a module
    called more than once, then ``(unattributed)`` and ``(model)``."""
    per = {s.label: _per_round(windows, s.label, rounds, idle_w) for s in sites}
    rows: List[Dict[str, Any]] = []
    last_call = {s.module_name: s for s in sites}
    for s in sites:
        status = "failed" if s.error else "ok"
        rows.append(_row(s.label, s.module_name, s.call, "layer", type(s.module).__name__,
                         sum(p.numel() for p in s.module.parameters()), describe_inputs(s.args, s.kwargs),
                         per[s.label], idle_w, sensor, estimated, bool(s.inplace), status, s.error))
        if s.ncalls > 1 and last_call[s.module_name] is s:
            group = [x for x in sites if x.module_name == s.module_name]
            failed = [x.label for x in group if x.error]
            combined = _combine([per[x.label] for x in group], [1.0] * len(group))
            row = _row(s.module_name, s.module_name, None, "module total", type(s.module).__name__,
                       sum(p.numel() for p in s.module.parameters()), f"{len(group)} calls", combined, idle_w,
                       sensor, estimated, any(bool(x.inplace) for x in group),
                       "failed" if failed else "ok", f"failed calls: {', '.join(failed)}" if failed else "")
            row["repeats"] = int(sum(r["repeats"] for r in rows if r["module"] == s.module_name and r["kind"] == "layer"))
            row["note"] = f"sum of its {len(group)} calls per forward"
            rows.append(row)
    model_pr = _per_round(windows, MODEL_LABEL, rounds, idle_w)
    model_row = _row(MODEL_LABEL, "", None, "model", type(model).__name__,
                     sum(p.numel() for p in model.parameters()), describe_inputs(whole.args, whole.kwargs),
                     model_pr, idle_w, sensor, estimated, bool(whole.inplace),
                     "failed" if whole.error else "ok", whole.error)
    ok_sites = [s for s in sites if not s.error]
    un = _combine([model_pr] + [per[s.label] for s in ok_sites], [1.0] + [-1.0] * len(ok_sites))
    failed = [s.label for s in sites if s.error]
    un_row = _row(UNATTRIBUTED_LABEL, "", None, "unattributed", "", 0, "", un, idle_w, sensor, estimated,
                  status="failed" if whole.error else "ok",
                  error="the whole model failed in isolation" if whole.error else "")
    for key in ("repeats", "window_s", "total_time_s", "energy_total_j", "num_samples", "params", "avg_power_w"):
        un_row[key] = math.nan if key in ("window_s", "total_time_s", "energy_total_j", "avg_power_w") else 0
    un_row["note"] = ("whole model minus the sum of the layers: functional ops outside modules (flatten, residual "
                      "adds) and what isolation changes")
    if failed:
        un_row["note"] += f"; includes the failed layers {', '.join(failed)}"
    rows.append(un_row)
    rows.append(model_row)
    key = "net_energy_per_inference_mj" if idle_w is not None else "energy_per_inference_mj"
    denom = model_row[key]
    for row in rows:
        if _material(denom, model_row["energy_per_inference_mj"]):
            row["energy_pct"] = row[key] / denom * 100
    return rows


def profile_layers(model: Any, *inputs: Any, model_kwargs: Optional[Dict[str, Any]] = None, **options: Any) -> Report:
    """One call: ``LayerProfiler(model, **options).profile(*inputs, **model_kwargs)``.

    Examples
    --------
    >>> report = edgepower.profile_layers(model, x, sensor="auto", rounds=3)   # doctest: +SKIP
    """
    return LayerProfiler(model, **options).profile(*inputs, **(model_kwargs or {}))


__all__ = ["CallSite", "LayerProfiler", "MODEL_LABEL", "Progress", "UNATTRIBUTED_LABEL", "describe_inputs",
           "profile_layers"]
