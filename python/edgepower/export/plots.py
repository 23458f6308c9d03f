"""PNG charts of a report (matplotlib's Agg canvas, never a display)."""
from __future__ import annotations

import os
from typing import Any, List

import numpy as np

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
        ax.barh(x + 0.2, net, height=0.4, xerr=np.nan_to_num(ci), color="#2f6690", capsize=2,
                label="net (above idle), 95% CI")
    else:
        ax.barh(x, gross, xerr=np.nan_to_num(ci), color="#2f6690", capsize=2, label="gross, 95% CI")
    ax.set_yticks(x)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("energy per inference (mJ)")
    ax.set_title(title, fontsize=9)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out_dir, f"{prefix}energy_per_layer.png")
    fig.savefig(path, dpi=100)
    paths.append(path)

    fig = Figure(figsize=(12, height))
    FigureCanvasAgg(fig)
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2, sharey=ax1)
    energy = net if has_net else gross
    ax1.barh(x, energy, xerr=np.nan_to_num(ci), color="#2f6690", capsize=2)
    ax1.set_xlabel(f"{'net ' if has_net else ''}energy per inference (mJ)")
    ax1.set_yticks(x)
    ax1.set_yticklabels(labels, fontsize=8)
    ax1.invert_yaxis()
    ax2.barh(x, lat, xerr=np.nan_to_num(lat_ci), color="#d9822b", capsize=2)
    ax2.set_xlabel("latency per inference (ms)")
    ax2.tick_params(labelleft=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = os.path.join(out_dir, f"{prefix}energy_latency.png")
    fig.savefig(path, dpi=100)
    paths.append(path)
    return paths


__all__ = ["plot"]
