"""Accuracy against ground truth: the layer profiler run against emulated sensors.

For each sensor setting, a synthetic model whose layers busy-wait a set time (50 us to 1 s) at a
known power level (:func:`edgepower.testing.busy_model` on a
:class:`~edgepower.testing.RegionSource`) is profiled by :class:`~edgepower.LayerProfiler`
through the real sensor and sampler code. The windows the profiler measured are then scored:

- **truth** per window = (exact source energy over the window - idle level x duration) / calls;
- **measured** per window = (estimated energy - estimated idle power x duration) / calls, for
  each estimator of :mod:`edgepower.energy` (``plain`` is what the profiler reports by
  default; the table checks that the recomputation equals the report);
- per layer: error = mean measured - mean truth over rounds (relative to the truth), and
  whether the 95 % confidence interval over rounds contains the truth.

:func:`run` returns a JSON-ready dict; :func:`format_table` prints it. ``edgepower accuracy``
is the command line (docs/accuracy.md).
"""
from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .. import energy as M
from . import emulators as T
from .._native import core as _core
from ..monitor import PowerMonitor
from ..profile.phase import PhaseShift
from ..sensors.model import SensorModel

log = logging.getLogger("edgepower")

IDLE_W = 2.0
LEVELS_W = (4.5, 7.0, 3.0, 6.0, 5.0)  # cycled over the layers
LAYERS_FULL = {"l50us": 50e-6, "l100us": 100e-6, "l300us": 300e-6, "l1ms": 1e-3, "l3ms": 3e-3, "l10ms": 10e-3,
               "l30ms": 30e-3, "l100ms": 0.1, "l300ms": 0.3, "l1s": 1.0}
LAYERS_QUICK = {"l300us": 300e-6, "l1ms": 1e-3, "l3ms": 3e-3, "l10ms": 10e-3, "l30ms": 30e-3}


@dataclass
class Setting:
    """One emulated sensor configuration and the profiler's window for it."""

    name: str
    kind: str  # "ina3221", "nvml-counter", "nvml-instant"
    window_s: float
    averages: int = 1
    conversion_s: float = 1.1e-3
    phase_shift: bool = False
    noise_w: float = 0.05
    description: str = ""

    def methods(self) -> List[str]:
        return ["plain", "counter"] if self.kind == "nvml-counter" else ["plain", "lag", "guard", "auto"]


SETTINGS: Dict[str, Setting] = {s.name: s for s in [
    Setting("ina3221-default", "ina3221", 0.5, 1, 1.1e-3,
            description="INA3221 reset default: N=1, 1.1 ms + 1.1 ms, 3 channels (refresh 6.6 ms)"),
    Setting("ina3221-jetson", "ina3221", 2.0, 512, 140e-6,
            description="Jetson device trees: N=512, 140 us, 3 channels (refresh 0.84 ms, tau 430 ms)"),
    Setting("nvml-counter", "nvml-counter", 1.0, description="NVML-like energy counter, steps every 100 ms"),
    Setting("nvml-counter-phase", "nvml-counter", 1.0, phase_shift=True,
            description="NVML-like energy counter, random phase-shift delays before each window"),
    Setting("nvml-instant", "nvml-instant", 1.0, description="NVML-like instant power, 25 ms of every 100 ms"),
    Setting("nvml-instant-phase", "nvml-instant", 1.0, phase_shift=True,
            description="NVML-like instant power 25/100 ms, random phase-shift delays before each window"),
]}

# The targets: (setting, layers >= seconds, statistic, limit in %).
TARGETS = [
    ("ina3221-default", 1e-3, "median", 1.0),
    ("ina3221-default", 1e-3, "p95", 3.0),
    ("ina3221-jetson", 0.0, "median", 3.0),
    ("nvml-counter-phase", 100e-6, "median", 5.0),
    ("nvml-instant-phase", 100e-6, "median", 5.0),
]


def _sensor_for(setting: Setting, source: "T.RegionSource", seed: int):
    """(sensor, model, closer) for a setting."""
    if setting.kind == "ina3221":
        emu = T.Ina3221(source, averages=setting.averages, conversion_s=setting.conversion_s,
                        noise_w=setting.noise_w, seed=seed)
        try:
            sensor = emu.sensor()
        except BaseException:
            emu.close()
            raise
        return sensor, SensorModel.ina3221(setting.averages, setting.conversion_s, setting.conversion_s, 3), emu.close
    phase = np.random.default_rng(seed).uniform(0, 0.1)
    if setting.kind == "nvml-counter":
        return T.nvml_counter(source, 0.1, phase_s=phase), SensorModel.counter(0.1), lambda: None
    if setting.kind == "nvml-instant":
        return (T.nvml_instant(source, 0.1, 0.025, noise_w=setting.noise_w, phase_s=phase, seed=seed),
                SensorModel.boxcar(0.1, 0.025), lambda: None)
    raise ValueError(f"unknown setting kind {setting.kind!r}")


def _estimate(method: str, model: "SensorModel", s: Dict[str, np.ndarray], t0: int, t1: int) -> float:
    t, p, c = s["t"], s["p"], s["c"]
    if method == "plain":
        if c is not None and p is None:
            return float(np.interp(t1, t, c) - np.interp(t0, t, c))
        return M.plain_energy(t, p, t0, t1)
    if method == "lag":
        return M.lag_energy(t, p, t0, t1, model)
    if method == "guard":
        return M.guard_energy(t, p, t0, t1, model, margin_s=0.001)
    if method == "counter":
        return M.counter_step_energy(t, c, t0, t1)
    if method == "auto":
        return M.estimate("auto", model, t, p, c, t0, t1)[0]
    raise ValueError(method)


def _stats(v: Sequence[float]) -> Dict[str, float]:
    a = np.asarray([x for x in v if math.isfinite(x)], dtype=np.float64)
    if a.size == 0:
        return {"mean": math.nan, "ci": math.nan, "n": 0}
    st = _core.repeat_stats(a)
    return {"mean": float(st["mean"]), "ci": float(st["ci95_half_width"]), "n": int(st["n"])}


def run_setting(setting: Setting, layers: Dict[str, float], *, rounds: int = 3, rate_hz: float = 1000.0,
                idle_s: float = 1.0, seed: int = 0) -> Dict[str, Any]:
    """Profiles the busy model against one emulated sensor and scores every estimator."""
    import torch

    from ..profile import LayerProfiler

    levels = dict(zip(layers, itertools.cycle(LEVELS_W)))
    source = T.RegionSource({"busy:" + n: w for n, w in levels.items()}, idle_w=IDLE_W)
    model_nn = T.busy_model(layers, source.timeline)
    sensor, smodel, close = _sensor_for(setting, source, seed + 1)
    t_wall = time.monotonic()
    try:
        mon = PowerMonitor(sensor, rate_hz=rate_hz, timeline=source.timeline)
        shift = PhaseShift(smodel.refresh_s, "random", seed=seed) if setting.phase_shift else None
        prof = LayerProfiler(model_nn, monitor=mon, repeats="auto", min_window_s=setting.window_s, k_updates=1.0,
                             min_repeats=1, warmup=1, rounds=rounds, idle_s=idle_s, seed=seed, before_window=shift,
                             estimator="plain")  # every estimator is recomputed below from the same samples
        report = prof.profile(torch.zeros(1))
    finally:
        close()
    wall_s = time.monotonic() - t_wall
    st = mon.samples()
    info = mon.info
    samples = {"t": st.t_ns,
               "p": mon.total_power(st) if info.has_power else None,
               "c": (st.counter_j[:, 0] if st.counter_j.shape[0] else None)}
    tl = source.timeline
    w = tl.windows()
    idle_id = tl.region("(idle)")
    # The profiler measures idle before and after the layers and uses the mean: so does the score.
    idle_w = [(int(w["t0_ns"][k]), int(w["t1_ns"][k])) for k in np.flatnonzero(w["region"] == idle_id)]
    methods = setting.methods()
    idle_est = {m: float(np.mean([_estimate(m, smodel, samples, a, b) / ((b - a) * 1e-9) for a, b in idle_w]))
                for m in methods}
    rows = []
    for label, busy_s in layers.items():
        wins = [x for x in report.windows if x["label"] == label and x["kind"] == "layer"]
        truth, measured = [], {m: [] for m in methods}
        durs, calls = [], []
        for x in wins:
            t0, t1, n = int(x["t0_ns"]), int(x["t1_ns"]), int(x["calls"])
            d = (t1 - t0) * 1e-9
            truth.append((source.energy_j(t0, t1) - IDLE_W * d) / n)
            for m in methods:
                measured[m].append((_estimate(m, smodel, samples, t0, t1) - idle_est[m] * d) / n)
            durs.append(d)
            calls.append(n)
        true_mean = float(np.mean(truth)) if truth else math.nan
        row: Dict[str, Any] = {"layer": label, "busy_s": busy_s, "level_w": levels[label],
                               "windows": len(wins), "window_s": float(np.mean(durs)) if durs else math.nan,
                               "calls_per_window": float(np.mean(calls)) if calls else math.nan,
                               "true_net_mj": true_mean * 1e3}
        rep = report.row(label)
        row["report_net_mj"] = float(rep["net_energy_per_inference_mj"])
        row["report_ci95_mj"] = float(rep["ci95_mj"])
        for m in methods:
            s = _stats(measured[m])
            err = (s["mean"] - true_mean) / true_mean * 100 if true_mean else math.nan
            row[m] = {"net_mj": s["mean"] * 1e3, "ci95_mj": s["ci"] * 1e3, "err_pct": err,
                      "ci_contains_truth": bool(math.isfinite(s["ci"]) and abs(s["mean"] - true_mean) <= s["ci"])}
        rows.append(row)
    return {"setting": asdict(setting), "sensor": info.kind, "sensor_description": info.description,
            "model": asdict(smodel), "rounds": rounds, "rate_hz": rate_hz, "idle_s": idle_s,
            "idle_true_w": IDLE_W, "idle_measured_w": {m: idle_est[m] for m in methods},
            "phase_delay_s": shift.total_delay_s if shift else 0.0, "wall_s": wall_s,
            "sampler": {k: v for k, v in mon.stats().items() if isinstance(v, (int, float, str, bool))},
            "rows": rows, "summary": summarise(rows, methods)}


def summarise(rows: List[Dict[str, Any]], methods: Sequence[str]) -> Dict[str, Any]:
    """Median, p95 and largest absolute error (%) per method over all layers, those >= 100 us and
    those >= 1 ms; and the share of CIs that contain the truth."""
    out: Dict[str, Any] = {}
    for m in methods:
        d: Dict[str, Any] = {}
        for lo, tag in ((0.0, "all"), (100e-6, ">=100us"), (1e-3, ">=1ms")):
            e = np.abs([r[m]["err_pct"] for r in rows if r["busy_s"] >= lo and math.isfinite(r[m]["err_pct"])])
            d[tag] = {"median_abs_err_pct": float(np.median(e)) if e.size else math.nan,
                      "p95_abs_err_pct": float(np.percentile(e, 95)) if e.size else math.nan,
                      "max_abs_err_pct": float(e.max()) if e.size else math.nan, "layers": int(e.size)}
        cov = [r[m]["ci_contains_truth"] for r in rows if math.isfinite(r[m]["err_pct"])]
        d["ci_coverage"] = float(np.mean(cov)) if cov else math.nan
        out[m] = d
    return out


def check_targets(results: Dict[str, Dict[str, Any]], method: str = "auto") -> List[Dict[str, Any]]:
    """The issue's targets, for ``method`` (``counter`` on counters), on the settings run."""
    out = []
    for name, lo, stat, limit in TARGETS:
        if name not in results:
            continue
        res = results[name]
        m = method if method in res["setting_methods"] else "counter"
        tag = ">=1ms" if lo >= 1e-3 else (">=100us" if lo >= 100e-6 else "all")
        v = res["summary"][m][tag][f"{stat}_abs_err_pct"]
        out.append({"setting": name, "method": m, "layers": tag, "statistic": stat, "value_pct": v, "limit_pct": limit,
                    "met": bool(math.isfinite(v) and v <= limit)})
    for name, res in results.items():
        m = method if method in res["setting_methods"] else "counter"
        cov = res["summary"][m]["ci_coverage"]
        out.append({"setting": name, "method": m, "layers": "all", "statistic": "ci_coverage", "value_pct": cov * 100,
                    "limit_pct": 90.0, "met": bool(math.isfinite(cov) and cov >= 0.9)})
    return out


def run(settings: Sequence[str], layers: Dict[str, float], *, rounds: int = 3, rate_hz: float = 1000.0,
        idle_s: float = 1.0, seed: int = 0, progress: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
    """Runs each named setting; returns {"settings": {name: result}, "targets": [...], ...}."""
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown accuracy setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
    results: Dict[str, Dict[str, Any]] = {}
    for name in settings:
        if progress:
            progress(name)
        r = run_setting(SETTINGS[name], layers, rounds=rounds, rate_hz=rate_hz, idle_s=idle_s, seed=seed)
        r["setting_methods"] = SETTINGS[name].methods()
        results[name] = r
    return {"settings": results, "targets": check_targets(results), "layers": dict(layers),
            "levels_w": dict(zip(layers, itertools.cycle(LEVELS_W))), "idle_w": IDLE_W}


def _f(x: float, nd: int = 2) -> str:
    return "n/a" if not (isinstance(x, (int, float)) and math.isfinite(x)) else f"{x:+.{nd}f}"


def format_table(result: Dict[str, Any]) -> str:
    """The error table as text: one block per setting, error % per estimator ('*': the 95 % CI
    misses the truth), then summaries and targets."""
    lines: List[str] = []
    for name, r in result["settings"].items():
        ms = r["setting_methods"]
        lines.append(f"== {name}: {r['setting']['description']}")
        lines.append(f"   sensor {r['sensor']}, window {r['setting']['window_s']:g} s, {r['rounds']} rounds, "
                     f"{r['rate_hz']:g} Hz sampling, wall {r['wall_s']:.1f} s")
        head = f"   {'layer':<8} {'busy':>8} {'window':>7} {'true mJ':>10} " + " ".join(f"{m + ' err%':>12}" for m in ms)
        lines.append(head)
        for row in r["rows"]:
            b = row["busy_s"]
            busy = f"{b * 1e6:.0f}us" if b < 1e-3 else (f"{b * 1e3:.0f}ms" if b < 1 else f"{b:.0f}s")
            cells = []
            for m in ms:
                e = row[m]["err_pct"]
                cells.append(f"{_f(e) + ('' if row[m]['ci_contains_truth'] or not math.isfinite(e) else '*'):>12}")
            lines.append(f"   {row['layer']:<8} {busy:>8} {row['window_s']:>6.2f}s {row['true_net_mj']:>10.4g} " + " ".join(cells))
        for tag in ("all", ">=100us", ">=1ms"):
            cells = []
            for m in ms:
                s = r["summary"][m][tag]
                cells.append(f"{s['median_abs_err_pct']:.2f}/{s['p95_abs_err_pct']:.2f}".rjust(12))
            lines.append(f"   {'|err| median/p95 ' + tag:<37}" + " ".join(cells))
        lines.append(f"   {'CI contains truth':<37}" + " ".join(f"{r['summary'][m]['ci_coverage'] * 100:>11.0f}%" for m in ms))
        lines.append("")
    lines.append("targets (auto estimator; counter on counters):")
    for t in result["targets"]:
        lines.append(f"   {'MET ' if t['met'] else 'MISS'} {t['setting']:<20} {t['statistic']:<12} {t['layers']:<8} "
                     f"{t['value_pct']:.2f}% (limit {'>=' if t['statistic'] == 'ci_coverage' else '<='} {t['limit_pct']:g}%)")
    return "\n".join(lines)


__all__ = ["LAYERS_FULL", "LAYERS_QUICK", "SETTINGS", "Setting", "TARGETS", "check_targets", "format_table", "run",
           "run_setting", "summarise"]
