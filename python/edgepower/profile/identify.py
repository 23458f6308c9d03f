"""Choosing the run's estimator: the sensor-aware one wherever a model is known or identified.

:func:`choose_estimator` is called once per run, after the monitor's first samples and before the
idle baseline (:meth:`edgepower.profile.run.Run.start`). It returns what goes into the report's
``meta["estimator"]`` and, when it finds a model, sets ``monitor.estimator`` to
``Estimator(model, "auto")``:

- an estimator given by the caller is kept (``source: "given"``); ``estimator="plain"`` keeps the
  plain trapezoid / counter difference;
- an INA3221 (``jetson-hwmon``): the cached identification of this board and configuration, else
  an identification step. The profiler controls the load, so it marks the region ``(identify)``
  on the timeline and busy-waits: idle, a step of known edges, idle while the filter responds;
  the response is fitted against every configuration consistent with sysfs
  (:mod:`edgepower.sensors.identify`) and an identified model is cached
  (:mod:`edgepower.sensors.model_cache`);
- an energy counter (``nvml``, ``rapl``, ...): its update period and phase measured from the
  counter's steps;
- a boxcar reading (NVML's instant power field): its period and phase from the changes of the
  reading, its observation window from a step;
- anything else, or a model that could not be trusted: plain, with the reason.

For an INA3221, each window is preceded by at least :func:`warmup_for` of warm-up calls (two
refreshes and a conversion: the power is then steady across the window's start, as both
estimators need), and adaptive windows last at least :func:`window_for` the model (0.7 of the
filter's time constant and 90 refreshes), so the readings' quantisation, which the lag
correction multiplies by the time constant, and the refresh phase at the window's edges stay
small against the window's energy.
"""
from __future__ import annotations

import glob
import logging
import math
import os
import time
from dataclasses import asdict
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

from .._native import core as _core
from ..energy.estimators import Estimator, resolve
from ..sensors import identify as ident
from ..sensors import model_cache, updates
from ..sensors.info import total_rail_name, uses_counter
from ..sensors.model import SensorModel

log = logging.getLogger("edgepower")

REGION = "(identify)"
#: Sensor kinds whose energy counter is measured (synthetic and replayed counters are not).
COUNTER_KINDS = ("nvml", "rapl", "hwmon", "emulated-nvml-energy")
#: Longest identification step (s).
MAX_STEP_S = 3.0
#: A running average whose reading lag (N - 1 refreshes plus half a conversion) is under this
#: share of the shortest window is left to the plain estimator: plain's bias is then below the
#: noise of the table (N=4 at 140 us on one channel, 0.9 ms of lag: both within 0.1-0.3 %).
IMMATERIAL_LAG = 0.005


def window_for(model: SensorModel) -> float:
    """Shortest window (s) the lag estimator should get with this model, for a running average
    (N > 1; else 0): 0.7 of the filter's time constant and 90 refreshes. The lag correction
    multiplies the readings' rounding by the time constant (fitted over the window's halves,
    :func:`edgepower.energy.estimators.register_endpoint`, it stays near 0.1-0.3 % of the net
    energy of windows 0.7 tau long), and each edge of a window falls somewhere inside a refresh
    (an error of up to half a refresh of the power step: 0.6 % rms per window at 90 refreshes).
    docs/accuracy.md has the table these came from."""
    if model.kind != "register" or model.averages < 2:
        return 0.0
    return max(0.7 * model.filter_tau_s, 90 * model.refresh_s)


def warmup_for(result: ident.Identification) -> float:
    """Shortest warm-up before a window (s) for an INA3221: two refreshes and a conversion of the
    identified model, or of the slowest configuration sysfs allows. A window's estimate (plain or
    lag) draws on the conversions up to about 1.5 refreshes before its start, so the layer must
    already run then; the warm-up calls of a short layer alone do not last that long."""
    if result.model is not None and result.model.kind == "register":
        return 2 * result.model.refresh_s + result.model.observe_s
    rows = [r for r in result.candidates if "refresh_s" in r and "conversion_s" in r]
    return max((2 * r["refresh_s"] + r["conversion_s"] for r in rows), default=0.0)


def _busy_until(t_end_ns: int) -> None:
    while _core.now_ns() < t_end_ns:
        pass


def _pulses(monitor: Any, pre_s: float, pulses: List[Tuple[float, float]]) -> Tuple[int, List[Tuple[int, int]], int]:
    """Idle ``pre_s``, then for each (busy, idle) pair: busy inside region (identify), idle.
    Returns the start, each busy interval's edges and the end (ns)."""
    tl = monitor.timeline
    start = _core.now_ns()
    time.sleep(pre_s)
    rid = tl.region(REGION)
    edges = []
    for busy_s, idle_s in pulses:
        t0 = _core.now_ns()
        tl.begin(rid)
        try:
            _busy_until(t0 + int(busy_s * 1e9))
        finally:
            tl.end(rid)
        edges.append((t0, _core.now_ns()))
        time.sleep(idle_s)
    end = _core.now_ns()
    monitor.wait_for_sample_after(end)
    return start, edges, end


def _step(monitor: Any, pre_s: float, step_s: float, post_s: float) -> Tuple[int, int, int, int]:
    """Idle ``pre_s``, busy ``step_s`` inside region (identify), idle ``post_s``; returns the
    start, the step's edges and the end (ns)."""
    start, edges, end = _pulses(monitor, pre_s, [(step_s, post_s)])
    return start, edges[0][0], edges[0][1], end


def _readings(monitor: Any, start_ns: int) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    lo = max(0, monitor.sampler.index_at_or_after(start_ns) - 1)
    s = monitor.samples(lo)
    power = monitor.total_power(s) if monitor.info.has_power else None
    counter = s.counter_j.sum(axis=1) if s.counter_j.shape[0] else None
    if counter is not None and int(monitor.info.total_rail) >= 0:
        counter = s.counter_j[:, int(monitor.info.total_rail)]
    return s.t_ns, power, counter


# ---- INA3221 ------------------------------------------------------------------------------------
def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def hwmon_config(info: Any) -> Dict[str, Any]:
    """What sysfs says about the INA3221 that carries the board total: its hwmon directory,
    ``samples``, ``update_interval`` (ms), the labelled channels. Raises ValueError naming the
    file that is missing or wrong."""
    details = dict(info.details)
    dirs = [v for k, v in sorted(details.items()) if k.startswith("device.")]
    if not dirs:
        raise ValueError("the jetson-hwmon sensor lists no INA3221 hwmon directory")
    total = total_rail_name(info)
    chosen, labels = dirs[0], []
    for d in dirs:
        ls = [_read(p) for p in sorted(glob.glob(os.path.join(d, "in[1-3]_label")))]
        if total in ls or d == dirs[0]:
            chosen, labels = d, ls
            if total in ls:
                break
    try:
        samples = int(_read(os.path.join(chosen, "samples")))
        interval_ms = float(_read(os.path.join(chosen, "update_interval")))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read samples/update_interval in {chosen}: {exc}") from None
    return {"hwmon_dir": chosen, "samples": samples, "update_interval_ms": interval_ms,
            "labels": labels, "channels": max(1, min(3, len(labels)))}


def _cache_values(cfg: Dict[str, Any]) -> Dict[str, Any]:
    d = cfg["hwmon_dir"]
    root = d.split("/sys/bus/i2c/", 1)[0] or "/"
    return {"kind": "ina3221", "board": model_cache.board_model(root),
            "device": os.path.dirname(os.path.dirname(os.path.realpath(d))), "samples": cfg["samples"],
            "update_interval_ms": cfg["update_interval_ms"], "labels": list(cfg["labels"])}


def identify_ina3221(monitor: Any, shortest_window_s: float, *,
                     use_cache: bool = True) -> Tuple[ident.Identification, str]:
    """The INA3221's model (cached, else identified by a step); returns (identification, where
    it came from: "cache", "identified" or "sysfs"). The filter settles before the idle baseline
    in :meth:`edgepower.profile.run.Run.start` (five time constants of the model)."""
    cfg = hwmon_config(monitor.info)
    values = _cache_values(cfg)
    sysfs = {k: cfg[k] for k in ("samples", "update_interval_ms", "labels", "hwmon_dir")}
    if use_cache:
        cached = model_cache.load(values)
        if cached is not None and cached.model is not None:
            return cached, "cache"
    cands = ident.ina3221_candidates(cfg["samples"], cfg["update_interval_ms"], cfg["channels"])
    rows = [{"conversion_s": c.conversion_s, "semantics": c.semantics, "refresh_s": c.refresh_s,
             "reading_lag_s": c.model().reading_lag_s} for c in cands]
    if cfg["samples"] == 1:
        return ident.Identification("ina3221", None, "not needed", candidates=rows, sysfs=sysfs, reason=(
            "samples=1: no running average, the register holds the last conversion. In isolation the plain "
            "trapezoid is unbiased to within one refresh, while the lag correction depends on the power in the "
            "refresh before each window (it was worse than plain on the emulator table, docs/accuracy.md)")), \
            "sysfs"
    if cands and max(r["reading_lag_s"] for r in rows) < IMMATERIAL_LAG * shortest_window_s:
        return ident.Identification("ina3221", None, "not needed", candidates=rows, sysfs=sysfs, reason=(
            f"every configuration sysfs allows lags the power by under {IMMATERIAL_LAG:.1%} of the shortest window "
            f"({max(r['reading_lag_s'] for r in rows) * 1e3:.3g} ms of {shortest_window_s:g} s): the correction is "
            "below its own refresh-phase error, and plain is as good")), "sysfs"
    if not cands:
        return ident.Identification("ina3221", None, "not identified", reason=(
            f"no INA3221 setting with equal bus and shunt conversion times gives update_interval "
            f"{cfg['update_interval_ms']:g} ms with samples={cfg['samples']} and {cfg['channels']} channel(s) "
            "under either driver's meaning"), sysfs=sysfs), "identified"
    tau_max = max(c.tau_s for c in cands)
    step_s = min(max(0.1, tau_max), MAX_STEP_S)
    post_s = min(max(0.3, 2 * tau_max), 5 * MAX_STEP_S)
    t_wall = time.monotonic()
    start, t0, t1, _ = _step(monitor, 0.2, step_s, post_s)
    t, p, _ = _readings(monitor, start)
    fit = ident.fit_register_step(t, p, t0, t1, start, cands)
    result = ident.decide(fit, shortest_window_s, sysfs)
    result.duration_s = time.monotonic() - t_wall
    if result.model is not None and use_cache:
        model_cache.save(values, result)
    return result, "identified"


# ---- counters and boxcar readings -----------------------------------------------------------------
def _boxcar(info: Any) -> bool:
    power = dict(info.details).get("power", "")
    return info.kind == "emulated-nvml-instant" or (info.kind == "nvml" and "POWER_INSTANT" in power)


def identify_counter(monitor: Any, max_s: float = 1.5) -> ident.Identification:
    """Update period and phase of an energy counter, from its steps while idle."""
    t_wall = time.monotonic()
    start = _core.now_ns()
    deadline = start + int(max_s * 1e9)
    t, _, c = _readings(monitor, start)
    while _core.now_ns() < deadline:
        time.sleep(0.05)
        t, _, c = _readings(monitor, start)
        if c is not None and np.count_nonzero(np.diff(c)) >= 8:
            break
    period, phase, changes = updates.measure_period(t, c) if c is not None else (math.nan, math.nan, 0)
    rate_period = 1.0 / monitor.rate_hz
    common = dict(period_s=period, update_at_s=phase * 1e-9, duration_s=time.monotonic() - t_wall)
    if not math.isfinite(period):
        return ident.Identification("counter", None, "not identified", reason=(
            f"the counter changed {changes} time(s) in {max_s:g} s: no update period to measure"), **common)
    note = (f"steps every {period * 1e3:.4g} ms ({changes} steps seen)" if period > 1.5 * rate_period else
            f"steps at every sample: the period is at most the sampling period ({rate_period * 1e3:.3g} ms)")
    return ident.Identification("counter", SensorModel.counter(period), "measured", reason=note, **common)


def identify_boxcar(monitor: Any) -> ident.Identification:
    """Period, phase and observation window of a boxcar reading: idle, four pulses whose edges
    fall at different phases of the period, idle. A pulse and its pause last 2.3 + 2.45 = 4.75
    periods, so the four starts fall a quarter period apart and the ends 0.3 period after them:
    eight edge phases spread over the period (a whole number of periods, e.g. 2.3 + 2.7, put
    every start at one phase and left the window fit to the sleeps' jitter)."""
    t_wall = time.monotonic()
    hint = monitor.info.update_interval_s
    hint = hint if isinstance(hint, float) and math.isfinite(hint) and hint > 0 else 0.1
    start, pulses, _ = _pulses(monitor, 3 * hint, [(2.3 * hint, 2.45 * hint)] * 3 + [(2.3 * hint, 3 * hint)])
    t, p, _ = _readings(monitor, start)
    period, phase, changes = updates.measure_period(t, p)
    common = dict(period_s=period, update_at_s=phase * 1e-9)
    if not math.isfinite(period):
        return ident.Identification("boxcar", None, "not identified", duration_s=time.monotonic() - t_wall, reason=(
            f"the reading changed {changes} time(s) around a step: no update period to measure"), **common)
    window, noise = updates.fit_boxcar_window(t, p, period, phase, pulses)
    # The guard must not be too short: round the window up by one step of the fit's grid.
    observe = min(period, window + period / 24) if math.isfinite(window) else period
    return ident.Identification("boxcar", SensorModel.boxcar(period, observe), "measured",
                                duration_s=time.monotonic() - t_wall, noise_w=noise, reason=(
                                    f"updates every {period * 1e3:.4g} ms ({changes} changes seen), observing "
                                    f"{observe * 1e3:.3g} ms"), **common)


# ---- the choice -----------------------------------------------------------------------------------
def choose_estimator(monitor: Any, options: Any, notify: Optional[Callable[[str, int], None]] = None) -> Dict[str, Any]:
    """Sets ``monitor.estimator`` from the sensor's known or identified model (see the module
    docstring) and returns the record for the report's ``meta["estimator"]``.

    Parameters
    ----------
    monitor : PowerMonitor
        Running, with its first samples.
    options : ProfileOptions
        ``estimator`` ("auto" or "plain") and ``min_window_s`` (the shortest window, for the
        ambiguity the identification may leave).
    notify : callable, optional
        Called as ``notify("identify", 0)`` before an identification step and
        ``notify("identify", 1)`` after it.
    """
    choice, shortest = options.estimator, options.min_window_s
    notify = notify or (lambda stage, done: None)
    if monitor.estimator is not None:
        est = monitor.estimator
        return {"estimator": est.method, "resolved": resolve(est.method, est.model, shortest),
                "model": asdict(est.model), "source": "given", "min_window_s": window_for(est.model),
                "warmup_s": warmup_for(ident.Identification("given", est.model, "given"))}
    if choice == "plain":
        return {"estimator": "plain", "model": None, "source": "chosen",
                "reason": "estimator='plain' (trapezoid of the readings / counter difference)"}
    info = monitor.info
    try:
        if info.kind == "jetson-hwmon":
            notify("identify", 0)
            result, source = identify_ina3221(monitor, shortest)
        elif uses_counter(info) and info.kind in COUNTER_KINDS:
            notify("identify", 0)
            result, source = identify_counter(monitor), "measured"
        elif _boxcar(info):
            notify("identify", 0)
            result, source = identify_boxcar(monitor), "measured"
        else:
            return {"estimator": "plain", "model": None, "source": "none", "reason": (
                f"no sensor model for '{info.kind}': its readings have no known refresh or filter to compensate, so "
                "the plain trapezoid is the estimate")}
    except (ValueError, OSError) as exc:
        log.warning("sensor identification failed (%s); using the plain estimator", exc)
        return {"estimator": "plain", "model": None, "source": "failed", "reason": f"identification failed: {exc}"}
    notify("identify", 1)
    record: Dict[str, Any] = {"identification": result.as_dict(), "source": source,
                              "warmup_s": warmup_for(result)}
    if result.model is None:
        if result.status != "not needed":
            log.warning("no trusted sensor model (%s); using the plain estimator", result.reason)
        record.update(estimator="plain", model=None, reason=f"{result.status}: {result.reason}; plain is used")
        return record
    if result.model.kind == "register" and result.model.reading_lag_s < IMMATERIAL_LAG * shortest:
        record.update(estimator="plain", model=asdict(result.model), reason=(
            f"{result.reason}; its reading lag ({result.model.reading_lag_s * 1e3:.3g} ms) is under "
            f"{IMMATERIAL_LAG:.1%} of the shortest window, so plain is used (the correction would be below its error)"))
        return record
    # The warm-up (warmup_for) makes the power steady before each window, and the idle baseline
    # follows a settled filter: the lag correction's steady-start form applies.
    monitor.estimator = Estimator(result.model, "auto", steady_start=options.warmup > 0)
    record.update(estimator="auto", resolved=resolve("auto", result.model, shortest), model=asdict(result.model),
                  min_window_s=window_for(result.model), steady_start=monitor.estimator.steady_start,
                  reason=result.reason)
    log.info("sensor model %s (%s): %s", result.model.name, source, result.reason)
    return record


__all__ = ["COUNTER_KINDS", "IMMATERIAL_LAG", "REGION", "choose_estimator", "hwmon_config", "identify_boxcar",
           "identify_counter", "identify_ina3221", "warmup_for", "window_for"]
