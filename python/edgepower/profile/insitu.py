"""In-situ mode of the layer profiler: the whole model runs repeatedly, nothing is isolated.

``LayerProfiler(model, mode="in-situ")`` runs :func:`measure` between the run's baseline and its
clean-up (docs/profiler.md, "In-situ mode"); the hooks are in :mod:`.hooks`, the attribution in
:mod:`edgepower.energy.attribution`.

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
and merged into the timeline in bulk (:func:`~edgepower.profile.hooks.event_marks`: only call sites whose events were
recorded in this forward, so a site that did not run never contributes stale marks). The CUDA path has not run on a GPU yet (none was available
to this work).
"""
from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..energy.attribution import assign_readings
from ..measurement import Samples
from ..report import LayerRow, Window
from .capture import MODEL_LABEL, CallSite
from .hooks import Hooks, Runner, close_open
from .options import ProfileOptions
from .rows import resolution, shares
from .run import Outcome, Progress, Run

log = logging.getLogger("edgepower")


@dataclass
class Recorded:
    """The marks of the measured forwards, parsed (:func:`_parse`), with the round of each
    forward and the settings used."""

    parsed: Dict[str, np.ndarray]
    rounds_of: np.ndarray
    settings: Dict[str, Any]


def measure(run: Run) -> Recorded:
    """Warm-up forwards, the plan, then ``rounds`` rounds of forwards with the hooks on (see the
    module docstring). :func:`outcome` attributes the readings once sampling has stopped."""
    o, si, timeline, whole = run.options, run.options.in_situ, run.timeline, run.whole
    assert whole is not None
    cuda = run.cuda_devices
    use_events = bool(cuda) and not si.sync_layers
    if si.sync_layers and not cuda:
        log.info("sync_layers=True has no effect: the model runs on %s, not CUDA", ", ".join(run.devices))
    max_delay_s = si.max_delay_s
    if max_delay_s is None:
        interval = run.update_interval_s
        max_delay_s = max(interval if math.isfinite(interval) else 0.0, 2.0 / run.monitor.rate_hz)
    hooks = Hooks(run.model, run.sites, timeline, sync=run.sync if (si.sync_layers and cuda) else None,
                  events=use_events)
    model_open = False
    try:
        hooks.attach()
        runner = Runner(whole, hooks, timeline, cuda, use_events, run.sync, random.Random(o.seed), max_delay_s)
        mark0 = len(timeline)
        with torch.inference_mode():
            whole.prepare()
            for _ in range(o.warmup):
                model_open = True
                runner.forward()
                model_open = False
            warm = _parse(timeline.marks(mark0), run.sites, whole.region)
            if o.fixed_repeats is not None:
                iterations, plan = o.fixed_repeats, "fixed"
            else:
                iterations, plan = _plan(o, warm, run.target_window_s, max_delay_s)
            mark1 = len(timeline)
            for r in range(o.rounds):
                run.emit(Progress("measure", r, o.rounds, f"round {r + 1}: {iterations} forwards", r, o.rounds))
                for _ in range(iterations):
                    model_open = True
                    runner.forward(measured=True)
                    model_open = False
            run.emit(Progress("measure", o.rounds, o.rounds, "", o.rounds - 1, o.rounds))
        hooks.remove()
        marks = timeline.marks(mark1)
        run.monitor.wait_for_sample_after(int(marks["t_ns"].max()) if marks["t_ns"].shape[0] else 0)
    finally:
        hooks.remove()
        if model_open:  # a forward cut short: close its regions
            close_open(timeline, run.sites, whole)
        whole.release()
    parsed = _parse(marks, run.sites, whole.region)
    rounds_of = np.repeat(np.arange(o.rounds), iterations)[: parsed["model_t0"].shape[0]]
    settings = dict(mode="in-situ", forwards_per_round=iterations, plan=plan, max_delay_s=max_delay_s,
                    max_round_s=si.max_round_s, sync_layers=si.sync_layers, cuda_events=use_events,
                    cuda_synchronized=(("per layer" if si.sync_layers else "per forward (CUDA events mark the layers)")
                                       if cuda else False))
    return Recorded(parsed, rounds_of, settings)


def _parse(marks: Dict[str, np.ndarray], sites: List[CallSite], model_region: int) -> Dict[str, np.ndarray]:
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


def _plan(o: ProfileOptions, warm: Dict[str, np.ndarray], target_s: float, max_delay_s: float) -> Tuple[int, str]:
    """Forwards per round: enough for the shortest call site to accumulate target_s of run time,
    capped at max_round_s per round, at least min_repeats."""
    t0, t1 = warm["t0"], warm["t1"]
    if t0.shape[0] == 0:
        return o.min_repeats, "no warm-up forward to plan from (warmup=0): min_repeats forwards per round"
    dur = np.where(t0 >= 0, (t1 - t0).astype(np.float64), np.nan) * 1e-9
    per_site = np.nanmean(dur, axis=0) if np.isfinite(dur).any() else np.array([math.nan])
    shortest = float(np.nanmin(per_site)) if np.isfinite(per_site).any() else math.nan
    cycle = float(np.mean((warm["model_t1"] - warm["model_t0"]) * 1e-9)) + max_delay_s / 2
    cap = max(o.min_repeats, int(o.in_situ.max_round_s / cycle)) if cycle > 0 else o.min_repeats
    if not (shortest > 0):
        return cap, "shortest call site took no measurable time: max_round_s per round"
    need = max(o.min_repeats, int(math.ceil(target_s / shortest)))
    if need > cap:
        log.info("in-situ: the shortest call site runs %.1f us; %d forwards per round would give it %.3f s, capped "
                 "at %d forwards (max_round_s=%g)", shortest * 1e6, need, target_s, cap, o.in_situ.max_round_s)
        return cap, (f"capped by max_round_s: the shortest call site ({shortest * 1e6:.1f} us) accumulates "
                     f"{cap * shortest:.4f} s per round instead of {target_s:.3f} s")
    return need, f"adaptive: the shortest call site ({shortest * 1e6:.1f} us) accumulates >= {target_s:.3f} s per round"


def outcome(run: Run, recorded: Recorded, s: Samples, power: np.ndarray) -> Outcome:
    """Readings (``s``, board total ``power``) to call sites, then per round and call site:
    calls, run time, mean power of the readings attributed, energy = mean power x run time."""
    monitor, sites = run.monitor, run.sites
    parsed, rounds_of, settings = recorded.parsed, recorded.rounds_of, dict(recorded.settings)
    c, n = parsed["t0"].shape[0], len(sites)
    valid = np.concatenate([(parsed["t0"] >= 0).ravel(), np.ones(c, dtype=bool)])
    # An empty window (a site that did not run in a forward) holds no sample.
    w0 = np.where(valid, np.concatenate([parsed["t0"].ravel(), parsed["model_t0"]]), 0)
    w1 = np.where(valid, np.concatenate([parsed["t1"].ravel(), parsed["model_t1"]]), 0)
    estimator = monitor.estimator
    a = assign_readings(s.t_ns, s.read_ns, power, run.update_interval_s, monitor.rate_hz,
                        estimator.model if estimator is not None else None, w0, w1)
    dec, dec_info = deconvolve_all(run, s.t_ns, power, parsed)
    updates_l = a.updates[: c * n].reshape(c, n)
    counts_l = a.counts[: c * n].reshape(c, n)
    sums_l = a.sums[: c * n].reshape(c, n)
    dur_l = np.where(parsed["t0"] >= 0, parsed["t1"] - parsed["t0"], 0).astype(np.float64) * 1e-9
    calls_l = (parsed["t0"] >= 0).astype(np.int64)
    windows: List[Window] = []
    # A call site no reading fell into in a round (short, beside a slow sensor) takes its power
    # over the run there, else the model's in that round: a round with a latency and no energy
    # left its energy averaged over fewer rounds than its latency, and (unattributed) = model -
    # layers undefined in that round, so the rows no longer added up to the model.
    site_cnt, site_sum = counts_l.sum(axis=0), sums_l.sum(axis=0)
    all_cnt = int(counts_l.sum() + a.counts[c * n:].sum())
    run_w = float(sums_l.sum() + a.sums[c * n:].sum()) / all_cnt if all_cnt else math.nan
    for r in range(run.options.rounds):
        sel = rounds_of == r
        if not sel.any():
            continue
        first, last = int(parsed["model_t0"][sel].min()), int(parsed["model_t1"][sel].max())
        forwards = int(sel.sum())
        cnt_m = int(counts_l[sel].sum() + a.counts[c * n:][sel].sum())
        sum_m = float(sums_l[sel].sum() + a.sums[c * n:][sel].sum())
        round_w = sum_m / cnt_m if cnt_m else run_w  # the model's own round, else its run
        for i, site in enumerate(sites):
            dur = float(dur_l[sel, i].sum())
            cnt = int(counts_l[sel, i].sum())
            if dec is not None:  # every reading deconvolved at once (deconvolution.py)
                mean_w = float(dec.power_w[i])
                reason = "" if math.isfinite(mean_w) else (
                    "the readings cannot tell this call site from its neighbours (always seen in the same "
                    "proportion, or never observed): more forwards (max_round_s), or attribution='assignment'")
            else:
                reason = ""
                if cnt:
                    mean_w = float(sums_l[sel, i].sum()) / cnt
                else:
                    if site_cnt[i]:
                        mean_w, whose = float(site_sum[i]) / int(site_cnt[i]), "its mean power over the other rounds"
                    else:
                        mean_w = round_w
                        whose = ("the model's mean power " + ("in that round" if cnt_m else "over the run") +
                                 " (none fell into it in any round)")
                    reason = (f"no sample fell into this call site in round {r} ({dur * 1e3:.3f} ms of run time): "
                              f"its power there is {whose}; more forwards (min_window_s, max_round_s) or a higher "
                              "rate measure it")
            windows.append(Window(site.label, site.module_name, site.call, r, "layer", first, last,
                                  int(calls_l[sel, i].sum()), duration_s=dur, energy_j=mean_w * dur, num_samples=cnt,
                                  reason=reason, forwards=forwards, num_updates=int(updates_l[sel, i].sum()),
                                  mean_power_w=mean_w))
        dur_m = float(((parsed["model_t1"][sel] - parsed["model_t0"][sel]) * 1e-9).sum())
        upd_m = int(updates_l[sel].sum() + a.updates[c * n:][sel].sum())
        mean_m = round_w
        if dec is not None and np.isfinite(dec.power_w).all() and math.isfinite(dec.idle_w) and dur_m > 0:
            # the forward: its call sites at their powers, the rest of it (glue between modules) at
            # the power of unmarked time, which deconvolution cannot tell from the delays between forwards
            inside = float(dur_l[sel].sum())
            mean_m = (float((dec.power_w * dur_l[sel].sum(axis=0)).sum()) + dec.idle_w * (dur_m - inside)) / dur_m
        windows.append(Window(MODEL_LABEL, MODEL_LABEL, 0, r, "model", first, last, forwards, duration_s=dur_m,
                              energy_j=mean_m * dur_m, num_samples=cnt_m,
                              reason="" if cnt_m else (f"no sample fell inside the forwards of round {r}: its power "
                                                       "there is the model's mean power over the other rounds"),
                              forwards=forwards,
                              num_updates=upd_m, mean_power_w=mean_m))
    rounds_done = int(len(set(rounds_of.tolist())))
    settings.update(cycles=int(c), attribution={**a.info, **dec_info})
    cycles = {"labels": [x.label for x in sites], "modules": [x.module_name for x in sites],
              "types": [type(x.module).__name__ for x in sites], "t0_ns": parsed["t0"], "t1_ns": parsed["t1"],
              "round": rounds_of, "model_t0_ns": parsed["model_t0"], "model_t1_ns": parsed["model_t1"]}
    return Outcome(windows=windows, method=settings, cycles=cycles, attribution_t_ns=a.t_ns,
                   annotate=lambda rows: _annotate(rows, windows, rounds_done, dec))


# Resamplings of the forwards for the deconvolved powers' 95 % CI (each one a solve: 0.1-4 s in all).
BOOTSTRAP = 100


def integrating_model(run: Run) -> Any:
    """The sensor's model for deconvolution: the estimator's, else the one the identification
    recorded (an INA3221 with N = 1 needs no estimator in isolation, but its readings are still
    1.1 ms conversions: the configuration from sysfs, when it names one conversion time)."""
    from ..sensors.model import SensorModel

    if run.monitor.estimator is not None:
        return run.monitor.estimator.model
    rec = run.estimator_info or {}
    if isinstance(rec.get("model"), dict):
        try:
            return SensorModel(**rec["model"])
        except (TypeError, ValueError):
            return None
    ident = rec.get("identification") or {}
    cands, sysfs = ident.get("candidates") or [], ident.get("sysfs") or {}
    if ident.get("kind") == "ina3221" and len(cands) == 1 and sysfs.get("samples") and sysfs.get("labels"):
        conv = float(cands[0]["conversion_s"])
        return SensorModel.ina3221(int(sysfs["samples"]), conv, conv, min(3, len(sysfs["labels"])))
    return None


def deconvolve_all(run: Run, t_ns: np.ndarray, power: np.ndarray,
                   parsed: Dict[str, np.ndarray]) -> Tuple[Any, Dict[str, Any]]:
    """Every reading deconvolved at once (:func:`~edgepower.energy.refresh_grid.deconvolve_samples`,
    with its bootstrap over forwards) where the sensor integrates (a register or boxcar model,
    known or identified) and ``attribution="auto"``; else (None, why). A failure falls back to
    assignment with a warning. All rounds are solved together: at N = 512 one round's readings
    carry too little (solved per round: median 16 %, worst 88 %; together 0.2-1.2 % / 1.1-2.8 %)."""
    if run.options.in_situ.attribution == "assignment":
        return None, {"method": "assignment", "method_reason": "attribution='assignment'"}
    model = integrating_model(run)
    if model is None or model.kind not in ("register", "boxcar"):
        why = "no integrating sensor model (each reading is the power when it was taken)"
        return None, {"method": "assignment", "method_reason": why}
    from ..energy.refresh_grid import deconvolve_samples
    rate = run.monitor.rate_hz
    if model.averages > 1 and rate * model.refresh_s < 2.0:
        run.warn(f"in-situ deconvolution of a running average of N={model.averages}: sampling at {rate:g} Hz reads "
                 f"the sensor's {model.refresh_s * 1e3:.3g} ms refreshes {rate * model.refresh_s:.2g} times each, "
                 f"and each refresh's small step is what the layers' powers are solved from. Sample at >= "
                 f"{2.0 / model.refresh_s:.0f} Hz (--rate) with longer rounds (--max-round 15): on the emulator at "
                 "N=512 the small CNN's layers erred by up to 41 % at 1 kHz and 2.8 % at 5 kHz.")
    try:
        d = deconvolve_samples(t_ns, power, parsed["t0"], parsed["t1"], [s.label for s in run.sites], model,
                               bootstrap=BOOTSTRAP, seed=run.options.seed)
    except (ValueError, RuntimeError) as exc:
        run.warn(f"in-situ deconvolution failed ({exc}); readings were assigned to the layer running instead, "
                 "which is wrong by tens of % for layers shorter than a reading's conversion")
        return None, {"method": "assignment", "method_reason": f"deconvolution failed: {exc}"}
    rej = d.info["rejection"]
    if rej.get("skipped"):
        run.warn(f"in-situ deconvolution on {d.info['sensor_model']}: {rej['skipped']}. The layers' figures may be off: check "
                 "the sensor model (--estimator, docs/profiler.md) and that nothing else ran on the rail between the layers")
    return d, {"method": "deconvolution", "bootstrap": BOOTSTRAP, "sensor_model": d.info["sensor_model"],
               "condition": d.condition, "residual_rms_w": d.residual_rms_w, "offset_ns": d.info["offset_ns"],
               "readings_used": d.readings, "readings_left_out": d.info["readings_left_out"],
               "readings_rejected": rej["rejected_readings"], "rejection": rej, "cells": d.info["refresh_fit"]["cells"],
               "not_identifiable": [lab for lab, ok in zip(d.labels, d.identifiable) if not ok],
               "fitted_period_s": float(d.info["refresh_fit"]["fitted_period_s"])}


def _annotate(rows: List[LayerRow], windows: List[Window], rounds_done: int, dec: Any = None) -> None:
    """In-situ notes: readings and distinct sensor updates attributed to each row (or, where
    the readings were deconvolved, that they were, with the CI of :func:`_deconvolved_ci`)."""
    deconvolved = dec is not None
    if deconvolved:
        _deconvolved_ci(rows, dec)
    for row in rows:
        if row.kind not in ("layer", "model"):
            continue
        ws = [w for w in windows if w.label == row.layer]
        notes = sorted({w.reason for w in ws if w.reason})
        cnt = sum(w.num_samples for w in ws)
        upd = sum(w.num_updates or 0 for w in ws)
        if deconvolved and row.kind == "layer":
            notes.insert(0, f"in situ, deconvolved: power solved from every reading's mix of layers and idle over "
                            f"{rounds_done} rounds; 95 % CI: bootstrap over forwards with the duration's spread over "
                            f"rounds; {cnt} readings were taken during its calls")
        else:
            notes.insert(0, f"in situ: {cnt} readings ({upd} distinct sensor updates) attributed over {rounds_done} "
                            "rounds")
        if not deconvolved and 0 < upd < 10 * rounds_done:
            notes.append("fewer than 10 sensor updates per round: a wide CI; run more forwards (max_round_s)")
        row.note = "; ".join(notes)
    for row in rows:
        if row.kind == "unattributed":
            row.note = ("whole model minus the sum of the layers, all measured in situ: functional ops outside "
                        "modules (flatten, residual adds) and the Python glue between modules")
            if deconvolved:
                row.note += ("; deconvolved, that time shares one power with the delays between forwards (both "
                             "unmarked), so its net energy is near zero by construction")


def _deconvolved_ci(rows: List[LayerRow], dec: Any) -> None:
    """A deconvolved layer row's 95 % CI: the bootstrap interval of its energy per call (half
    its width) combined with the spread over rounds (which, with one power for all rounds, holds
    only the durations'); status, bound and shares follow the new CI."""
    index = {lab: i for i, lab in enumerate(dec.labels)}
    for row in rows:
        i = index.get(row.layer)
        if row.kind != "layer" or i is None or row.status not in ("ok", "not resolved", "below idle"):
            continue
        lo, hi = (float(v) for v in dec.energy_ci95_j[i])
        if not (math.isfinite(lo) and math.isfinite(hi)):
            continue
        rounds_ci = row.ci95_mj if math.isfinite(row.ci95_mj) else 0.0
        row.ci95_mj = math.hypot(rounds_ci, 0.5 * (hi - lo) * 1e3)
        head = row.net_energy_per_inference_mj if math.isfinite(row.net_energy_per_inference_mj) \
            else row.energy_per_inference_mj
        row.ci95_pct = abs(row.ci95_mj / head) * 100 if head else math.nan
        if math.isfinite(row.net_energy_per_inference_mj):
            row.net_energy_upper_mj = max(row.net_energy_per_inference_mj + row.ci95_mj, 0.0)
            row.status = resolution(row.net_energy_per_inference_mj, row.ci95_mj)
    for row in rows:
        row.energy_pct = math.nan
    has_net = any(math.isfinite(r.net_energy_per_inference_mj) for r in rows if r.kind == "layer")
    shares(rows, "net_energy_per_inference_mj" if has_net else "energy_per_inference_mj")


__all__ = ["Recorded", "measure", "outcome"]
