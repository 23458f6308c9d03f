"""The console summary of a report: the VGG tool's lines and the DistilBERT tool's table."""
from __future__ import annotations

import math
from typing import Any, Dict, List

from .common import ESTIMATE_NOTE
from .common import finite as _finite
from .common import num as _num

def summary(report) -> str:
    """Console summary: the VGG tool's per-layer lines (duration, energy, average power of
    all windows) and the DistilBERT tool's table (per inference: energy, latency, power,
    share), aligned, with the CI, the idle baseline and the closure ratio."""
    m = report.meta
    lines = []
    partial = m.get("partial")
    if partial:
        lines.append(f"PARTIAL REPORT (interrupted): {partial.get('windows_finished')} of "
                     f"{partial.get('windows_planned')} windows measured, {partial.get('rounds_complete')} rounds "
                     "complete; the figures cover the finished windows only")
    rounds = m.get("method", {}).get("rounds", "?")
    lines.append(f"edgepower profile: {m.get('model', '?')} ({m.get('model_params', 0):,} params), inputs "
                 f"{m.get('inputs', '?')}, devices {', '.join(m.get('devices', []))}")
    target = m.get("method", {}).get("target_window_s")
    rep = m.get("method", {}).get("repeats")
    how = f"{rep} calls per window" if isinstance(rep, int) else f"windows >= {target:.3f} s (adaptive)" \
        if _finite(target) else "adaptive windows"
    if m.get("method", {}).get("mode") == "in-situ":
        mm = m["method"]
        lines.append(f"sensor {report.sensor}; in situ: {rounds} rounds of {mm.get('forwards_per_round')} forwards "
                     f"of the whole model, random delays up to {mm.get('max_delay_s', 0) * 1e3:.2f} ms; readings "
                     f"attributed by {mm.get('attribution', {}).get('rule', 'sample time')}")
    elif m.get("method", {}).get("mode") == "recorded":  # edgepower.profile.recorded
        lines.append(f"sensor {report.sensor}; recorded offline ({m.get('recorded', {}).get('trace', '?')}): "
                     f"{rounds} rounds of marked windows")
    else:
        lines.append(f"sensor {report.sensor}; {rounds} rounds in shuffled order; {how}")
        line = precision_line(m.get("method", {}).get("precision"))
        if line:
            lines.append(line)
    if report.estimated:
        lines.append(ESTIMATE_NOTE.format(sensor=report.sensor))
    est = m.get("estimator") or {}
    if est:
        model = (est.get("model") or {}).get("name", "")
        lines.append(f"estimator: {est.get('estimator')}" + (f" ({est.get('resolved')}, {model})" if model else "")
                     + f", {est.get('source', '')}" + (f": {est['reason']}" if est.get("reason") else ""))
    idle = m.get("idle_power_w")
    lines.append(f"idle baseline: {idle:.3f} W ({m.get('idle_source', '')})" if _finite(idle)
                 else f"idle baseline: none ({m.get('idle_source', '')})")

    layer_rows = report.layer_rows
    names = [f"{r['type']}_{i}" for i, r in enumerate(layer_rows)]
    w_name = max([len(n) for n in names] + [4])
    w_label = max([len(r["layer"]) for r in report.rows] + [5])
    lines.append("")
    lines.append("Per layer, all windows (VGG tool format):")
    for name, r in zip(names, layer_rows):
        if r["status"] == "failed":
            lines.append(f"  {name:<{w_name}} {r['layer']:<{w_label}}: FAILED: {r['error']}")
            continue
        lines.append(f"  {name:<{w_name}} {r['layer']:<{w_label}}: Duration={_num(r['total_time_s'], '.2f', 7)}s"
                     f" | Energy={_num(r['energy_total_j'], '.2f', 8)}J | Avg Power={_num(r['avg_power_w'], '.2f', 7)}W")
    ok = [r for r in layer_rows if r["status"] in ("ok", "not resolved", "below idle")]
    dur = sum(r["total_time_s"] for r in ok if _finite(r["total_time_s"]))
    en = sum(r["energy_total_j"] for r in ok if _finite(r["energy_total_j"]))
    lines.append(f"  {'Total':<{w_name + w_label + 1}}: Duration={_num(dur, '.2f', 7)}s | Energy={_num(en, '.2f', 8)}J"
                 f" | Avg Power={_num(en / dur if dur else math.nan, '.2f', 7)}W")

    lines.append("")
    of = f"the measured rounds (of {rounds} planned)" if partial else f"{rounds} rounds"
    extra = (m.get("method", {}).get("precision") or {}).get("extra_rounds") or {}
    if extra:
        of += f" (up to {rounds + max(extra.values())} for the {len(extra)} site(s) given extra rounds)"
    lines.append(f"Per inference, mean of {of} with 95% CI (DistilBERT tool format; net = above idle):")
    head = (f"  {'layer':<{w_label}}  {'gross mJ':>10}  {'net mJ':>10}  {'+-CI %':>7}  {'latency ms':>10}  "
            f"{'avg W':>7}  {'share %':>7}  {'samples':>7}")
    lines.append(head)
    lines.append("  " + "-" * (len(head) - 2))
    for r in report.rows:
        if r["kind"] == "model":
            lines.append("  " + "-" * (len(head) - 2))
        if r["status"] == "failed" and r["kind"] in ("layer", "model"):
            lines.append(f"  {r['layer']:<{w_label}}  FAILED: {r['error']}")
            continue
        lines.append(f"  {r['layer']:<{w_label}}  {figure_text(r, 'energy_per_inference_mj'):>10}  "
                     f"{net_text(r):>10}  {_num(r['ci95_pct'], '.1f', 7)}  "
                     f"{figure_text(r, 'latency_ms'):>10}  {_num(r['avg_power_w'], '.2f', 7)}  "
                     f"{_num(r['energy_pct'], '.1f', 7)}  {r['num_samples'] if r['kind'] != 'unattributed' else '':>7}")
    unresolved = [r["layer"] for r in report.rows if r["status"] in ("not resolved", "below idle")]
    if unresolved:
        lines.append(f"  ('< x': not resolved, the net energy's 95% CI includes zero, so it is below x mJ; 'below "
                     f"idle': the CI lies below zero; neither has a share: {len(unresolved)} row(s). A gross energy "
                     "or latency that came out below zero is shown as the upper end of its CI the same way)")
    c = report.closure
    lines.append("")
    lines.append(f"closure (sum of layers / whole model): net energy {_num(c['net_energy'], '.3f', 0)}, "
                 f"gross energy {_num(c['gross_energy'], '.3f', 0)}, latency {_num(c['latency'], '.3f', 0)}")
    lines += closure_lines(report.closure_ci)
    for w in m.get("warnings", []):
        lines.append(f"WARNING: {w}")
    inplace = [r["layer"] for r in layer_rows if r["inplace"]]
    if inplace:
        lines.append(f"in-place layers (input restored before each call, restore cost subtracted): "
                     f"{', '.join(inplace)}")
    if report.failed:
        lines.append(f"failed in isolation: {', '.join(report.failed)}")
    if m.get("not_called"):
        lines.append(f"selected but never called in the forward: {', '.join(m['not_called'])}")
    if m.get("sampler_error"):
        lines.append(f"the sampler stopped with an error: {m['sampler_error']}")
    if report.estimated:
        lines.append("(every figure above is an ESTIMATE, not a measurement)")
    return "\n".join(lines)


def precision_line(info: Any) -> str:
    """The extra rounds for a CI target (edgepower.profile.precision) in one line; empty when
    every site met the target after the planned rounds (or there was no target)."""
    if not info or (not info.get("extra_rounds") and not info.get("above_target_pct")):
        return ""
    extra = info["extra_rounds"]
    line = (f"precision: {len(extra)} site(s) measured in up to {max(extra.values(), default=0)} extra round(s) "
            f"({info.get('extra_s', 0.0):.3g} s) for a 95% CI within +-{info['ci_target_pct']:g} %; {info['stopped']}")
    left = info.get("above_target_pct") or {}
    if left:
        worst = sorted(left.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{k} (+-{v:.3g} %)" for k, v in worst[:5])
        line += f"; still above: {shown}{' ...' if len(left) > 5 else ''}"
    return line


def figure_text(r: Dict[str, Any], key: str) -> str:
    """Gross energy or latency as the table prints it: the number, or, where it came out below
    zero (a difference of two windows: an in-place layer less its restore copy, or the whole model
    less its layers), the upper end of its 95 % CI as ``< x``: a negative cost is never printed.
    Latency's bound is its own CI; gross energy = net + idle x latency, so its bound is the sum of
    those parts' upper ends."""
    v = r[key]
    if not (_finite(v) and v < 0):
        return _num(v, ".4f", 0)
    if key == "latency_ms":
        up = v + r["latency_ci95_ms"]
    else:
        lat_up = r["latency_ms"] + r["latency_ci95_ms"]
        idle = r.get("idle_power_w", math.nan)
        up = max(r["net_energy_upper_mj"], 0.0) + idle * max(lat_up, 0.0) \
            if _finite(r["net_energy_upper_mj"]) and _finite(idle) and _finite(lat_up) else math.nan
    return f"< {max(up, 0.0):.4f}" if _finite(up) else "n/r"


def net_text(r: Dict[str, Any]) -> str:
    """The net energy as a reader should see it: the number where it is resolved, ``< bound``
    where its CI includes zero, ``below idle`` where the CI lies below zero."""
    if r["status"] == "not resolved":
        return f"< {r['net_energy_upper_mj']:.4f}" if _finite(r["net_energy_upper_mj"]) else "n/r"
    if r["status"] == "below idle":
        return "below idle"
    return _num(r["net_energy_per_inference_mj"], ".4f", 0)


def closure_lines(ci: Dict[str, Dict[str, float]]) -> List[str]:
    """The closure over rounds with its CI, and a plain statement when the layers and the whole
    model disagree beyond it."""
    out = []
    for name, st in ci.items():
        mean, half, n = st.get("mean"), st.get("ci95"), st.get("n", 0)
        if not _finite(mean):
            continue
        what = name.replace("_", " ")
        if _finite(half):
            out.append(f"  per round, {what}: {mean:.3f} +- {half:.3f} (95% CI over {n} rounds)")
            if abs(mean - 1.0) > half:
                out.append(f"  the layers and the whole model disagree on {what} beyond the CI: the layers in "
                           f"isolation sum to {mean:.0%} of the whole model (functional ops outside modules, "
                           "caches and load differ between the two; see (unattributed))")
        else:
            out.append(f"  per round, {what}: {mean:.3f} (one round: no CI)")
    return out


__all__ = ["closure_lines", "net_text", "precision_line", "summary"]
