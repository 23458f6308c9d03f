"""Comparing two reports layer by layer: latency, energy per inference and power, with deltas and
whether each difference is beyond the two 95 % confidence intervals.

``a.compare(b)`` (:meth:`edgepower.report.Report.compare`) reads as "b relative to a": every delta
is ``b - a``. Rows are matched by label (``features.0``, ``transformer_block_3``,
``(model)``), so two profiles of one model at different precisions, on different devices or
before and after a change line up. A row only one report has is kept, with the other side empty.

The test for a difference: ``|b - a| > sqrt(ci_a**2 + ci_b**2)``, the 95 % half-width of the
difference of two independent means (each ``ci`` is a report's 95 % CI half-width over rounds).
Energy is net (above idle) when both reports have an idle baseline, else gross
(``energy_basis``). Power is gross average power (energy / latency); its CI is that of the
per-round powers of the row's windows (the rounds' latencies vary with load far more than their
powers do), or, for rows without windows of their own, propagated from the energy and latency
CIs (:func:`figures`).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .common import finite, jsonable, num, short_dtype

#: The compared figures: name -> (unit, per-report columns).
METRICS = ("latency", "energy", "power")
_UNITS = {"latency": "ms", "energy": "mJ", "power": "W"}


def device_of(meta: Dict[str, Any]) -> str:
    """The hardware a report ran on, e.g. ``cpu (x86_64)`` or ``cuda:0 (NVIDIA H200)``."""
    env = meta.get("environment") or {}
    devices = list(meta.get("devices") or [])
    cuda_names = list(env.get("cuda_devices") or [])
    parts = []
    for d in devices or ["cpu"]:
        if str(d).startswith("cuda") and cuda_names:
            parts.append(f"{d} ({cuda_names.pop(0)})")
        elif str(d) == "cpu" and env.get("machine"):
            parts.append(f"cpu ({env['machine']})")
        else:
            parts.append(str(d))
    return ", ".join(parts)


def identity(meta: Dict[str, Any]) -> Dict[str, Any]:
    """What must match for two reports' figures to be comparable as a regression check: sensor
    kind, device (:func:`device_of`) and dtype, plus whether the figures are estimates."""
    return {"sensor": str(meta.get("sensor", "")), "device": device_of(meta), "dtype": str(meta.get("dtype", "")),
            "estimated": bool(meta.get("estimated", False))}


def _ratio_ci(e: float, e_ci: float, lat: float, lat_ci: float) -> float:
    if not (finite(e) and finite(lat) and e and lat):
        return math.nan
    rel = math.hypot(e_ci / e if finite(e_ci) else math.nan, lat_ci / lat if finite(lat_ci) else math.nan)
    return abs(e / lat) * rel


def _power_ci(report, label: str) -> float:
    """95 % CI half-width of a row's average power over rounds, from its windows (each round's
    gross energy per inference / latency); NaN for a row without windows of its own."""
    from ..energy.repeats import mean_ci, per_round

    windows = [w for w in getattr(report, "window_records", []) if w.label == label]
    if not windows:
        return math.nan
    rounds = max(w.round for w in windows) + 1
    pr = per_round(windows, label, rounds, report.meta.get("idle_power_w"))
    with np.errstate(divide="ignore", invalid="ignore"):
        power = pr.gross_j / pr.latency_s
    _, ci, n = mean_ci(power[np.isfinite(power)])
    return ci if n >= 2 else math.nan


def figures(report, net: bool, rows: Optional[Sequence[Dict[str, Any]]] = None) -> Dict[str, Dict[str, Any]]:
    """Label -> the compared figures of a report's rows (default all of them): ``latency``,
    ``energy`` (net or gross per inference) and ``power`` (gross average) with their 95 % CI
    half-widths (``*_ci95``).

    The power CI comes from the per-round powers of the row's own windows; rows without windows
    (module totals, ``(unattributed)``) get it propagated from the energy and latency CIs as for
    a ratio of independent figures (which overstates it: energy and latency are positively
    correlated)."""
    out = {}
    for r in (report.rows if rows is None else rows):
        e = r.get("net_energy_per_inference_mj") if net else r.get("energy_per_inference_mj")
        lat, lat_ci = r.get("latency_ms"), r.get("latency_ci95_ms")
        ci = r.get("ci95_mj")
        power = r.get("avg_power_w")
        power_ci = math.nan
        if finite(power):
            power_ci = _power_ci(report, r["layer"]) if r.get("kind") in ("layer", "model") else math.nan
            if not finite(power_ci):
                power_ci = _ratio_ci(r.get("energy_per_inference_mj"), ci, lat, lat_ci)
        out[r["layer"]] = {
            "module": r.get("module", ""), "type": r.get("type", ""), "kind": r.get("kind", "layer"),
            "latency": lat, "latency_ci95": lat_ci, "energy": e, "energy_ci95": ci,
            "power": power, "power_ci95": power_ci,
        }
    return out


def _has_net(rows: Sequence[Dict[str, Any]]) -> bool:
    return any(finite(r.get("net_energy_per_inference_mj")) for r in rows)


def _order(a: List[str], b: List[str]) -> List[str]:
    out = list(a)
    for i, lab in enumerate(b):
        if lab in out:
            continue
        prev = next((b[j] for j in range(i - 1, -1, -1) if b[j] in out), None)
        out.insert(out.index(prev) + 1 if prev is not None else 0, lab)
    return out


def _metric(fa: Optional[Dict[str, Any]], fb: Optional[Dict[str, Any]], name: str) -> Dict[str, Any]:
    unit = _UNITS[name]
    a = fa[name] if fa else None
    b = fb[name] if fb else None
    ca = fa[f"{name}_ci95"] if fa else None
    cb = fb[f"{name}_ci95"] if fb else None
    nan = math.nan
    d = b - a if finite(a) and finite(b) else nan
    both_ci = finite(ca) and finite(cb)
    comb = math.hypot(ca, cb) if both_ci else nan
    return {
        f"{name}_{unit.lower()}_a": a if finite(a) else nan, f"{name}_{unit.lower()}_b": b if finite(b) else nan,
        f"{name}_ci95_{unit.lower()}_a": ca if finite(ca) else nan,
        f"{name}_ci95_{unit.lower()}_b": cb if finite(cb) else nan,
        f"{name}_delta_{unit.lower()}": d,
        f"{name}_delta_pct": d / abs(a) * 100 if finite(d) and a else nan,
        f"{name}_beyond_ci": (abs(d) > comb) if finite(d) and both_ci else None,
    }


class Comparison:
    """Two reports side by side, one row per label (columns: :attr:`COLUMNS`); deltas are
    ``b - a``.

    Attributes
    ----------
    labels : (str, str)
        Names of the two sides (default: their dtypes when they differ, else ``A`` and ``B``).
    rows : list of dict
        One per label, in the order of report ``a`` (labels only ``b`` has after their
        predecessor in ``b``).
    sides : (dict, dict)
        :func:`identity` of each side plus its model and inputs.
    notes : list of str
        What differs between the sides besides the figures (sensor, device, estimates).
    """

    def __init__(self, rows: List[Dict[str, Any]], labels: Tuple[str, str], sides: Tuple[Dict[str, Any], ...],
                 notes: List[str], energy_basis: str):
        self.rows, self.labels, self.sides, self.notes = rows, labels, sides, notes
        self.energy_basis = energy_basis

    @property
    def beyond_ci(self) -> List[str]:
        """Labels with a latency, energy or power difference beyond the CIs."""
        return [r["layer"] for r in self.rows if any(r[f"{m}_beyond_ci"] for m in METRICS)]

    def row(self, layer: str) -> Dict[str, Any]:
        """The comparison row of one label."""
        for r in self.rows:
            if r["layer"] == layer:
                return r
        raise KeyError(f"no row {layer!r} in this comparison; rows: {', '.join(r['layer'] for r in self.rows)}")

    def to_pandas(self):
        """The rows as a pandas DataFrame (``*_beyond_ci``: True, False, or None where a CI is
        unknown)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=COLUMNS)

    def to_csv(self, path: str) -> str:
        """Writes :meth:`to_pandas` to ``path``; returns the path."""
        self.to_pandas().to_csv(path, index=False)
        return path

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return jsonable({"format": "edgepower-comparison/1", "labels": list(self.labels), "sides": list(self.sides),
                         "notes": self.notes, "energy_basis": self.energy_basis, "rows": self.rows})

    def plot(self):
        """A matplotlib Figure: energy and latency per layer for both sides with their 95 % CIs,
        and the energy delta in % (dark where beyond the CIs)."""
        from .plots import comparison_figure

        return comparison_figure(self)

    def summary(self) -> str:
        """A text table: energy and latency of both sides with CIs, deltas in %, ``*`` where
        beyond the CIs."""
        la, lb = self.labels
        lines = [f"{la}: {_side(self.sides[0])}", f"{lb}: {_side(self.sides[1])}"]
        lines += [f"note: {n}" for n in self.notes]
        w = max([len(r["layer"]) for r in self.rows] + [5])
        head = (f"  {'layer':<{w}}  {self.energy_basis + ' mJ ' + la:>16}  {self.energy_basis + ' mJ ' + lb:>16}  "
                f"{'dE %':>7}  {'ms ' + la:>9}  {'ms ' + lb:>9}  {'dt %':>7}  {'dP %':>7}")
        lines += ["", f"{lb} relative to {la}; * = beyond the combined 95% CIs:", head, "  " + "-" * (len(head) - 2)]
        for r in self.rows:
            def pm(x, c):
                return f"{num(x, '.4f', 8)}+-{num(c, '.4f', 6) if finite(c) else '   n/a'}"

            def pct(m):
                mark = "*" if r[f"{m}_beyond_ci"] else " "
                d = r[f"{m}_delta_pct"]
                return (f"{d:+.1f}" if finite(d) else "n/a") + mark
            lines.append(f"  {r['layer']:<{w}}  {pm(r['energy_mj_a'], r['energy_ci95_mj_a']):>16}  "
                         f"{pm(r['energy_mj_b'], r['energy_ci95_mj_b']):>16}  {pct('energy'):>7}  "
                         f"{num(r['latency_ms_a'], '.4f', 9)}  {num(r['latency_ms_b'], '.4f', 9)}  "
                         f"{pct('latency'):>7}  {pct('power'):>7}")
        beyond = self.beyond_ci
        lines.append("")
        lines.append(f"beyond the CIs: {', '.join(beyond)}" if beyond else "no difference beyond the CIs")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .html import comparison_html

        return comparison_html(self)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<Comparison {self.labels[1]} vs {self.labels[0]}: {len(self.rows)} rows, {len(self.beyond_ci)} beyond CI>"


COLUMNS = (["layer", "module", "type", "kind", "present"] +
           [c for m, u in _UNITS.items() for c in (f"{m}_{u.lower()}_a", f"{m}_{u.lower()}_b", f"{m}_ci95_{u.lower()}_a",
                                                  f"{m}_ci95_{u.lower()}_b", f"{m}_delta_{u.lower()}", f"{m}_delta_pct",
                                                  f"{m}_beyond_ci")])


def _side(s: Dict[str, Any]) -> str:
    est = ", ESTIMATED" if s.get("estimated") else ""
    return (f"{s.get('model', '?')} {s.get('inputs', '')} [{', '.join(s.get('input_dtypes') or [])}]: "
            f"dtype {s.get('dtype') or '?'}, sensor {s.get('sensor') or '?'}{est}, device {s.get('device')}, "
            f"torch {s.get('torch', '?')}, {s.get('threads', '?')} threads")


def _default_labels(ia: Dict[str, Any], ib: Dict[str, Any]) -> Tuple[str, str]:
    if ia["dtype"] and ib["dtype"] and ia["dtype"] != ib["dtype"]:
        return short_dtype(ia["dtype"]), short_dtype(ib["dtype"])
    return "A", "B"


def compare(a, b, labels: Optional[Sequence[str]] = None, rows: str = "all") -> Comparison:
    """Compares report ``b`` with report ``a`` (deltas ``b - a``).

    Parameters
    ----------
    a, b : Report
        Two profiles (also read back from JSON: :meth:`Report.from_json`).
    labels : (str, str), optional
        Names of the two sides for the tables and the chart.
    rows : {"all", "layers"}
        ``all``: every row (call sites, module totals, ``(unattributed)``, ``(model)``);
        ``layers``: call sites only.

    Returns
    -------
    Comparison
    """
    if rows not in ("all", "layers"):
        raise ValueError(f"rows must be 'all' or 'layers', got {rows!r}")
    ra = a.rows if rows == "all" else a.layer_rows
    rb = b.rows if rows == "all" else b.layer_rows
    net = _has_net(ra) and _has_net(rb)
    fa, fb = figures(a, net, ra), figures(b, net, rb)
    ia, ib = identity(a.meta), identity(b.meta)
    if labels is None:
        labels = _default_labels(ia, ib)
    labels = tuple(str(x) for x in labels)
    if len(labels) != 2 or labels[0] == labels[1]:
        raise ValueError(f"labels must be two different names, got {labels!r}")
    out = []
    for lab in _order(list(fa), list(fb)):
        x, y = fa.get(lab), fb.get(lab)
        base = x or y
        row: Dict[str, Any] = {"layer": lab, "module": base["module"], "type": base["type"], "kind": base["kind"],
                               "present": "both" if x and y else ("a only" if x else "b only")}
        for m in METRICS:
            row.update(_metric(x, y, m))
        out.append(row)
    sides = []
    for rep, ident in ((a, ia), (b, ib)):
        env = rep.meta.get("environment") or {}
        sides.append(dict(ident, model=rep.meta.get("model", ""), inputs=rep.meta.get("inputs", ""),
                          input_dtypes=list(rep.meta.get("input_dtypes") or []), torch=env.get("torch", ""),
                          threads=env.get("torch_threads", "")))
    notes = []
    for key, what in (("sensor", "sensors"), ("device", "devices")):
        if ia[key] != ib[key]:
            notes.append(f"different {what}: {ia[key]} vs {ib[key]}")
    if ia["estimated"] or ib["estimated"]:
        notes.append("at least one side is an ESTIMATE from a model, not a measurement")
    if not net:
        notes.append("gross energy compared (a report without an idle baseline has no net figures)")
    return Comparison(out, (labels[0], labels[1]), tuple(sides), notes, "net" if net else "gross")


__all__ = ["COLUMNS", "Comparison", "METRICS", "compare", "device_of", "figures", "identity"]
