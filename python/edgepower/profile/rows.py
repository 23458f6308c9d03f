"""Rows of a report from its windows: per call site (in call order), a total after the last call
of a module called more than once, ``(unattributed)`` (the whole model minus the layers) and
``(model)``. Per-round figures and their statistics come from :mod:`edgepower.energy.repeats`."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import numpy as np

from ..energy.repeats import PerRound, combine, difference, material, mean_ci, per_round
from ..report import LayerRow, Window
from .capture import MODEL_LABEL, UNATTRIBUTED_LABEL, CallSite, describe_inputs


def _row(label: str, module: str, call: Optional[int], kind: str, type_: str, params: int, shapes: str,
         pr: PerRound, idle_w: Optional[float], sensor: str, estimated: bool, inplace: bool = False,
         status: str = "ok", error: str = "") -> LayerRow:
    lat, lat_ci, n_ok = mean_ci(pr.latency_s)
    gross, gross_ci, _ = mean_ci(pr.gross_j)
    net, net_ci, _ = mean_ci(pr.net_j)
    calls = pr.calls[np.isfinite(pr.calls)]
    windows = pr.window_s[np.isfinite(pr.window_s)]
    energies = pr.energy_j[np.isfinite(pr.energy_j)]
    samples = pr.samples[np.isfinite(pr.samples)]
    headline, headline_ci = (net, net_ci) if idle_w is not None else (gross, gross_ci)
    notes = list(pr.reasons)
    if samples.size and samples.min() < 2:
        notes.append("a window held fewer than 2 samples: its energy is interpolated between samples; "
                     "use longer windows (min_window_s) or a higher rate")
    if inplace:
        notes.append("changes its input in place: input restored before every call, restore cost subtracted")
    if status == "ok" and n_ok == 0:
        status = "no data"
    if status == "ok" and not math.isfinite(gross):
        status = "no energy"
    if status == "ok":
        status = resolution(net, net_ci)
        restore_note = below_restore_noise(lat, lat_ci) if inplace else ""
        if restore_note:
            status = "not resolved"
            notes.append(restore_note)
        elif status == "not resolved":
            notes.append(f"not resolved: the 95 % CI of the net energy ({net * 1e3:.4g} +- {net_ci * 1e3:.2g} mJ) "
                         "includes zero; more rounds, longer windows or a quieter device narrow it")
        elif status == "below idle":
            notes.append("below idle: the whole CI of the net energy is below zero, so the idle baseline does "
                         "not hold for this window (the device's idle power drifted, or other load changed)")
        elif n_ok < 2 and math.isfinite(net):
            notes.append("a single round: no confidence interval")
    return LayerRow(**{
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
        "ci95_pct": abs(headline_ci / headline) * 100 if material(headline, gross) else math.nan,
        "net_energy_upper_mj": max(net + net_ci, 0.0) * 1e3 if math.isfinite(net + net_ci) else math.nan,
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
    })


def build_rows(sites: List[CallSite], whole: CallSite, windows: List[Window], idle_w: Optional[float],
               rounds: int, sensor: str, estimated: bool, model: Any) -> List[LayerRow]:
    """Rows of the report: call sites in call order, a total after the last call of a module
    called more than once, then ``(unattributed)`` and ``(model)``."""
    per = {s.label: per_round(windows, s.label, rounds, idle_w) for s in sites}
    rows: List[LayerRow] = []
    last_call = {s.module_name: s for s in sites}
    for s in sites:
        status = "failed" if s.error else "ok"
        rows.append(_row(s.label, s.module_name, s.call, "layer", type(s.module).__name__,
                         params_of(s.module), describe_inputs(s.args, s.kwargs),
                         per[s.label], idle_w, sensor, estimated, bool(s.inplace), status, s.error))
        if s.ncalls > 1 and last_call[s.module_name] is s:
            group = [x for x in sites if x.module_name == s.module_name]
            failed = [x.label for x in group if x.error]
            combined = combine([per[x.label] for x in group], [1.0] * len(group))
            row = _row(s.module_name, s.module_name, None, "module total", type(s.module).__name__,
                       params_of(s.module), f"{len(group)} calls", combined, idle_w,
                       sensor, estimated, any(bool(x.inplace) for x in group),
                       "failed" if failed else "ok", f"failed calls: {', '.join(failed)}" if failed else "")
            row.repeats = int(sum(r.repeats for r in rows if r.module == s.module_name and r.kind == "layer"))
            row.note = f"sum of its {len(group)} calls per forward"
            rows.append(row)
    model_pr = per_round(windows, MODEL_LABEL, rounds, idle_w)
    model_row = _row(MODEL_LABEL, "", None, "model", type(model).__name__,
                     params_of(model), describe_inputs(whole.args, whole.kwargs),
                     model_pr, idle_w, sensor, estimated, bool(whole.inplace),
                     "failed" if whole.error else "ok", whole.error)
    ok_sites = [s for s in sites if not s.error]
    un = difference([model_pr] + [per[s.label] for s in ok_sites], [1.0] + [-1.0] * len(ok_sites))
    failed = [s.label for s in sites if s.error]
    un_row = _row(UNATTRIBUTED_LABEL, "", None, "unattributed", "", 0, "", un, idle_w, sensor, estimated,
                  status="failed" if whole.error else "ok",
                  error="the whole model failed in isolation" if whole.error else "")
    for key in ("repeats", "window_s", "total_time_s", "energy_total_j", "num_samples", "params", "avg_power_w"):
        setattr(un_row, key, math.nan if key in ("window_s", "total_time_s", "energy_total_j", "avg_power_w") else 0)
    un_row.note = ("whole model minus the sum of the layers: functional ops outside modules (flatten, residual "
                   "adds) and what isolation changes")
    if failed:
        un_row.note += f"; includes the failed layers {', '.join(failed)}"
    rows.append(un_row)
    rows.append(model_row)
    shares(rows, "net_energy_per_inference_mj" if idle_w is not None else "energy_per_inference_mj")
    return rows


def resolution(net_j: float, ci_j: float) -> str:
    """``ok`` when the net energy's 95 % CI excludes zero (or there is no CI to judge: one
    round, no baseline), ``not resolved`` when it includes zero, ``below idle`` when it lies
    wholly below zero."""
    if not (math.isfinite(net_j) and math.isfinite(ci_j)):
        return "ok"
    if net_j - ci_j > 0:
        return "ok"
    if net_j + ci_j < 0:
        return "below idle"
    return "not resolved"


def below_restore_noise(lat_s: float, lat_ci_s: float) -> str:
    """For a call that changes its input in place (the restore copy is timed on its own and
    subtracted): a note when its latency's 95 % CI reaches zero or below, i.e. the call costs
    less than the restore's noise resolves; else "". Such a row is ``not resolved`` whatever its
    energy says: a latency at or below zero is no cost, and an energy below zero from it is not a
    baseline below idle. (Seen beside busy processes: a 2048-element ``add_`` at -0.25 us.)"""
    if not math.isfinite(lat_s):
        return ""
    if lat_s > 0 and (not math.isfinite(lat_ci_s) or lat_s - lat_ci_s > 0):
        return ""
    ci = f" +- {lat_ci_s * 1e3:.2g}" if math.isfinite(lat_ci_s) else ""
    return (f"not resolved: its latency after subtracting the restore copy ({lat_s * 1e3:.4g}{ci} ms) is within "
            "the noise of that copy; more rounds or a quieter device narrow it")


def shares(rows: List[LayerRow], key: str) -> None:
    """Share of each ``ok`` layer row and of ``(unattributed)`` (if ``ok``) in their sum, so the
    shares of the rows a reader can trust add up to 100; the others get none."""
    part = [r for r in rows if r.kind in ("layer", "unattributed") and r.status == "ok"]
    total = sum(getattr(r, key) for r in part if math.isfinite(getattr(r, key)))
    model = next(r for r in rows if r.kind == "model")
    if not material(total, model.energy_per_inference_mj):
        return
    for r in part:
        r.energy_pct = getattr(r, key) / total * 100


def closure_stats(sites: List[CallSite], windows: List[Window], idle_w: Optional[float],
                  rounds: int) -> Dict[str, Dict[str, float]]:
    """Per round, the sum of the (not failed) layers over the whole model, for net energy (gross
    without a baseline) and latency: mean, 95 % CI half-width and rounds."""
    ok = [s for s in sites if not s.error]
    per = [per_round(windows, s.label, rounds, idle_w) for s in ok]
    model = per_round(windows, MODEL_LABEL, rounds, idle_w)
    out: Dict[str, Dict[str, float]] = {}
    for name, key in (("net_energy" if idle_w is not None else "gross_energy", "net_j" if idle_w is not None
                       else "gross_j"), ("latency", "latency_s")):
        layers = np.sum([getattr(p, key) for p in per], axis=0) if per else np.full(rounds, np.nan)
        m = getattr(model, key)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(m != 0, layers / m, np.nan)
        mean, ci, n = mean_ci(ratio)
        out[name] = {"mean": mean, "ci95": ci, "n": n}
    return out


def params_of(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


__all__ = ["build_rows", "closure_stats", "resolution"]
