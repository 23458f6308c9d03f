"""In-situ mode of the layer profiler: the whole model runs repeatedly, nothing is isolated.

``LayerProfiler(model, mode="in-situ")`` dispatches here (docs/profiler.md, "In-situ mode").

1. **Capture**, **idle baseline** and the sensor's update interval as in isolation mode.
2. **Hooks.** A forward pre-hook and a forward hook (``always_call=True``) on every selected
   layer mark the beginning and end of the call site's region on the monitor's C++ timeline.
   The hooks are bound at attach time (region id, bound ``Timeline.begin``/``end``), so a call
   costs one Python call and one lock-free native mark, no allocation. A module called several
   times per forward (a shared ReLU) counts its calls in a one-element list to pick the call
   site's region.
3. **Iterations.** ``warmup`` forwards, then ``rounds`` rounds of N forwards, each inside a
   ``(model)`` region, with a random delay (uniform in ``[0, max_delay_s]``) before each forward
   so the sampling instants and the sensor's refreshes fall at every phase of the forward: a
   layer shorter than the sensor refresh still collects samples in proportion to its duration.
   N is ``repeats`` (fixed), or (adaptive) as many forwards as it takes for the shortest call
   site to accumulate ``max(min_window_s, k_updates x update interval)`` of run time per round,
   capped at ``max_round_s`` per round.
4. **Attribution.** Each sample goes to the innermost region active at its time, in one native
   sweep (``_core.assign_samples``), by the time its read started: a layer's region, else the ``(model)`` region (glue between
   modules), else none (the delays). For a sample-and-hold sensor (its update interval at least
   two sample periods) the time a reading stands for is the sensor's last refresh, not the
   sample's timestamp: the refresh instants are fitted from the readings' changes (period and
   phase, least squares) and each reading is attributed to its refresh; with a sensor model
   (a ``CompensatedMonitor``), ``model.reading_lag_s`` earlier (:func:`shift_to_observation`).
5. **Figures.** Per call site and round: mean power = mean of the readings attributed to it,
   latency = its marked run time / calls, gross energy per call = mean power x latency, net =
   (mean power - idle) x latency. ``(model)``: all readings inside forwards; the mean and 95 %
   CI over rounds and the same columns as isolation mode (``num_samples``: readings attributed).

On CUDA the marks must stand for GPU time. ``sync_layers=True`` synchronises the device in every
hook (exact, but it serialises the GPU and changes the timing). By default the hooks record CUDA
events instead; after each forward the device is synchronised once, the events' times are
converted to CLOCK_MONOTONIC against an anchor event recorded right after a synchronisation,
and merged into the timeline in bulk (:func:`event_marks`: only call sites whose events were
recorded in this forward, so a site that did not run never contributes stale marks). The CUDA path has not run on a GPU yet (none was available
to this work).
"""
from __future__ import annotations

import logging
import math
import random
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ._native import core as _core

if TYPE_CHECKING:  # pragma: no cover
    from .monitor import PowerMonitor
    from .profiler import CallSite, LayerProfiler
    from .report import Report

log = logging.getLogger("edgepower")

#: Modes of :class:`edgepower.LayerProfiler`.
MODES = ("isolation", "in-situ")

__all__ = ["MODES", "check_mode", "check_options", "event_marks", "profile_in_situ", "shift_to_observation",
           "update_times"]


def check_mode(mode: Any) -> str:
    """The mode, or a ValueError listing the modes."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"unknown profiling mode {mode!r}; modes: {', '.join(repr(m) for m in MODES)} "
                         "('isolation': each layer alone in repeated windows; 'in-situ': the whole model "
                         "repeatedly, samples attributed to the layer running when they were taken)")
    return mode


def check_options(mode: str, sync_layers: Any, max_delay_s: Any, max_round_s: Any) -> None:
    """Validates the in-situ options (they are accepted, and ignored, in isolation mode)."""
    if not isinstance(sync_layers, bool):
        raise ValueError(f"sync_layers must be True or False, got {sync_layers!r}")
    if max_delay_s is not None and not (isinstance(max_delay_s, (int, float)) and not isinstance(max_delay_s, bool)
                                        and math.isfinite(max_delay_s) and max_delay_s >= 0):
        raise ValueError(f"max_delay_s must be a number of seconds >= 0 or None (auto), got {max_delay_s!r}")
    if not (isinstance(max_round_s, (int, float)) and not isinstance(max_round_s, bool)
            and math.isfinite(max_round_s) and max_round_s > 0):
        raise ValueError(f"max_round_s must be a positive number of seconds, got {max_round_s!r}")
    if mode != "in-situ" and (sync_layers or max_delay_s is not None):
        log.info("sync_layers and max_delay_s apply to mode='in-situ' only; ignored in %s mode", mode)


# ---- attribution times ----------------------------------------------------------------------------
def update_times(t_ns: np.ndarray, power_w: np.ndarray, interval_s: float, rate_hz: float,
                 stamp_ns: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
    """The time each reading stands for.

    A live sensor (no update interval, or one shorter than two sample periods): the sample's
    own timestamp. A sample-and-hold sensor: the refresh that produced the reading. Refreshes
    are taken as periodic: each change of the readings locates one inside ``(t[i-1], t[i]]``;
    consecutive changes are numbered by rounding their distance to the nominal interval, and a
    least-squares line through the midpoints gives the period; the phase (with the period
    refined on a fine grid around it) is the middle of the phases that every change allows,
    which pins it far more tightly than a sample period once there are many changes. When the
    fit is poor
    (residual RMS above a quarter period: not periodic), each reading is attributed to the
    midpoint of the last change before it instead.

    Parameters
    ----------
    t_ns : array of int64
        When each read started (ascending).
    power_w : array
        The readings.
    interval_s : float
        Nominal update interval of the sensor (NaN: unknown, live).
    rate_hz : float
        Sampling rate.
    stamp_ns : array of int64, optional
        When each read returned (default ``t_ns``): a refresh seen by read i happened after
        read i-1 started and before read i returned.

    Returns
    -------
    (attribution times in ns, info dict for the provenance)
    """
    t = np.asarray(t_ns, dtype=np.int64)
    stamp = t if stamp_ns is None else np.asarray(stamp_ns, dtype=np.int64)
    p = np.asarray(power_w, dtype=np.float64)
    period_ns = interval_s * 1e9 if isinstance(interval_s, float) and math.isfinite(interval_s) else math.nan
    sample_ns = 1e9 / rate_hz
    info: Dict[str, Any] = {"attribution": "sample time", "update_interval_s": interval_s}
    if not (period_ns >= 2 * sample_ns) or t.shape[0] < 4:
        info["why"] = "live readings (no update interval, or one shorter than two sample periods)"
        return t, info
    change = np.flatnonzero(p[1:] != p[:-1]) + 1
    if change.shape[0] < 3:
        info["why"] = "fewer than 3 changes of the readings: cannot locate the sensor's refreshes"
        return t, info
    # A change seen across a sampling gap (the sampler thread starved of CPU) bounds its
    # refresh loosely and could be misnumbered: fit on the changes seen between close samples.
    tight = change[(stamp[change] - t[change - 1]) <= 2.5 * sample_ns]
    if tight.shape[0] >= 3:
        change = tight
    base = int(t[change[0]])
    mid = ((t[change - 1] - base).astype(np.float64) + (stamp[change] - base).astype(np.float64)) / 2.0
    steps = np.maximum(1.0, np.round(np.diff(mid) / period_ns))
    k = np.concatenate([[0.0], np.cumsum(steps)])
    slope, intercept = np.polyfit(k, mid, 1)
    resid = mid - (intercept + slope * k)
    rms = float(np.sqrt(np.mean(resid ** 2)))
    if slope > 0 and rms <= 0.25 * slope:
        # Each change bounds its refresh: phase + k * period in (lo, hi]. Intersect the bounds
        # over all changes for periods within a few standard errors of the fit.
        lo = (t[change - 1] - base).astype(np.float64)
        hi = (stamp[change] - base).astype(np.float64)
        spread = float(np.std(k)) * math.sqrt(k.shape[0])
        sigma = rms / spread if spread > 0 else 0.0
        periods = slope + np.linspace(-6.0, 6.0, 241) * sigma
        lows = (lo[None, :] - k[None, :] * periods[:, None]).max(axis=1)
        highs = (hi[None, :] - k[None, :] * periods[:, None]).min(axis=1)
        best = int(np.argmax(highs - lows))
        width = float(highs[best] - lows[best])
        if width >= -0.5 * sample_ns:  # consistent (up to sampler jitter): take the middle
            slope, intercept = float(periods[best]), float(lows[best] + highs[best]) / 2.0
            info["phase_interval_us"] = width * 1e-3
        phase = base + intercept
        rel = t.astype(np.float64) - phase
        at = phase + np.floor(rel / slope) * slope
        ta = np.minimum(np.round(at).astype(np.int64), t)  # a refresh is never after the reading
        info.update(attribution="sensor refresh (periodic fit)", fitted_period_s=slope * 1e-9,
                    fit_residual_rms_us=rms * 1e-3, changes=int(change.shape[0]))
        return np.maximum.accumulate(ta), info
    # Not periodic: the last change's midpoint.
    marks = np.full(t.shape[0], -1, dtype=np.int64)
    marks[change] = np.arange(change.shape[0])
    last = np.maximum.accumulate(marks)
    ta = t.copy()
    ok = last >= 0
    ta[ok] = base + np.round(mid[last[ok]]).astype(np.int64)
    info.update(attribution="last change of the readings (refreshes not periodic)", fit_residual_rms_us=rms * 1e-3,
                changes=int(change.shape[0]))
    return np.maximum.accumulate(ta), info


def shift_to_observation(ta_ns: np.ndarray, info: Dict[str, Any], model: Any) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Moves refresh-attributed readings back to the time their power was observed.

    A reading attributed to its sensor refresh (:func:`update_times`) stands for power observed
    before that refresh: an INA3221's shunt conversion ends at the refresh, so with N = 1 a
    reading is the mean over the last conversion, centred half a conversion earlier; a running
    average of N conversions lags a further N - 1 refreshes on average. With a sensor model
    (a :class:`~edgepower.methods.CompensatedMonitor`'s ``model``) each such reading is
    attributed ``model.reading_lag_s`` earlier. Readings attributed to their sample time (live
    sensors), or without a model, are left as they are.

    Parameters
    ----------
    ta_ns : array of int64
        Attribution times from :func:`update_times`.
    info : dict
        Its info dict (``attribution`` says which rule was used); a copy is returned with
        ``reading_lag_us`` (0 when not shifted) and ``reading_lag_source``.
    model : SensorModel or None

    Returns
    -------
    (attribution times in ns, info)
    """
    from .methods import SensorModel

    info = dict(info)
    if not isinstance(model, SensorModel):
        info.update(reading_lag_us=0.0, reading_lag_source="none (no sensor model: give a CompensatedMonitor as "
                                                            "monitor= to attribute readings to their observation)")
        return ta_ns, info
    if info.get("attribution") == "sample time":
        info.update(reading_lag_us=0.0, reading_lag_source=f"none (readings attributed to their sample time; model "
                                                           f"{model.name or model.kind} not applied)")
        return ta_ns, info
    lag_ns = int(round(model.reading_lag_s * 1e9))
    info.update(reading_lag_us=lag_ns * 1e-3,
                reading_lag_source=f"sensor model {model.name or model.kind}: centre of the observation "
                                   f"{model.centre_lag_s * 1e6:.1f} us + (N - 1) x refresh")
    return np.asarray(ta_ns, dtype=np.int64) - lag_ns, info


# ---- hooks ----------------------------------------------------------------------------------------
class _Hooks:
    """Pre/post hooks marking each call site's region. ``attach`` registers them, ``remove``
    takes them off (idempotent); ``reset`` rewinds the per-module call counters before each
    forward."""

    def __init__(self, model: Any, sites: List["CallSite"], timeline: "_core.Timeline",
                 sync: Optional[Callable[[], None]] = None, events: bool = False):
        self.model = model
        self.sites = sites
        self.timeline = timeline
        self.sync = sync
        self.events = events
        self.handles: List[Any] = []
        self.counters: List[List[int]] = []
        # CUDA event path: one begin and one end event per call site, reused every forward.
        # began/ended: whether the site's events were recorded in *this* forward (reset() clears
        # them), so events left from an earlier forward are never merged as this one's marks.
        self.ev_begin: List[Any] = []
        self.ev_end: List[Any] = []
        self.began: List[bool] = []
        self.ended: List[bool] = []

    def attach(self) -> None:
        named = dict(self.model.named_modules())
        by_module: Dict[str, List[int]] = {}
        for i, s in enumerate(self.sites):
            by_module.setdefault(s.module_name, []).append(i)
        if self.events:
            import torch

            self.ev_begin = [torch.cuda.Event(enable_timing=True) for _ in self.sites]
            self.ev_end = [torch.cuda.Event(enable_timing=True) for _ in self.sites]
            self.began = [False] * len(self.sites)
            self.ended = [False] * len(self.sites)
        for name, idx in by_module.items():
            pre, post = self._pair(idx)
            mod = named[name]
            self.handles.append(mod.register_forward_pre_hook(pre))
            self.handles.append(mod.register_forward_hook(post, always_call=True))

    def _pair(self, idx: List[int]) -> Tuple[Callable[..., None], Callable[..., None]]:
        regions = [self.sites[i].region for i in idx]
        if self.events:
            begins = [_flagged(self.ev_begin[i].record, self.began, i) for i in idx]
            ends = [_flagged(self.ev_end[i].record, self.ended, i) for i in idx]
        elif self.sync is not None:
            b, e, sync = self.timeline.begin, self.timeline.end, self.sync

            def sync_begin(rid: int) -> None:
                sync()
                b(rid)

            def sync_end(rid: int) -> None:
                sync()
                e(rid)
            begins = [lambda r=r: sync_begin(r) for r in regions]
            ends = [lambda r=r: sync_end(r) for r in regions]
        else:
            begins = ends = []
        if len(idx) == 1:
            # The fast path: default arguments bind everything, the body is one call.
            if self.events:
                return (lambda m, a, _f=begins[0]: _f()), (lambda m, a, o, _f=ends[0]: _f())
            if self.sync is not None:
                return (lambda m, a, _f=begins[0]: _f()), (lambda m, a, o, _f=ends[0]: _f())
            rid = regions[0]
            return ((lambda m, a, _b=self.timeline.begin, _r=rid: _b(_r)),
                    (lambda m, a, o, _e=self.timeline.end, _r=rid: _e(_r)))
        counter = [0]
        self.counters.append(counter)
        n = len(idx)
        if not begins:
            b, e = self.timeline.begin, self.timeline.end

            def pre(m: Any, a: Any, _c: List[int] = counter, _r: List[int] = regions, _n: int = n) -> None:
                i = _c[0]
                _c[0] = i + 1
                if i < _n:
                    b(_r[i])

            def post(m: Any, a: Any, o: Any, _c: List[int] = counter, _r: List[int] = regions, _n: int = n) -> None:
                i = _c[0] - 1
                if 0 <= i < _n:
                    e(_r[i])
            return pre, post

        def pre_f(m: Any, a: Any, _c: List[int] = counter, _f: List[Callable[[], None]] = begins, _n: int = n) -> None:
            i = _c[0]
            _c[0] = i + 1
            if i < _n:
                _f[i]()

        def post_f(m: Any, a: Any, o: Any, _c: List[int] = counter, _f: List[Callable[[], None]] = ends,
                   _n: int = n) -> None:
            i = _c[0] - 1
            if 0 <= i < _n:
                _f[i]()
        return pre_f, post_f

    def reset(self) -> None:
        for c in self.counters:
            c[0] = 0
        for i in range(len(self.began)):
            self.began[i] = False
            self.ended[i] = False

    def remove(self) -> None:
        while self.handles:
            self.handles.pop().remove()


def _flagged(record: Callable[[], None], flags: List[bool], i: int) -> Callable[[], None]:
    """``record`` that also sets ``flags[i]`` (the event was recorded in this forward)."""
    def rec(_record: Callable[[], None] = record, _flags: List[bool] = flags, _i: int = i) -> None:
        _flags[_i] = True
        _record()
    return rec


def event_marks(anchor: Any, t_anchor_ns: int, model_region: int, model_end: Any, t_end_ns: int,
                regions: Sequence[int], ev_begin: Sequence[Any], ev_end: Sequence[Any], began: Sequence[bool],
                ended: Sequence[bool]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The marks of one forward on the CUDA-events path, in time order, for ``Timeline.merge``.

    Parameters
    ----------
    anchor : event
        Recorded right after a synchronisation, at ``t_anchor_ns`` (CLOCK_MONOTONIC).
    model_region, model_end, t_end_ns
        The ``(model)`` region, the event recorded after the forward, and the host time after
        the closing synchronisation (the model's end when no site ran).
    regions, ev_begin, ev_end : sequences, one per call site
        The site's region and its (reused) begin/end events.
    began, ended : sequences of bool
        Whether the site's begin/end events were recorded in this forward. Only sites with
        both are merged: a site that did not run keeps the events of an earlier forward, which
        ``elapsed_time`` would happily convert into stale marks.

    Returns
    -------
    (t_ns int64, region int32, kind uint8): begin = 1, end = 0.
    """
    ts: List[int] = [int(t_anchor_ns)]
    rs: List[int] = [int(model_region)]
    kinds: List[int] = [1]
    for r, eb, ee, b, e in zip(regions, ev_begin, ev_end, began, ended):
        if not (b and e):
            continue
        try:
            t0 = t_anchor_ns + int(anchor.elapsed_time(eb) * 1e6)
            t1 = t_anchor_ns + int(anchor.elapsed_time(ee) * 1e6)
        except RuntimeError:  # recorded but not completed (cannot happen after a synchronisation)
            continue
        ts += [t0, t1]
        rs += [r, r]
        kinds += [1, 0]
    ts.append(max(t_anchor_ns + int(anchor.elapsed_time(model_end) * 1e6), max(ts)) if len(ts) > 1 else int(t_end_ns))
    rs.append(int(model_region))
    kinds.append(0)
    t = np.asarray(ts, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    return t[order], np.asarray(rs, dtype=np.int32)[order], np.asarray(kinds, dtype=np.uint8)[order]


# ---- the run --------------------------------------------------------------------------------------
def _cuda_devices(devices: Sequence[str]) -> List[str]:
    return [d for d in devices if d.startswith("cuda")]


def profile_in_situ(prof: "LayerProfiler", args: tuple, kwargs: Dict[str, Any]) -> "Report":
    """Runs the in-situ mode for :meth:`LayerProfiler.profile` (see the module docstring)."""
    import torch

    from .monitor import PowerMonitor
    from .profiler import CallSite, Progress

    model = prof.model
    modes = {m: m.training for m in model.modules()}
    monitor = prof._monitor or PowerMonitor(prof.sensor, rate_hz=prof.rate_hz)
    timeline = monitor.timeline
    started_here = False
    hooks: Optional[_Hooks] = None
    whole: Optional["CallSite"] = None
    sites: List["CallSite"] = []
    model_open = False
    t_start = time.time()
    meta: Dict[str, Any] = {}
    try:
        model.eval()
        sites, whole, not_called, capture_s, sync, devices = prof._prepare_sites(args, kwargs, timeline)
        cuda = _cuda_devices(devices)
        use_events = bool(cuda) and not prof.sync_layers
        if prof.sync_layers and not cuda:
            log.info("sync_layers=True has no effect: the model runs on %s, not CUDA", ", ".join(devices))
        if not monitor.running:
            monitor.start()
            started_here = True
        idle_w, idle_source, target_s, interval_s, interval_source = prof._baseline(monitor)
        sample_s = 1.0 / monitor.rate_hz
        max_delay_s = prof.max_delay_s
        if max_delay_s is None:
            max_delay_s = max(interval_s if math.isfinite(interval_s) else 0.0, 2 * sample_s)
        hooks = _Hooks(model, sites, timeline, sync=sync if (prof.sync_layers and cuda) else None, events=use_events)
        hooks.attach()
        runner = _Runner(whole, hooks, timeline, cuda, use_events, sync, random.Random(prof.seed), max_delay_s)
        mark0 = len(timeline)
        with torch.inference_mode():
            whole.prepare()
            for _ in range(prof.warmup):
                model_open = True
                runner.forward()
                model_open = False
            warm = _parse(timeline.marks(mark0), sites, whole.region)
            if isinstance(prof.repeats, int):
                iterations, plan = prof.repeats, "fixed"
            else:
                iterations, plan = _plan(prof, warm, target_s, max_delay_s)
            mark1 = len(timeline)
            total = prof.rounds
            for r in range(prof.rounds):
                prof._emit(Progress("measure", r, total, f"round {r + 1}: {iterations} forwards", r, prof.rounds))
                for _ in range(iterations):
                    model_open = True
                    runner.forward(measured=True)
                    model_open = False
            prof._emit(Progress("measure", total, total, "", prof.rounds - 1, prof.rounds))
        hooks.remove()
        marks = timeline.marks(mark1)
        monitor.wait_for_sample_after(int(marks["t_ns"].max()) if marks["t_ns"].shape[0] else 0)
    finally:
        if hooks is not None:
            hooks.remove()
        if model_open and whole is not None:  # a forward cut short: close its regions
            _close_open(timeline, sites, whole)
        if whole is not None:
            whole.release()
        sampler_error = prof._finish(modes, monitor, started_here)
    prof._emit(Progress("done", 1, 1))

    parsed = _parse(marks, sites, whole.region)
    rounds_of = np.repeat(np.arange(prof.rounds), iterations)[: parsed["model_t0"].shape[0]]
    meta.update(prof._provenance(monitor, sites, whole, args, kwargs, devices, not_called, capture_s, idle_w,
                                 idle_source, target_s, interval_s, interval_source, t_start))
    if sampler_error:
        meta["sampler_error"] = sampler_error
    return _report(prof, monitor, sites, whole, parsed, rounds_of, idle_w, interval_s, meta,
                   dict(iterations=iterations, plan=plan, max_delay_s=max_delay_s, sync_layers=prof.sync_layers,
                        cuda_events=use_events, max_round_s=prof.max_round_s))


class _Runner:
    """One forward of the whole model inside a ``(model)`` region, after a random delay."""

    def __init__(self, whole: "CallSite", hooks: _Hooks, timeline: "_core.Timeline", cuda: List[str],
                 use_events: bool, sync: Callable[[], None], rng: random.Random, max_delay_s: float):
        self.whole, self.hooks, self.timeline = whole, hooks, timeline
        self.cuda, self.use_events, self.sync = cuda, use_events, sync
        self.rng, self.max_delay_s = rng, max_delay_s
        if use_events:
            import torch

            self.anchor = torch.cuda.Event(enable_timing=True)
            self.model_end = torch.cuda.Event(enable_timing=True)

    def forward(self, measured: bool = True) -> None:
        delay = self.rng.uniform(0.0, self.max_delay_s)
        if delay > 0:
            time.sleep(delay)
        self.whole.restore()  # an in-place first layer must not change the next forward's input
        self.hooks.reset()
        region = self.whole.region
        if self.use_events:
            self._forward_events(region)
            return
        if self.cuda:
            self.sync()
        self.timeline.begin(region)
        try:
            self.whole.run()
            if self.cuda:
                self.sync()
        finally:
            self.timeline.end(region)

    def _forward_events(self, region: int) -> None:
        # GPU time -> CLOCK_MONOTONIC: after a synchronisation the stream is idle, so the anchor
        # event runs as soon as it is recorded, a few microseconds after t_anchor.
        self.sync()
        t_anchor = time.monotonic_ns()
        self.anchor.record()
        try:
            self.whole.run()
        finally:
            self.model_end.record()
            self.sync()
        t_end = time.monotonic_ns()
        h = self.hooks
        t, r, k = event_marks(self.anchor, t_anchor, region, self.model_end, t_end, [x.region for x in h.sites],
                              h.ev_begin, h.ev_end, h.began, h.ended)
        self.timeline.merge(t, r, k)


def _close_open(timeline: "_core.Timeline", sites: List["CallSite"], whole: "CallSite") -> None:
    """Ends every region begun and not ended since the last model begin (an interrupted forward)."""
    m = timeline.marks(0)
    region, kind = m["region"], m["kind"]
    starts = np.flatnonzero((region == whole.region) & (kind == 1))
    if not starts.shape[0]:
        return
    tail_r, tail_k = region[starts[-1]:], kind[starts[-1]:]
    depth: Dict[int, int] = {}
    for r, k in zip(tail_r.tolist(), tail_k.tolist()):
        depth[r] = depth.get(r, 0) + (1 if k == 1 else -1)
    for r in reversed(list(depth)):
        for _ in range(max(0, depth[r])):
            timeline.end(r)


def _parse(marks: Dict[str, np.ndarray], sites: List["CallSite"], model_region: int) -> Dict[str, np.ndarray]:
    """Per forward (a ``(model)`` begin/end pair) and call site: the site's window, -1 where it
    did not run (or ran unmatched). Marks come from one thread in time order."""
    pos = {s.region: i for i, s in enumerate(sites)}
    t_all, r_all, k_all = marks["t_ns"].tolist(), marks["region"].tolist(), marks["kind"].tolist()
    m0: List[int] = []
    m1: List[int] = []
    rows0: List[List[int]] = []
    rows1: List[List[int]] = []
    cur0: Optional[List[int]] = None
    cur1: Optional[List[int]] = None
    open_at: Dict[int, int] = {}
    n = len(sites)
    for t, r, k in zip(t_all, r_all, k_all):
        if r == model_region:
            if k == 1:
                cur0, cur1 = [-1] * n, [-1] * n
                open_at = {}
                m0.append(t)
            elif cur0 is not None:
                m1.append(t)
                rows0.append(cur0)
                rows1.append(cur1)  # type: ignore[arg-type]
                cur0 = cur1 = None
            continue
        i = pos.get(r)
        if i is None or cur0 is None:
            continue
        if k == 1:
            open_at[i] = t
        elif i in open_at:
            cur0[i] = open_at.pop(i)
            cur1[i] = t  # type: ignore[index]
    m0 = m0[: len(m1)]
    return {"model_t0": np.asarray(m0, dtype=np.int64), "model_t1": np.asarray(m1, dtype=np.int64),
            "t0": np.asarray(rows0, dtype=np.int64).reshape(len(rows0), n),
            "t1": np.asarray(rows1, dtype=np.int64).reshape(len(rows1), n)}


def _plan(prof: "LayerProfiler", warm: Dict[str, np.ndarray], target_s: float, max_delay_s: float) -> Tuple[int, str]:
    """Forwards per round: enough for the shortest call site to accumulate target_s of run time,
    capped at max_round_s per round, at least min_repeats."""
    t0, t1 = warm["t0"], warm["t1"]
    if t0.shape[0] == 0:
        return prof.min_repeats, "no warm-up forward to plan from (warmup=0): min_repeats forwards per round"
    dur = np.where(t0 >= 0, (t1 - t0).astype(np.float64), np.nan) * 1e-9
    per_site = np.nanmean(dur, axis=0) if np.isfinite(dur).any() else np.array([math.nan])
    shortest = float(np.nanmin(per_site)) if np.isfinite(per_site).any() else math.nan
    cycle = float(np.mean((warm["model_t1"] - warm["model_t0"]) * 1e-9)) + max_delay_s / 2
    cap = max(prof.min_repeats, int(prof.max_round_s / cycle)) if cycle > 0 else prof.min_repeats
    if not (shortest > 0):
        return cap, "shortest call site took no measurable time: max_round_s per round"
    need = max(prof.min_repeats, int(math.ceil(target_s / shortest)))
    if need > cap:
        log.info("in-situ: the shortest call site runs %.1f us; %d forwards per round would give it %.3f s, capped "
                 "at %d forwards (max_round_s=%g)", shortest * 1e6, need, target_s, cap, prof.max_round_s)
        return cap, (f"capped by max_round_s: the shortest call site ({shortest * 1e6:.1f} us) accumulates "
                     f"{cap * shortest:.4f} s per round instead of {target_s:.3f} s")
    return need, f"adaptive: the shortest call site ({shortest * 1e6:.1f} us) accumulates >= {target_s:.3f} s per round"


def _report(prof: "LayerProfiler", monitor: "PowerMonitor", sites: List["CallSite"], whole: "CallSite",
            parsed: Dict[str, np.ndarray], rounds_of: np.ndarray, idle_w: Optional[float], interval_s: float,
            meta: Dict[str, Any], settings: Dict[str, Any]) -> "Report":
    from .profiler import MODEL_LABEL, build_rows
    from .report import Report

    cuda = bool(_cuda_devices(meta.get("devices", [])))

    s = monitor.samples()
    power = monitor.total_power(s) if len(s) else np.zeros(0)
    t = s.t_ns
    # A sample is stamped when its read returns; the reading stands for the read's start (the
    # sampler records how long the read took).
    t_read = np.maximum.accumulate(t - s.read_ns.astype(np.int64)) if len(s) else t
    ta, attribution = update_times(t_read, power, interval_s, monitor.rate_hz, stamp_ns=t)
    ta, attribution = shift_to_observation(ta, attribution, getattr(monitor, "model", None))
    c = parsed["t0"].shape[0]
    n = len(sites)
    w0 = np.concatenate([parsed["t0"].ravel(), parsed["model_t0"]])
    w1 = np.concatenate([parsed["t1"].ravel(), parsed["model_t1"]])
    valid = np.concatenate([(parsed["t0"] >= 0).ravel(), np.ones(c, dtype=bool)])
    w0 = np.where(valid, w0, 0)
    w1 = np.where(valid, w1, 0)  # an empty window holds no sample
    counts, sums, owner = _core.assign_samples(ta, power, w0, w1)
    # Distinct sensor updates per window: readings of one refresh share their attribution time.
    fresh = np.ones(ta.shape[0], dtype=bool)
    fresh[1:] = ta[1:] != ta[:-1]
    mine = (owner >= 0) & fresh
    updates = np.bincount(owner[mine], minlength=w0.shape[0]) if w0.shape[0] else np.zeros(0, dtype=np.int64)
    updates_l = updates[: c * n].reshape(c, n)
    counts_l = counts[: c * n].reshape(c, n)
    sums_l = sums[: c * n].reshape(c, n)
    dur_l = np.where(parsed["t0"] >= 0, parsed["t1"] - parsed["t0"], 0).astype(np.float64) * 1e-9
    calls_l = (parsed["t0"] >= 0).astype(np.int64)
    windows: List[Dict[str, Any]] = []
    for r in range(prof.rounds):
        sel = rounds_of == r
        if not sel.any():
            continue
        first, last = int(parsed["model_t0"][sel].min()), int(parsed["model_t1"][sel].max())
        for i, site in enumerate(sites):
            calls = int(calls_l[sel, i].sum())
            dur = float(dur_l[sel, i].sum())
            cnt = int(counts_l[sel, i].sum())
            upd = int(updates_l[sel, i].sum())
            mean_w = float(sums_l[sel, i].sum()) / cnt if cnt else math.nan
            reason = "" if cnt else (f"no sample fell into this call site in round {r} ({dur * 1e3:.3f} ms of run "
                                     "time): more forwards (min_window_s, max_round_s) or a higher rate")
            windows.append(dict(label=site.label, module=site.module_name, call=site.call, round=r, kind="layer",
                                t0_ns=first, t1_ns=last, calls=calls, forwards=int(sel.sum()), duration_s=dur,
                                energy_j=mean_w * dur, num_samples=cnt, num_updates=upd, mean_power_w=mean_w,
                                reason=reason))
        dur_m = float(((parsed["model_t1"][sel] - parsed["model_t0"][sel]) * 1e-9).sum())
        cnt_m = int(counts_l[sel].sum() + counts[c * n:][sel].sum())
        upd_m = int(updates_l[sel].sum() + updates[c * n:][sel].sum())
        sum_m = float(sums_l[sel].sum() + sums[c * n:][sel].sum())
        mean_m = sum_m / cnt_m if cnt_m else math.nan
        windows.append(dict(label=MODEL_LABEL, module=MODEL_LABEL, call=0, round=r, kind="model", t0_ns=first,
                            t1_ns=last, calls=int(sel.sum()), forwards=int(sel.sum()), duration_s=dur_m,
                            energy_j=mean_m * dur_m, num_samples=cnt_m, num_updates=upd_m, mean_power_w=mean_m,
                            reason="" if cnt_m else "no sample fell inside the forwards"))
    rows = build_rows(sites, whole, windows, idle_w, prof.rounds, monitor.info.kind, bool(monitor.info.estimated),
                      prof.model)
    rounds_done = int(len(set(rounds_of.tolist())))
    for row in rows:
        if row["kind"] not in ("layer", "model"):
            continue
        ws = [w for w in windows if w["label"] == row["layer"]]
        notes = sorted({w["reason"] for w in ws if w["reason"]})
        cnt = sum(w["num_samples"] for w in ws)
        upd = sum(w["num_updates"] for w in ws)
        notes.insert(0, f"in situ: {cnt} readings ({upd} distinct sensor updates) attributed over {rounds_done} "
                        "rounds")
        if 0 < upd < 10 * rounds_done:
            notes.append("fewer than 10 sensor updates per round: a wide CI; run more forwards (max_round_s)")
        row["note"] = "; ".join(notes)
    un = next(r for r in rows if r["kind"] == "unattributed")
    un["note"] = ("whole model minus the sum of the layers, all measured in situ: functional ops outside modules "
                  "(flatten, residual adds) and the Python glue between modules")
    meta["method"].update(mode="in-situ", forwards_per_round=settings["iterations"], plan=settings["plan"],
                          max_delay_s=settings["max_delay_s"], max_round_s=settings["max_round_s"],
                          sync_layers=settings["sync_layers"], cuda_events=settings["cuda_events"],
                          cuda_synchronized=(("per layer" if settings["sync_layers"] else
                                              "per forward (CUDA events mark the layers)") if cuda else False),
                          cycles=int(c), **{f"attribution_{k}": v for k, v in attribution.items()})
    cycles = {"labels": [x.label for x in sites], "modules": [x.module_name for x in sites],
              "types": [type(x.module).__name__ for x in sites], "t0_ns": parsed["t0"], "t1_ns": parsed["t1"],
              "round": rounds_of, "model_t0_ns": parsed["model_t0"], "model_t1_ns": parsed["model_t1"]}
    return Report(rows=rows, windows=windows, meta=meta, samples={"t_ns": t, "power_w": power}, cycles=cycles,
                  attribution_t_ns=ta)
