"""The identification table: the profiler's default estimator on every INA3221 configuration.

For each configuration (N x conversion time x channels) an emulated INA3221 writes its hwmon tree
as the mainline driver does (``update_interval`` in whole ms) and :class:`~edgepower.LayerProfiler`
profiles a busy model (layers of 1, 2, 5 and 10 ms at known power levels) with its defaults: it
identifies the sensor's model by its own step (the region ``(identify)`` draws
:data:`IDENTIFY_W` on the emulated board, as a busy CPU would), sizes its windows from the
model, and reports with the sensor-aware estimator. Each layer's figure is scored against the
exact truth, and so is the plain estimator over the same windows. The identification alone is
then repeated on a tree written as the drivers before 2021 write it (``update_interval`` with N
in it), which must give the same model.

:func:`run_config` does one configuration, :func:`run_grid` the grid, :func:`format_table` the
text table (``benchmarks/identify_table.py`` writes ``benchmarks/results/identify.json``).
"""
from __future__ import annotations

import contextlib
import itertools
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from .. import energy as M
from ..monitor import PowerMonitor
from ..profile.identify import identify_ina3221
from ..sensors import model_cache
from ..sensors.model import SensorModel
from . import emulators as T
from .accuracy import IDLE_W, LEVELS_W

LAYERS = {"l1ms": 1e-3, "l2ms": 2e-3, "l5ms": 5e-3, "l10ms": 10e-3}
#: Power of the identification step's region on the emulated board (W).
IDENTIFY_W = 5.0
#: The issue's targets where tau <= 1 s: median and worst |error| of per-layer net energy (%).
TARGET_MEDIAN_PCT, TARGET_WORST_PCT, TARGET_TAU_S, TARGET_WINDOWS_S = 1.0, 3.0, 1.0, 2.0


@dataclass(frozen=True)
class Config:
    """One INA3221 configuration (BC = SC)."""

    averages: int
    conversion_s: float
    channels: int

    @property
    def refresh_s(self) -> float:
        return self.channels * 2 * self.conversion_s

    @property
    def tau_s(self) -> float:
        return self.averages * self.refresh_s

    @property
    def name(self) -> str:
        return f"N={self.averages} {self.conversion_s * 1e6:.0f}us x{self.channels}"


def grid(averages: Sequence[int] = T.AVERAGES, conversions_s: Sequence[float] = (140e-6, 332e-6, 1.1e-3),
         channels: Sequence[int] = (1, 3)) -> List[Config]:
    """Every configuration of the table, shortest time constant first."""
    return sorted((Config(n, c, ch) for n, c, ch in itertools.product(averages, conversions_s, channels)),
                  key=lambda c: (c.tau_s, c.averages))


@contextlib.contextmanager
def _private_cache() -> Iterator[str]:
    """A fresh model cache for one configuration: emulated boards of the same sysfs values but
    other conversion times must not share entries (a real board is one configuration)."""
    old = os.environ.get(model_cache.ENV)
    with tempfile.TemporaryDirectory(prefix="edgepower-models-") as d:
        os.environ[model_cache.ENV] = d
        try:
            yield d
        finally:
            if old is None:
                os.environ.pop(model_cache.ENV, None)
            else:
                os.environ[model_cache.ENV] = old


def _matches(model: Optional[SensorModel], cfg: Config) -> bool:
    return (model is not None and model.averages == cfg.averages and
            abs(model.refresh_s - cfg.refresh_s) < 1e-9 and abs(model.observe_s - cfg.conversion_s) < 1e-9)


def _labels(channels: int) -> List[str]:
    return ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"][:channels]


def identify_only(cfg: Config, semantics: str, *, rate_hz: float = 1000.0, seed: int = 1) -> Dict[str, Any]:
    """The identification step alone on a tree with ``semantics`` (no cache): what it found."""
    src = T.RegionSource({"(identify)": IDENTIFY_W}, idle_w=IDLE_W)
    t_wall = time.monotonic()
    with T.Ina3221(src, averages=cfg.averages, conversion_s=cfg.conversion_s, labels=_labels(cfg.channels),
                   update_interval=semantics, seed=seed) as emu:
        with PowerMonitor(emu.sensor(), rate_hz=rate_hz, timeline=src.timeline) as mon:
            result, _ = identify_ina3221(mon, 0.2, use_cache=False)
    return {"semantics": semantics, "update_interval_ms": result.sysfs.get("update_interval_ms"),
            "status": result.status, "reason": result.reason, "correct": _matches(result.model, cfg),
            "model": result.model.name if result.model else None, "tau_s": result.tau_s,
            "candidates": len(result.candidates), "wall_s": time.monotonic() - t_wall}


def run_config(cfg: Config, *, layers: Optional[Dict[str, float]] = None, rounds: int = 3, rate_hz: float = 1000.0,
               idle_s: float = 1.0, seed: int = 0, pre2021: bool = True) -> Dict[str, Any]:
    """Profiles the busy model through an emulated INA3221 of this configuration with the
    profiler's defaults; scores the default (identified, sensor-aware) and the plain estimator."""
    import torch

    from ..profile import LayerProfiler

    layers = dict(layers or LAYERS)
    levels = dict(zip(layers, itertools.cycle(LEVELS_W)))
    src = T.RegionSource({**{"busy:" + n: w for n, w in levels.items()}, "(identify)": IDENTIFY_W}, idle_w=IDLE_W)
    net = T.busy_model(layers, src.timeline)
    t_wall = time.monotonic()
    with _private_cache(), T.Ina3221(src, averages=cfg.averages, conversion_s=cfg.conversion_s,
                                     labels=_labels(cfg.channels), seed=seed + 1) as emu:
        mon = PowerMonitor(emu.sensor(), rate_hz=rate_hz, timeline=src.timeline)
        report = LayerProfiler(net, monitor=mon, rounds=rounds, idle_s=idle_s, warmup=1, min_repeats=1,
                               seed=seed).profile(torch.zeros(1))
    wall_s = time.monotonic() - t_wall
    est = report.meta["estimator"]
    idn = est.get("identification") or {}
    model = SensorModel(**est["model"]) if est.get("model") else None
    s = mon.samples()
    t, p = s.t_ns, mon.total_power(s)
    w = src.timeline.windows()
    idles = [(int(w["t0_ns"][k]), int(w["t1_ns"][k])) for k in np.flatnonzero(w["region"] ==
                                                                                 src.timeline.region("(idle)"))]

    used = model if est["estimator"] != "plain" else None  # the model may be known, and plain still chosen

    def energy(method: str, a: int, b: int) -> float:
        if method == "plain" or used is None:
            return M.plain_energy(t, p, a, b)
        return M.estimate("auto", used, t, p, None, a, b, steady_start=bool(est.get("steady_start")))[0]

    # As the report: the mean of the idle windows (before and after the profile).
    idle = {m: float(np.nanmean([energy(m, a, b) / ((b - a) * 1e-9) for a, b in idles])) for m in ("plain", "default")}
    rows = []
    for label in layers:
        wins = [x for x in report.windows if x["label"] == label and x["kind"] == "layer"]
        truth, meas = [], {"plain": [], "default": []}
        for x in wins:
            a, b, n = int(x["t0_ns"]), int(x["t1_ns"]), int(x["calls"])
            d = (b - a) * 1e-9
            truth.append((src.energy_j(a, b) - IDLE_W * d) / n)
            for m in meas:
                meas[m].append((energy(m, a, b) - idle[m] * d) / n)
        tr = float(np.mean(truth))
        row = {"layer": label, "true_net_mj": tr * 1e3, "windows": len(wins),
               "windows_s": float(sum((x["t1_ns"] - x["t0_ns"]) * 1e-9 for x in wins)),
               "report_net_mj": float(report.row(label)["net_energy_per_inference_mj"])}
        for m, v in meas.items():
            row[f"{m}_err_pct"] = (float(np.mean(v)) - tr) / tr * 100
        rows.append(row)
    out: Dict[str, Any] = {
        "config": {**asdict(cfg), "refresh_s": cfg.refresh_s, "tau_s": cfg.tau_s, "name": cfg.name},
        "estimator": {k: v for k, v in est.items() if k != "identification"}, "identification": idn,
        "identified_correctly": _matches(model, cfg), "target_window_s": report.meta["method"]["target_window_s"],
        "idle_w": idle, "rows": rows, "wall_s": wall_s, "identify_s": idn.get("duration_s"),
    }
    for m in ("plain", "default"):
        e = np.abs([r[f"{m}_err_pct"] for r in rows])
        out[m] = {"median_abs_err_pct": float(np.median(e)), "worst_abs_err_pct": float(e.max())}
    out["max_windows_per_layer_s"] = max(r["windows_s"] for r in rows)
    if pre2021:
        out["pre2021"] = identify_only(cfg, "pre-2021", rate_hz=rate_hz, seed=seed + 2)
    return out


def run_grid(configs: Sequence[Config], progress: Optional[Callable[[str], None]] = None,
             **kwargs: Any) -> Dict[str, Any]:
    """Runs each configuration; returns {"configs": [...], "summary": {...}}."""
    results = []
    for cfg in configs:
        if progress:
            progress(cfg.name)
        results.append(run_config(cfg, **kwargs))
    return {"configs": results, "summary": summarise(results), "layers": dict(LAYERS), "idle_w": IDLE_W,
            "identify_w": IDENTIFY_W}


def summarise(results: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per group (tau <= 1 s, tau > 1 s): median and worst |error| of each estimator over every
    layer of the group, identification hits, the longest windows per layer and wall time."""
    out = {}
    for name, keep in (("tau<=1s", lambda r: r["config"]["tau_s"] <= TARGET_TAU_S),
                       ("tau>1s", lambda r: r["config"]["tau_s"] > TARGET_TAU_S)):
        rs = [r for r in results if keep(r)]
        if not rs:
            continue
        g: Dict[str, Any] = {"configs": len(rs)}
        for m in ("plain", "default"):
            e = np.abs([row[f"{m}_err_pct"] for r in rs for row in r["rows"]])
            g[m] = {"median_abs_err_pct": float(np.median(e)), "worst_abs_err_pct": float(e.max()),
                    "worst_config_median_pct": float(max(r[m]["median_abs_err_pct"] for r in rs))}
        needed = [r for r in rs if r["identification"].get("status") != "not needed"]
        g["identification_needed"] = len(needed)
        g["identified_correctly"] = sum(bool(r["identified_correctly"]) for r in needed)
        g["pre2021_identified_correctly"] = sum(bool(r.get("pre2021", {}).get("correct")) for r in needed)
        g["max_windows_per_layer_s"] = max(r["max_windows_per_layer_s"] for r in rs)
        g["default_worse_than_plain"] = [r["config"]["name"] for r in rs
                                         if r["default"]["median_abs_err_pct"] > r["plain"]["median_abs_err_pct"]]
        g["wall_s_max"] = max(r["wall_s"] for r in rs)
        out[name] = g
    return out


def _f(x: Any, fmt: str = ".2f") -> str:
    return "n/a" if not (isinstance(x, (int, float)) and math.isfinite(x)) else format(x, fmt)


def format_table(result: Dict[str, Any]) -> str:
    """The table as text: one line per configuration, then the group summaries."""
    head = (f"{'configuration':<20} {'tau s':>7} {'ui ms':>5} {'model (mainline)':<26} {'pre-2021':<8} "
            f"{'ident s':>7} {'window s':>8} {'win/layer':>9} {'default med/worst %':>19} {'plain med/worst %':>17} "
            f"{'wall s':>6}")
    lines = [head, "-" * len(head)]
    for r in result["configs"]:
        c, e, idn = r["config"], r["estimator"], r["identification"]
        model = (e.get("model") or {}).get("name") or f"- ({(idn.get('status') or e.get('source'))})"
        model = model.replace("INA3221 ", "") + (" ok" if r["identified_correctly"] else " WRONG" if e.get("model")
                                                 else "") + (" plain" if e.get("model") and e["estimator"] == "plain"
                                                             else "")
        pre = r.get("pre2021", {})
        pre_s = "ok" if pre.get("correct") else (pre.get("status", "-") if pre else "-")
        ui = (idn.get("sysfs") or {}).get("update_interval_ms")
        lines.append(f"{c['name']:<20} {c['tau_s']:>7.3f} {_f(ui, '.0f'):>5} {model[:26]:<26} {pre_s[:8]:<8} "
                     f"{_f(r.get('identify_s'), '.1f'):>7} {_f(r['target_window_s'], '.2f'):>8} "
                     f"{r['max_windows_per_layer_s']:>9.2f} "
                     f"{_f(r['default']['median_abs_err_pct']):>9}/{_f(r['default']['worst_abs_err_pct']):<9} "
                     f"{_f(r['plain']['median_abs_err_pct']):>8}/{_f(r['plain']['worst_abs_err_pct']):<8} "
                     f"{r['wall_s']:>6.1f}")
    lines.append("")
    for g, s in result["summary"].items():
        d, p = s["default"], s["plain"]
        lines.append(f"{g}: {s['configs']} configurations; default estimator |error| median "
                     f"{_f(d['median_abs_err_pct'])} %, worst {_f(d['worst_abs_err_pct'])} % (plain: "
                     f"{_f(p['median_abs_err_pct'])} % / {_f(p['worst_abs_err_pct'])} %); worst configuration median "
                     f"{_f(d['worst_config_median_pct'])} %; identified correctly {s['identified_correctly']} of "
                     f"{s['identification_needed']} that needed it (pre-2021 sysfs: "
                     f"{s['pre2021_identified_correctly']}); "
                     f"windows per layer <= {s['max_windows_per_layer_s']:.2f} s; longest configuration "
                     f"{s['wall_s_max']:.0f} s")
        if s["default_worse_than_plain"]:
            lines.append(f"   default median worse than plain on: {', '.join(s['default_worse_than_plain'])}")
    return "\n".join(lines)


__all__ = ["Config", "IDENTIFY_W", "LAYERS", "format_table", "grid", "identify_only", "run_config", "run_grid",
           "summarise"]
