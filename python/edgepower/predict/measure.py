"""Latency of every layer of several networks, measured robustly on a shared, loaded machine.

Training data for the latency model (no power sensor needed). The design against noise:

- **CPU time of the calling thread** (``CLOCK_THREAD_CPUTIME_ID``) when the model runs on CPU
  with one torch thread: the time other processes take the core is not counted, so a loaded
  machine does not inflate the figures (on an idle machine it equals wall time). Wall time
  otherwise (CUDA synchronised), and always reported beside it.
- **Layers timed inside the running model** (forward hooks read the clock around each leaf
  call), so a layer's figure includes what the network around it does to it (cold weights,
  the input just written by the previous layer) and the layers add up to nearly the model.
- **Interleaving**: each round visits every network in a fresh random order, so a slow phase
  of the machine spreads over all networks instead of biasing one.
- **min-of-k, then median**: per round the model runs once to warm up and ``k`` timed forwards
  without hooks (the model keeps its fastest), then once and ``k`` times with the hooks (each
  layer keeps its fastest call): a call interrupted by the scheduler or slowed by another
  process's cache traffic is slower, never faster. Each figure is the median over ``rounds``
  rounds (>= 15). Python's garbage collector is off while timing (as in :mod:`timeit`).

Each network gives a :class:`~edgepower.report.Report` with one row per call site, the
``(unattributed)`` and ``(model)`` rows, no energy (``sensor="timer"``) and the layer features
in ``meta["predict_features"]``, so it trains a predictor as any profile report does.
"""
from __future__ import annotations

import gc
import logging
import math
import random
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..profile.capture import MODEL_LABEL, UNATTRIBUTED_LABEL, describe_inputs
from ..report import LayerRow, Report
from .features import NetworkFeatures, extract, layer_names

log = logging.getLogger("edgepower.predict")

Inputs = Tuple[torch.nn.Module, tuple]


def _clock(model: torch.nn.Module, args: tuple) -> Tuple[str, Callable[[], int], Callable[[], None]]:
    cuda = any(p.is_cuda for p in model.parameters()) or any(isinstance(a, torch.Tensor) and a.is_cuda for a in args)
    if cuda:
        return "wall", time.perf_counter_ns, torch.cuda.synchronize
    if torch.get_num_threads() == 1:
        return "thread_cpu", time.thread_time_ns, lambda: None
    return "wall", time.perf_counter_ns, lambda: None


class _Net:
    """One network: its features, hooks that time each leaf call inside the running model, and
    the per-round figures."""

    def __init__(self, name: str, model: torch.nn.Module, args: tuple, backend_keys: bool):
        self.name = name
        self.model = model.eval()
        self.args = args
        self.features: NetworkFeatures = extract(model, *args, backend_keys=backend_keys)
        self.labels = [x.label for x in self.features.layers]
        self.meta = {x.label: x for x in self.features.layers}
        self.clock_name, self.clock, self.sync = _clock(model, args)
        self.names = layer_names(model)
        self.times: Dict[str, List[float]] = {lab: [] for lab in self.labels + [MODEL_LABEL]}
        self.walls: List[float] = []
        self._calls: Dict[str, int] = {}
        self._stack: List[Tuple[str, int]] = []
        self._last: Dict[str, float] = {}

    def _pre(self, name: str):
        def hook(mod, a):
            self.sync()
            self._stack.append((name, self.clock()))
        return hook

    def _post(self, name: str):
        multi = sum(1 for lab in self.labels if lab.split("#")[0] == name) > 1

        def hook(mod, a, out):
            self.sync()
            t1 = self.clock()
            n, t0 = self._stack.pop()
            c = self._calls.get(name, 0)
            self._calls[name] = c + 1
            label = f"{name}#{c}" if multi else name
            self._last[label] = min(self._last.get(label, math.inf), (t1 - t0) * 1e-9)
        return hook

    def round(self, k: int) -> None:
        """One warm-up and ``k`` timed forwards without hooks (the model keeps its fastest), then
        one warm-up and ``k`` forwards with timing hooks (each layer keeps its fastest call)."""
        best, best_wall = math.inf, math.inf
        self.model(*self.args)
        for _ in range(k):
            w0 = time.perf_counter_ns()
            t0 = self.clock()
            self.model(*self.args)
            self.sync()
            t1 = self.clock()
            w1 = time.perf_counter_ns()
            best, best_wall = min(best, (t1 - t0) * 1e-9), min(best_wall, (w1 - w0) * 1e-9)
        named = dict(self.model.named_modules())
        handles = []
        try:
            for n in self.names:
                handles.append(named[n].register_forward_pre_hook(self._pre(n)))
                handles.append(named[n].register_forward_hook(self._post(n)))
            for i in range(k + 1):
                self._calls, self._stack = {}, []
                if i == 1:
                    self._last = {}  # the first hooked forward was the warm-up
                self.model(*self.args)
        finally:
            for h in handles:
                h.remove()
        for lab in self.labels:
            self.times[lab].append(self._last.get(lab, math.nan))
        self.times[MODEL_LABEL].append(best)
        self.walls.append(best_wall)


def measure_latency(networks: Dict[str, Inputs], rounds: int = 15, k: int = 3, seed: int = 0,
                    backend_keys: bool = True, progress: Optional[Callable[[int, int], None]] = None
                    ) -> Dict[str, Report]:
    """Latency of every leaf call inside the running model, and of the whole model, per network.

    Parameters
    ----------
    networks : dict
        name -> (model, args): the model and the positional inputs of its forward.
    rounds : int
        Rounds (>= 15): each figure is the median over rounds.
    k : int
        Forwards timed per round with hooks (each layer keeps its fastest call) and without
        (the whole model keeps its fastest).
    seed : int
        Seed of the shuffled network order.
    backend_keys : bool
        Record each call's backend kernel (one profiled forward per network).
    progress : callable, optional
        Called as ``progress(round, rounds)`` after each round.

    Returns
    -------
    dict
        name -> :class:`~edgepower.report.Report` (latency only; features in ``meta``).
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 15:
        raise ValueError(f"rounds must be an int >= 15 (each figure is a median over rounds), got {rounds!r}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int (forwards per round, fastest kept), got {k!r}")
    if not networks:
        raise ValueError("no networks to measure: pass {name: (model, args)}")
    nets = []
    for name, item in networks.items():
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], torch.nn.Module)):
            raise ValueError(f"network {name!r}: expected (model, args), got {type(item).__name__}")
        model, args = item
        nets.append(_Net(name, model, args if isinstance(args, tuple) else (args,), backend_keys))
    rng = random.Random(seed)
    started = time.time()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # as timeit does: a collection would land on whichever layer allocates at that moment
    try:
        with torch.inference_mode():
            for r in range(rounds):
                order = list(nets)
                rng.shuffle(order)
                for net in order:
                    net.round(k)
                if progress is not None:
                    progress(r + 1, rounds)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {net.name: _report(net, rounds, k, seed, time.time() - started) for net in nets}


def _median_ci(v: Sequence[float]) -> Tuple[float, float]:
    """Median and a 95 % half-width for it (1.57 x IQR / sqrt(n), the notch of a box plot)."""
    a = np.asarray(v, dtype=float)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return float(med), float(1.57 * (q3 - q1) / math.sqrt(len(a)))


def _row(label: str, module: str, call: Optional[int], kind: str, type_: str, params: int, shapes: str,
         times: Sequence[float], rounds: int, k: int, clock: str, note: str = "") -> LayerRow:
    med, ci = _median_ci(times)
    nan = math.nan
    return LayerRow(layer=label, module=module, call=call, kind=kind, type=type_, params=params, input_shapes=shapes,
                    rounds=rounds, repeats=rounds * k, window_s=nan, total_time_s=nan,
                    energy_total_j=nan, latency_ms=med * 1e3, latency_ci95_ms=ci * 1e3,
                    energy_per_inference_mj=nan, net_energy_per_inference_mj=nan, ci95_mj=nan, ci95_pct=nan,
                    net_energy_upper_mj=nan,
                    avg_power_w=nan, net_power_w=nan, idle_power_w=nan, num_samples=0, energy_pct=nan,
                    inplace=False, status="ok", error="",
                    note=note or f"median over {rounds} rounds of the fastest of {k} calls in the running model "
                                 f"({clock} clock)", sensor="timer", estimated=False)


def _shape(x: Sequence[int]) -> str:
    return "x".join(str(d) for d in x)


def _report(net: _Net, rounds: int, k: int, seed: int, wall_s: float) -> Report:
    rows = []
    for lab in net.labels:
        f = net.meta[lab]
        rows.append(_row(lab, f.module, f.call, "layer", f.op, f.params, _shape(f.in_shape), net.times[lab],
                         rounds, k, net.clock_name))
    model_times = net.times[MODEL_LABEL]
    model_row = _row(MODEL_LABEL, "", None, "model", type(net.model).__name__,
                     int(sum(p.numel() for p in net.model.parameters())), describe_inputs(net.args, {}),
                     model_times, rounds, k, net.clock_name,
                     note=f"median over {rounds} rounds of the fastest of {k} forwards without hooks "
                          f"({net.clock_name} clock); wall-clock median {statistics.median(net.walls) * 1e3:.4f} ms")
    # (unattributed) per round: the whole model minus the sum of the layers, then the median.
    per_round = np.asarray(model_times) - np.nansum([net.times[lab] for lab in net.labels], axis=0)
    un = _row(UNATTRIBUTED_LABEL, "", None, "unattributed", "", 0, "", list(per_round), rounds, k, net.clock_name,
              note="whole model minus the sum of the layers: functional ops outside modules and call overhead")
    meta = {
        "model": net.name, "model_class": type(net.model).__name__, "inputs": describe_inputs(net.args, {}),
        "sensor": "timer", "estimated": False,
        "method": {"mode": "latency", "rounds": rounds, "k": k, "seed": seed, "clock": net.clock_name,
                   "statistic": "median over rounds of the fastest of k calls", "interleaved": True,
                   "layers": "timed inside the running model (forward hooks)"},
        "environment": {"torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        "device": net.features.device,
        "predict_features": net.features.to_dict(), "wall_s": wall_s,
    }
    return Report(rows=rows + [un, model_row], windows=[], meta=meta)


__all__ = ["measure_latency"]
