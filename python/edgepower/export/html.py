"""HTML for Jupyter: a report's curated table with inline bars, compact views of a measurement, a
monitor and a comparison. Plain HTML with inline styles (no JavaScript, no pandas), so it renders
the same in JupyterLab, VS Code and exported notebooks.

The report's table keeps what a reader needs (layer, type, latency, gross and net energy with
their 95 % CI, share of the model's energy); every column is in ``report.to_pandas()``.
"""
from __future__ import annotations

import html
from typing import Any, List

from .common import ESTIMATE_NOTE, finite
from .console import closure_lines, figure_text, net_text

_TABLE = "border-collapse:collapse;font-size:12px;font-family:monospace"
_TD = "padding:1px 8px;text-align:right;border-bottom:1px solid #eee"
_TDL = "padding:1px 8px;text-align:left;border-bottom:1px solid #eee"
_NOTE = "background:#fff3cd;border:1px solid #e0c060;padding:4px 8px;margin:4px 0"


def _e(x: Any) -> str:
    return html.escape(str(x))


def _f(x: Any, fmt: str) -> str:
    return format(x, fmt) if finite(x) else "n/a"


def _pm(x: Any, ci: Any, fmt: str) -> str:
    if not finite(x):
        return "n/a"
    return f"{format(x, fmt)} &plusmn; {format(ci, fmt)}" if finite(ci) else format(x, fmt)


def _bar(value: Any, scale: float, color: str) -> str:
    if not finite(value) or not scale:
        return ""
    width = min(100.0, abs(value) / scale * 100.0)
    c = color if value >= 0 else "#c0392b"
    return (f'<div style="display:inline-block;vertical-align:middle;height:9px;width:{width:.1f}px;'
            f'background:{c}"></div>')


def _row(cells: List[str], left: int = 1, style: str = "") -> str:
    tds = "".join(f'<td style="{_TDL if i < left else _TD}">{c}</td>' for i, c in enumerate(cells))
    return f'<tr style="{style}">{tds}</tr>'


def _head(names: List[str], left: int = 1) -> str:
    ths = "".join(f'<th style="{_TDL if i < left else _TD};border-bottom:1px solid #999">{_e(n)}</th>'
                  for i, n in enumerate(names))
    return f"<tr>{ths}</tr>"


def provenance_line(report) -> str:
    """One line: model, inputs and dtypes, devices, sensor and rate, idle baseline, method."""
    m = report.meta
    mon = m.get("monitor") or {}
    method = m.get("method") or {}
    env = m.get("environment") or {}
    idle = m.get("idle_power_w")
    dtypes = ", ".join(m.get("input_dtypes") or [])
    parts = [f"{m.get('model', '?')} ({m.get('model_params', 0):,} params, {m.get('dtype') or '?'})",
             f"inputs {m.get('inputs', '?')}" + (f" [{dtypes}]" if dtypes else ""),
             f"on {', '.join(m.get('devices') or []) or '?'}",
             f"sensor {report.sensor}" + (f" at {mon['achieved_rate_hz']:.0f} Hz"
                                          if finite(mon.get("achieved_rate_hz")) else ""),
             f"idle {idle:.3f} W" if finite(idle) else "no idle baseline",
             f"{method.get('mode', '?')}, {method.get('rounds', '?')} rounds",
             f"torch {env.get('torch', '?')}, {env.get('torch_threads', '?')} threads"]
    return "; ".join(parts)


def report_html(report) -> str:
    """The curated table of a report: per row layer, type, latency, gross and net energy per
    inference with 95 % CIs (``< bound`` where the CI includes zero, as the console prints it),
    share of the model's energy with an inline bar; the provenance line and the closure above and
    below; a notice when the figures are estimates."""
    rows = report.rows
    has_net = any(finite(r["net_energy_per_inference_mj"]) for r in rows)
    key = "net_energy_per_inference_mj" if has_net else "energy_per_inference_mj"
    scale = max([abs(r[key]) for r in rows if r["kind"] in ("layer", "unattributed") and finite(r[key])] + [0.0])
    out = []
    if report.estimated:
        out.append(f'<div style="{_NOTE}"><b>{_e(ESTIMATE_NOTE.format(sensor=report.sensor))}</b></div>')
    out.append(f'<div style="font-size:12px;color:#555">{_e(provenance_line(report))}</div>')
    out.append(f'<table style="{_TABLE}">')
    out.append(_head(["layer", "type", "latency ms (95% CI)", "gross mJ", f"{'net' if has_net else 'gross'} mJ (95% CI)",
                      "share %", ""], left=2))
    for r in rows:
        style = "border-top:2px solid #999;font-weight:bold" if r["kind"] == "model" else \
            ("color:#777" if r["kind"] in ("module total", "unattributed") else "")
        if r["status"] == "failed" and r["kind"] in ("layer", "model"):
            out.append(_row([_e(r["layer"]), _e(r["type"]), f"FAILED: {_e(r['error'])}", "", "", "", ""], 3, style))
            continue
        bar = _bar(r[key], scale, "#2f6690") if r["kind"] in ("layer", "unattributed") else ""
        net = _pm(r[key], r["ci95_mj"], ".4f")
        if has_net and r["status"] in ("not resolved", "below idle"):
            # as the console prints it: a bound, never a signed number the CI cannot support
            net, bar = _e(net_text(r)), ""
        negative = {k: finite(r[k]) and r[k] < 0 for k in ("latency_ms", "energy_per_inference_mj")}
        lat = _e(figure_text(r, "latency_ms")) if negative["latency_ms"] else \
            _pm(r["latency_ms"], r["latency_ci95_ms"], ".4f")
        gross = _e(figure_text(r, "energy_per_inference_mj")) if negative["energy_per_inference_mj"] else \
            _f(r["energy_per_inference_mj"], ".4f")
        out.append(_row([_e(r["layer"]), _e(r["type"]), lat, gross, net, _f(r["energy_pct"], ".1f"), bar], 2, style))
    out.append("</table>")
    c = report.closure
    extra = " ".join(closure_lines(report.closure_ci)) if hasattr(report, "closure_ci") else ""
    out.append(f'<div style="font-size:12px;color:#555">closure (sum of layers / whole model): net energy '
               f'{_f(c["net_energy"], ".3f")}, gross energy {_f(c["gross_energy"], ".3f")}, latency '
               f'{_f(c["latency"], ".3f")}. {_e(extra)} All columns: <code>report.to_pandas()</code>.</div>')
    return "\n".join(out)


def measurement_html(m) -> str:
    """One line of a :class:`edgepower.Measurement`: window, duration, energy, power, samples,
    sensor and method; the reason when the energy is unavailable."""
    est = ' <b style="color:#a05a00">ESTIMATE</b>' if m.estimated else ""
    cells = [f"<b>{_e(m.name)}</b>", f"{m.duration_s:.4f} s"]
    if m.ok:
        cells += [f"{m.energy_j:.4f} J", f"{_f(m.avg_power_w, '.3f')} W"]
        if m.idle_power_w is not None and finite(m.net_energy_j):
            cells.append(f"net {m.net_energy_j:.4f} J (idle {m.idle_power_w:.3f} W)")
    else:
        cells.append(f'<span style="color:#c0392b">energy unavailable: {_e(m.reason)}</span>')
    cells += [f"{m.num_samples} samples", f"sensor {_e(m.sensor)}{est}", _e(m.method)]
    return f'<table style="{_TABLE}"><tr>' + "".join(f'<td style="{_TDL}">{c}</td>' for c in cells) + "</tr></table>"


def monitor_html(mon) -> str:
    """A :class:`edgepower.PowerMonitor` in one line: sensor, rails, rate, state, samples, open
    windows."""
    info = mon.info
    est = ' <b style="color:#a05a00">ESTIMATE</b>' if info.estimated else ""
    state = "running" if mon.running else "stopped"
    ui = info.update_interval_s
    cells = [f"<b>PowerMonitor</b> {_e(info.kind)}{est}", _e(info.description),
             f"rails {_e(', '.join(mon.rails))}", f"{mon.rate_hz:g} Hz",
             f"updates every {ui * 1e3:.2f} ms" if finite(ui) else "update interval unknown",
             state, f"{len(mon.sampler)} samples"]
    if mon.open_windows():
        cells.append(f"open windows: {_e(', '.join(mon.open_windows()))}")
    return f'<table style="{_TABLE}"><tr>' + "".join(f'<td style="{_TDL}">{c}</td>' for c in cells) + "</tr></table>"


def comparison_html(comp) -> str:
    """A :class:`~.compare.Comparison` as a table: energy and latency of both sides with CIs and
    the deltas in %, bold red where beyond the combined 95 % CIs."""
    la, lb = comp.labels
    out = [f'<div style="font-size:12px;color:#555">{_e(la)}: {_e(_side(comp.sides[0]))}<br>'
           f'{_e(lb)}: {_e(_side(comp.sides[1]))}</div>']
    out += [f'<div style="{_NOTE}">{_e(n)}</div>' for n in comp.notes]
    out.append(f'<table style="{_TABLE}">')
    basis = comp.energy_basis
    out.append(_head(["layer", f"{basis} mJ {la}", f"{basis} mJ {lb}", "energy %", f"ms {la}", f"ms {lb}",
                      "latency %", "power %"]))

    def delta(r, m):
        txt = _f(r[f"{m}_delta_pct"], "+.1f")
        return f'<b style="color:#c0392b">{txt}</b>' if r[f"{m}_beyond_ci"] else txt

    for r in comp.rows:
        out.append(_row([_e(r["layer"]), _pm(r["energy_mj_a"], r["energy_ci95_mj_a"], ".4f"),
                         _pm(r["energy_mj_b"], r["energy_ci95_mj_b"], ".4f"), delta(r, "energy"),
                         _pm(r["latency_ms_a"], r["latency_ci95_ms_a"], ".4f"),
                         _pm(r["latency_ms_b"], r["latency_ci95_ms_b"], ".4f"), delta(r, "latency"),
                         delta(r, "power")]))
    out.append("</table>")
    out.append(f'<div style="font-size:12px;color:#555">{_e(lb)} relative to {_e(la)}; bold red: beyond the '
               f'combined 95% CIs. All columns: <code>comparison.to_pandas()</code>.</div>')
    return "\n".join(out)


def _side(s) -> str:
    return (f"{s.get('model', '?')} {s.get('inputs', '')}, dtype {s.get('dtype') or '?'}, sensor {s.get('sensor')}"
            f"{' (ESTIMATE)' if s.get('estimated') else ''}, device {s.get('device')}")


__all__ = ["comparison_html", "measurement_html", "monitor_html", "provenance_line", "report_html"]
