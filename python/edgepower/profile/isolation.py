"""Isolation mode: each call site runs alone, repeated inside a marked window.

In rounds, each in a fresh random order of the call sites and the whole model: per call site,
``warmup`` calls, then repeated calls inside a window marked on the monitor's timeline (CUDA
synchronised before and after). The window is either ``repeats`` calls (fixed) or, by default,
as many calls as it takes to last the run's target window and at least ``min_repeats`` calls. A
call site that changes its own input (an in-place layer) is detected on its first warm-up call;
its input is then restored from the captured copy before every call, and the cost of the
restore copies alone, measured in a window of its own, is subtracted. A window whose edges the
sampler did not sample on time is measured again (``edge_retries``). Each window runs inside a
``torch.profiler.record_function`` range named ``edgepower::<label>`` (``... (restore)`` for the
restore copies), so a user's torch.profiler trace shows which layer edgepower was measuring.

:func:`measure` only produces :class:`~edgepower.report.Window` records (times and calls);
energies are filled in from the samples afterwards.
"""
from __future__ import annotations

import logging
import math
import random
import time
from typing import Any, Callable, Dict, List, Tuple

import torch

from ..monitor import PowerMonitor
from ..report import Window
from .cache import Rotation
from .capture import RESTORE_SUFFIX, CallSite
from .hooks import RANGE_PREFIX, record_range
from .precision import extra_rounds
from .run import Outcome, Progress, Run, edge_gap_limit_s

log = logging.getLogger("edgepower")


def measure(run: Run, before_window: Any = None) -> List[Window]:
    """Every window of every round, then the extra rounds of the sites whose CI is still wider
    than the target (:mod:`edgepower.profile.precision`). A call site that raises is marked
    failed (``site.error``) and skipped from then on; the others go on."""
    o = run.options
    target_ns = int(round(run.target_window_s * 1e9))
    rng = random.Random(o.seed)
    items = run.sites + [run.whole]
    windows: List[Window] = run.windows  # the caller keeps what finished if this is interrupted
    count = {"done": 0, "total": o.rounds * len(items), "rounds": o.rounds}
    open_regions: List[int] = []

    def measure_round(sites: List[CallSite], r: int) -> None:
        order = list(sites)
        rng.shuffle(order)
        for site in order:
            run.emit(Progress("measure", count["done"], count["total"], site.label, r, count["rounds"]))
            count["done"] += 1
            if site.error:
                continue
            if (site.label, r) in run.resumed:  # measured before an interruption (--resume)
                windows.extend(run.resumed[(site.label, r)])
                continue
            try:
                if before_window is not None:
                    before_window(site.label, r)
                new = _measure_site(run, site, r, target_ns, open_regions)
                windows.extend(new)
                run.window_done(new)
            except Exception as exc:
                site.error = f"{type(exc).__name__}: {exc}"
                site.failed_round = r
                log.warning("%s failed in isolation (round %d): %s", site.label, r, site.error)
        run.emit(Progress("measure", count["done"], count["total"], "", r, count["rounds"]))

    def measure_extra_round(sites: List[CallSite], r: int) -> None:
        count["total"] += len(sites)
        count["rounds"] = r + 1
        measure_round(sites, r)

    try:
        with torch.inference_mode():
            start = time.monotonic()
            for r in range(o.rounds):
                measure_round(items, r)
            run.precision = extra_rounds(run, items, time.monotonic() - start, measure_extra_round)
    finally:
        for rid in open_regions:  # a window cut short by an exception: close its region
            run.timeline.end(rid)
        for s in items:
            s.release()
    run.monitor.wait_for_sample_after(max((w.t1_ns for w in windows), default=0))
    return windows


def outcome(run: Run, windows: List[Window]) -> Outcome:
    """The windows with their energies, from the samples (once sampling has stopped); windows
    resumed from a spool keep the energies measured in their own session."""
    reused = {id(w) for ws in run.resumed.values() for w in ws}
    for w in windows:
        if id(w) in reused:
            continue
        m = run.monitor.measure(w.t0_ns, w.t1_ns, name=w.label)
        w.duration_s = (w.t1_ns - w.t0_ns) * 1e-9
        w.energy_j, w.num_samples, w.reason = m.energy_j, m.num_samples, m.reason
    return Outcome(windows=windows)


def _measure_site(run: Run, site: CallSite, r: int, target_ns: int, open_regions: List[int]) -> List[Window]:
    site.prepare()
    cold = run.cache is not None and run.cache.cold and not site.is_model
    if cold:  # the layer's weights and output as cold as in the model (cache.py); copies for this site only
        site.rotation = Rotation(site.module, run.cache.cache_bytes)
    try:
        return _measure_prepared(run, site, r, target_ns, open_regions)
    finally:
        if cold:
            run.cache.copies[site.label] = site.rotation.copies
            if site.rotation.why:
                run.cache.copies_not_made[site.label] = site.rotation.why
            site.rotation = None


def _measure_prepared(run: Run, site: CallSite, r: int, target_ns: int, open_regions: List[int]) -> List[Window]:
    if site.inplace is None:
        # The first call tells whether the site changes its own input.
        site.run()
        site.inplace = site.mutated()
        if site.inplace:
            log.info("%s changes its input in place: restoring it before every call", site.label)
            site.restore_region = run.timeline.region(site.label + RESTORE_SUFFIX)
        warm = run.options.warmup - 1
    else:
        warm = run.options.warmup
    fn = site.run_restored if site.inplace else site.run
    # Warm up for `warmup` calls and at least the sensor's resolution (a refresh and a
    # conversion, meta["estimator"]["warmup_s"]), so the power is steady across the window's start.
    warm_s = run.estimator_info.get("warmup_s", 0.0) if run.options.warmup > 0 else 0.0
    warm_until = time.monotonic_ns() + int(warm_s * 1e9)
    for _ in range(max(0, warm)):
        fn()
    while time.monotonic_ns() < warm_until:
        fn()
    # A cold-context rotation starts empty each round: until its kept outputs are all there (and
    # REUSE_CALLS more, cache.py), each call takes fresh memory from the allocator (page faults),
    # which is not the steady state the window measures. Measured on VGG11: the first round's
    # conv1 at 6.7-9.2 ms per call against 3.9-5.7 ms in later rounds without this, and 6272
    # faults in nearly every window of it without the REUSE_CALLS, none in 12 of 16 with them.
    while site.rotation is not None and site.rotation.filling > 0:
        fn()
    hooks = _trace_hooks(run) if site.is_model and run.options.trace_model else []
    try:
        t0, t1, n, gap, tries = _checked_window(run, site, fn, site.region, target_ns, open_regions)
    finally:
        for h in hooks:
            h.remove()
    kind = "model" if site.is_model else "layer"
    out = [Window(site.label, site.module_name, site.call, r, kind, t0, t1, n, edge_gap_ms=gap * 1e3, retries=tries)]
    if site.inplace:
        # Restore copies alone, to subtract their cost.
        rt0, rt1, rn, gap, tries = _checked_window(run, site, site.restore, site.restore_region, target_ns,
                                                   open_regions)
        out.append(Window(site.label, site.module_name, site.call, r, "restore", rt0, rt1, rn, edge_gap_ms=gap * 1e3,
                          retries=tries))
    return out


def _window(run: Run, fn: Callable[[], Any], region: int, target_ns: int,
            open_regions: List[int], name: str = "") -> Tuple[int, int, int]:
    """Runs fn repeatedly inside a marked window, itself inside a torch.profiler range ``name``
    (a user's torch.profiler trace shows the window); returns (t0_ns, t1_ns, calls)."""
    with record_range(name or RANGE_PREFIX + "window"):
        return _marked_window(run, fn, region, target_ns, open_regions)


def _marked_window(run: Run, fn: Callable[[], Any], region: int, target_ns: int,
                   open_regions: List[int]) -> Tuple[int, int, int]:
    clock = time.monotonic_ns  # CLOCK_MONOTONIC, the clock of the samples and marks
    timeline, fixed = run.timeline, run.options.fixed_repeats
    run.sync()
    n = 0
    t0 = clock()
    timeline.mark_at(t0, region, True)
    open_regions.append(region)
    if fixed is not None:
        for _ in range(fixed):
            fn()
        n = fixed
    else:
        deadline = t0 + target_ns
        min_n = run.options.min_repeats
        while True:
            fn()
            n += 1
            if n >= min_n and clock() >= deadline:
                break
    run.sync()
    t1 = clock()
    timeline.mark_at(t1, region, False)
    open_regions.remove(region)
    return t0, t1, n


def _checked_window(run: Run, site: CallSite, fn: Callable[[], Any], region: int, target_ns: int,
                    open_regions: List[int]) -> Tuple[int, int, int, float, int]:
    """A window whose edges were sampled on time: the energy of the slice between the last
    sample before an edge and the first after it is interpolated, so a late sample there
    (the sampler thread starved of CPU) is an error up to power step x gap / 2. Such a
    window is measured again, up to ``edge_retries`` times. Returns (t0, t1, calls, largest
    edge gap in s, retries)."""
    monitor = run.monitor
    limit_s = edge_gap_limit_s(run)
    tries = 0
    name = RANGE_PREFIX + site.label + (" (restore)" if site.inplace and region == site.restore_region else "")
    while True:
        t0, t1, n = _window(run, fn, region, target_ns, open_regions, name)
        monitor.wait_for_sample_after(t1)
        gap = max(_edge_gap_s(monitor, t0), _edge_gap_s(monitor, t1))
        if not gap > limit_s or tries >= run.options.edge_retries:
            if gap > limit_s:
                log.info("%s: samples around the window's edges were %.1f ms apart (limit %.1f ms) after %d "
                         "retries; kept", site.label, gap * 1e3, limit_s * 1e3, tries)
            return t0, t1, n, gap, tries
        tries += 1
        log.info("%s: samples around the window's edges were %.1f ms apart (limit %.1f ms): measuring again",
                 site.label, gap * 1e3, limit_s * 1e3)


def _edge_gap_s(monitor: PowerMonitor, t_ns: int) -> float:
    sampler = monitor.sampler
    i = sampler.index_at_or_after(t_ns)
    if i == 0 or i >= len(sampler):
        return math.inf
    t = sampler.samples(i - 1, i + 1)["t_ns"]
    return (int(t[1]) - int(t[0])) * 1e-9


def _trace_hooks(run: Run) -> List[Any]:
    """Pre/post hooks that mark each layer's region while the whole model runs."""
    named = dict(run.model.named_modules())
    timeline = run.timeline
    by_module: Dict[str, List[int]] = {}
    for s in run.sites:
        by_module.setdefault(s.module_name, []).append(s.region)
    count: Dict[str, int] = {}
    handles = []

    def reset(module, a):
        count.clear()

    handles.append(run.model.register_forward_pre_hook(reset))
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


__all__ = ["measure", "outcome"]
