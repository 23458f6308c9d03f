"""PNG charts of a report (matplotlib's Agg canvas, never a display)."""
from __future__ import annotations

import os
from typing import Any, List

import numpy as np


def _net_bars(rows: List[Any]) -> Any:
    """(values to draw, CI to draw, hatched mask, note): resolved rows as measured; rows whose
    CI includes zero as a hatched bar up to their bound (no error bar); rows below idle not
    drawn. No bar is ever negative."""
    status = np.array([r["status"] for r in rows], dtype=object)
    net = np.array([r["net_energy_per_inference_mj"] for r in rows], dtype=float)
    ci = np.array([r["ci95_mj"] for r in rows], dtype=float)
    upper = np.array([r["net_energy_upper_mj"] for r in rows], dtype=float)
    hatched = status == "not resolved"
    hidden = (status == "below idle") | (net < 0)
    values = np.where(hatched, upper, np.where(hidden, np.nan, net))
    errs = np.where(hatched | hidden, 0.0, np.nan_to_num(ci))
    notes = []
    if hatched.any():
        notes.append(f"hatched: {int(hatched.sum())} row(s) not resolved (95% CI includes zero), drawn up to their bound")
    if hidden.any():
        notes.append(f"not drawn: {int(hidden.sum())} row(s) below the idle baseline")
    return values, errs, hatched, "; ".join(notes)


def plot(report, out_dir: str = ".", prefix: str = "") -> List[str]:
    """Writes two PNG charts and returns their paths: ``energy_per_layer.png`` (net energy per
    inference with its 95 % CI, gross beside it) and ``energy_latency.png`` (energy beside
    latency per layer). Uses matplotlib's Agg canvas, never a display."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    os.makedirs(out_dir, exist_ok=True)
    rows = report.layer_rows + [r for r in report.rows if r["kind"] == "unattributed"]
    labels = [r["layer"] for r in rows]
    net = np.array([r["net_energy_per_inference_mj"] for r in rows], dtype=float)
    gross = np.array([r["energy_per_inference_mj"] for r in rows], dtype=float)
    ci = np.array([r["ci95_mj"] for r in rows], dtype=float)
    net_draw, net_err, hatched, note = _net_bars(rows)
    lat = np.array([r["latency_ms"] for r in rows], dtype=float)
    lat_ci = np.array([r["latency_ci95_ms"] for r in rows], dtype=float)
    has_net = bool(np.isfinite(net).any())
    tag = " (ESTIMATED)" if report.estimated else ""
    title = f"{report.meta.get('model', 'model')} {report.meta.get('inputs', '')}: sensor {report.sensor}{tag}"
    x = np.arange(len(rows))
    height = max(3.0, 0.28 * len(rows) + 1.5)
    paths = []

    fig = Figure(figsize=(10, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if has_net:
        ax.barh(x - 0.2, gross, height=0.4, color="#c6d4e1", label="gross")
        bars = ax.barh(x + 0.2, net_draw, height=0.4, xerr=net_err, color="#2f6690", capsize=2,
                       label="net (above idle), 95% CI")
        for bar, h in zip(bars, hatched):
            if h:
                bar.set_hatch("///")
                bar.set_facecolor("white")
                bar.set_edgecolor("#2f6690")
    else:
        ax.barh(x, gross, xerr=np.nan_to_num(ci), color="#2f6690", capsize=2, label="gross, 95% CI")
    ax.set_yticks(x)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("energy per inference (mJ)")
    ax.set_title(title, fontsize=9)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    if has_net and note:
        fig.text(0.01, 0.005, note, fontsize=7)
    fig.tight_layout()
    path = os.path.join(out_dir, f"{prefix}energy_per_layer.png")
    fig.savefig(path, dpi=100)
    paths.append(path)

    fig = Figure(figsize=(12, height))
    FigureCanvasAgg(fig)
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2, sharey=ax1)
    energy, energy_err = (net_draw, net_err) if has_net else (gross, np.nan_to_num(ci))
    bars = ax1.barh(x, energy, xerr=energy_err, color="#2f6690", capsize=2)
    for bar, h in zip(bars, hatched if has_net else np.zeros(len(rows), dtype=bool)):
        if h:
            bar.set_hatch("///")
            bar.set_facecolor("white")
            bar.set_edgecolor("#2f6690")
    ax1.set_xlabel(f"{'net ' if has_net else ''}energy per inference (mJ)")
    ax1.set_yticks(x)
    ax1.set_yticklabels(labels, fontsize=8)
    ax1.invert_yaxis()
    negative_lat = lat < 0  # (unattributed) when the layers in isolation take longer than the model
    ax2.barh(x, np.where(negative_lat, np.nan, lat), xerr=np.where(negative_lat, 0.0, np.nan_to_num(lat_ci)),
             color="#d9822b", capsize=2)
    ax2.set_xlabel("latency per inference (ms)")
    notes = [note] if has_net and note else []
    if negative_lat.any():
        notes.append(f"not drawn: negative latency of {', '.join(np.array(labels)[negative_lat])} (the layers in "
                     "isolation take longer than the whole model)")
    if notes:
        fig.text(0.01, 0.005, "; ".join(notes), fontsize=7)
    ax2.tick_params(labelleft=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, f"{prefix}energy_latency.png")
    fig.savefig(path, dpi=100)
    paths.append(path)
    return paths


__all__ = ["plot"]
