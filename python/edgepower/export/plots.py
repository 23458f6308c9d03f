"""Charts of a report and of a comparison as matplotlib Figures (each on its own Agg canvas: no
pyplot state, never a display; Jupyter shows a returned Figure inline), and the PNGs of
:meth:`Report.write`."""
from __future__ import annotations

import io
import os
from typing import Any, Dict, List

import numpy as np

KINDS = ("energy_latency", "energy")


_FIGURE_CLASS: Any = None


def _figure(width: float, height: float):
    """A matplotlib Figure on its own Agg canvas (no pyplot state, never a display) that Jupyter
    shows inline even where pyplot was never imported (it has ``_repr_png_``)."""
    global _FIGURE_CLASS
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if _FIGURE_CLASS is None:
        class ChartFigure(Figure):
            """A matplotlib Figure that renders itself as PNG for Jupyter."""

            def _repr_png_(self) -> bytes:
                buf = io.BytesIO()
                self.savefig(buf, format="png", dpi=90)
                return buf.getvalue()

        _FIGURE_CLASS = ChartFigure
    fig = _FIGURE_CLASS(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


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


def _data(report) -> Dict[str, Any]:
    rows = report.layer_rows + [r for r in report.rows if r["kind"] == "unattributed"]
    net = np.array([r["net_energy_per_inference_mj"] for r in rows], dtype=float)
    net_draw, net_err, hatched, note = _net_bars(rows)
    tag = " (ESTIMATED)" if report.estimated else ""
    dtype = report.meta.get("dtype")
    return {
        "labels": [r["layer"] for r in rows], "net": net, "net_draw": net_draw, "net_err": net_err,
        "hatched": hatched, "note": note,
        "gross": np.array([r["energy_per_inference_mj"] for r in rows], dtype=float),
        "ci": np.array([r["ci95_mj"] for r in rows], dtype=float),
        "lat": np.array([r["latency_ms"] for r in rows], dtype=float),
        "lat_ci": np.array([r["latency_ci95_ms"] for r in rows], dtype=float),
        "has_net": bool(np.isfinite(net).any()), "x": np.arange(len(rows)),
        "height": max(3.0, 0.28 * len(rows) + 1.5),
        "title": f"{report.meta.get('model', 'model')} {report.meta.get('inputs', '')}"
                 f"{' ' + dtype if dtype else ''}: sensor {report.sensor}{tag}",
    }


def _hatch(bars, mask) -> None:
    for bar, h in zip(bars, mask):
        if h:
            bar.set_hatch("///")
            bar.set_facecolor("white")
            bar.set_edgecolor("#2f6690")


def energy_figure(report):
    """Net energy per inference with its 95 % CI, gross beside it, per layer (a matplotlib
    Figure); rows not resolved hatched up to their bound, rows below idle not drawn."""
    d = _data(report)
    x = d["x"]
    fig = _figure(10, d["height"])
    ax = fig.add_subplot(1, 1, 1)
    if d["has_net"]:
        ax.barh(x - 0.2, d["gross"], height=0.4, color="#c6d4e1", label="gross")
        bars = ax.barh(x + 0.2, d["net_draw"], height=0.4, xerr=d["net_err"], color="#2f6690", capsize=2,
                       label="net (above idle), 95% CI")
        _hatch(bars, d["hatched"])
    else:
        ax.barh(x, d["gross"], xerr=np.nan_to_num(d["ci"]), color="#2f6690", capsize=2, label="gross, 95% CI")
    ax.set_yticks(x)
    ax.set_yticklabels(d["labels"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("energy per inference (mJ)")
    ax.set_title(d["title"], fontsize=9)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    if d["has_net"] and d["note"]:
        fig.text(0.01, 0.005, d["note"], fontsize=7)
    fig.tight_layout()
    return fig


def energy_latency_figure(report):
    """Energy (net, else gross) beside latency per layer, both with 95 % CIs (a matplotlib
    Figure)."""
    d = _data(report)
    x, labels, lat = d["x"], d["labels"], d["lat"]
    fig = _figure(12, d["height"])
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2, sharey=ax1)
    has_net = d["has_net"]
    energy, energy_err = (d["net_draw"], d["net_err"]) if has_net else (d["gross"], np.nan_to_num(d["ci"]))
    bars = ax1.barh(x, energy, xerr=energy_err, color="#2f6690", capsize=2)
    _hatch(bars, d["hatched"] if has_net else np.zeros(len(labels), dtype=bool))
    ax1.set_xlabel(f"{'net ' if has_net else ''}energy per inference (mJ)")
    ax1.set_yticks(x)
    ax1.set_yticklabels(labels, fontsize=8)
    ax1.invert_yaxis()
    negative_lat = lat < 0  # (unattributed) when the layers in isolation take longer than the model
    ax2.barh(x, np.where(negative_lat, np.nan, lat), xerr=np.where(negative_lat, 0.0, np.nan_to_num(d["lat_ci"])),
             color="#d9822b", capsize=2)
    ax2.set_xlabel("latency per inference (ms)")
    notes = [d["note"]] if has_net and d["note"] else []
    if negative_lat.any():
        notes.append(f"not drawn: negative latency of {', '.join(np.array(labels)[negative_lat])} (the layers in "
                     "isolation take longer than the whole model)")
    if notes:
        fig.text(0.01, 0.005, "; ".join(notes), fontsize=7)
    ax2.tick_params(labelleft=False)
    fig.suptitle(d["title"], fontsize=9)
    fig.tight_layout()
    return fig


def plot(report, kind: str = "energy_latency"):
    """A chart of the report as a matplotlib Figure (shown inline in Jupyter; ``fig.savefig(path)``
    writes it). ``kind``: ``energy_latency`` (energy beside latency per layer, the default) or
    ``energy`` (net and gross energy per layer)."""
    if kind == "energy_latency":
        return energy_latency_figure(report)
    if kind == "energy":
        return energy_figure(report)
    raise ValueError(f"unknown chart kind {kind!r}; kinds: {', '.join(KINDS)}")


def save(report, out_dir: str = ".", prefix: str = "") -> List[str]:
    """Writes two PNG charts and returns their paths: ``energy_per_layer.png``
    (:func:`energy_figure`) and ``energy_latency.png`` (:func:`energy_latency_figure`)."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, make in (("energy_per_layer.png", energy_figure), ("energy_latency.png", energy_latency_figure)):
        path = os.path.join(out_dir, f"{prefix}{name}")
        make(report).savefig(path, dpi=100)
        paths.append(path)
    return paths


def comparison_figure(comparison):
    """Energy and latency per layer of both sides of a :class:`~.compare.Comparison` with their
    95 % CIs, and the energy delta in % (dark: beyond the combined CIs)."""
    rows = comparison.rows
    la, lb = comparison.labels
    labels = [r["layer"] for r in rows]
    x = np.arange(len(rows))
    col = lambda key: np.array([r[key] for r in rows], dtype=float)  # noqa: E731
    fig = _figure(14, max(3.0, 0.3 * len(rows) + 1.5))
    axes = [fig.add_subplot(1, 3, 1)]
    axes += [fig.add_subplot(1, 3, i, sharey=axes[0]) for i in (2, 3)]
    for ax, metric, unit, what in ((axes[0], "energy", "mj", f"{comparison.energy_basis} energy per inference (mJ)"),
                                   (axes[1], "latency", "ms", "latency per inference (ms)")):
        ax.barh(x - 0.2, col(f"{metric}_{unit}_a"), height=0.4, xerr=np.nan_to_num(col(f"{metric}_ci95_{unit}_a")),
                color="#9bb7d4", capsize=2, label=la)
        ax.barh(x + 0.2, col(f"{metric}_{unit}_b"), height=0.4, xerr=np.nan_to_num(col(f"{metric}_ci95_{unit}_b")),
                color="#2f6690" if metric == "energy" else "#d9822b", capsize=2, label=lb)
        ax.set_xlabel(what)
        ax.legend(fontsize=8)
    beyond = [bool(r["energy_beyond_ci"]) for r in rows]
    axes[2].barh(x, col("energy_delta_pct"), color=["#8c2d04" if b else "#fdae6b" for b in beyond])
    axes[2].axvline(0, color="black", linewidth=0.5)
    axes[2].set_xlabel(f"energy {lb} vs {la} (%); dark: beyond the 95% CIs")
    axes[0].set_yticks(x)
    axes[0].set_yticklabels(labels, fontsize=8)
    axes[0].invert_yaxis()
    for ax in axes[1:]:
        ax.tick_params(labelleft=False)
    side = comparison.sides[0]
    fig.suptitle(f"{side.get('model', '')}: {lb} relative to {la}", fontsize=9)
    fig.tight_layout()
    return fig


__all__ = ["KINDS", "comparison_figure", "energy_figure", "energy_latency_figure", "plot", "save"]
