"""Hooks that mark each call site on the timeline while the whole model runs (in-situ mode).

The hooks are bound at attach time (region id, bound ``Timeline.begin``/``end``), so a call
costs one Python call and one lock-free native mark, no allocation. A module called several times
per forward (a shared ReLU) counts its calls in a one-element list to pick the call site's region.
On CUDA the default path records CUDA events instead and merges them into the timeline in bulk
after each forward (:func:`event_marks`); ``sync_layers`` synchronises the device in every hook.
:class:`Runner` runs one forward inside a ``(model)`` region after a random delay.
"""
from __future__ import annotations

import random
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._native import core as _core
from .capture import CallSite


class Hooks:
    """Pre/post hooks marking each call site's region. ``attach`` registers them, ``remove``
    takes them off (idempotent); ``reset`` rewinds the per-module call counters before each
    forward."""

    def __init__(self, model: Any, sites: List[CallSite], timeline: "_core.Timeline",
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


class Runner:
    """One forward of the whole model inside a ``(model)`` region, after a random delay."""

    def __init__(self, whole: CallSite, hooks: Hooks, timeline: "_core.Timeline", cuda: List[str],
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


def close_open(timeline: "_core.Timeline", sites: List[CallSite], whole: CallSite) -> None:
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


__all__ = ["Hooks", "Runner", "close_open", "event_marks"]
