"""Validation on networks the models never saw: leave one network (or one family) out, fit on the
rest (any model choice inside uses only those), predict the held-out layers and network.

Metrics (latency): per network the relative error of the whole-model prediction (sum of the
predicted layers + the predicted glue) against the measured model; its mean and worst; Kendall's
tau between predicted and measured network latencies; the median relative error over all
held-out layers; RMSPE and R^2 (on log latency) per op group. The baselines of
:mod:`.baselines` are scored the same way.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from .baselines import BASELINES, safe
from .dataset import Dataset
from .models import group_of
from .predictor import Predictor, fit_glue

METHODS = ("edgepower",) + tuple(BASELINES)
LABELS = {"edgepower": "edgepower", "mean": "training mean", "macs": "MACs only", "edgeprofiler": "EdgeProfiler recipe"}


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b between two sequences."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n = len(a)
    conc = disc = ta = tb = 0
    for i in range(n):
        for j in range(i + 1, n):
            da, db = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
            if da == 0 and db == 0:
                continue
            if da == 0:
                ta += 1
            elif db == 0:
                tb += 1
            elif da == db:
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + ta) * (conc + disc + tb))
    return (conc - disc) / denom if denom else math.nan


def _layer_predictor(method: str, train_rows: List[Dict[str, Any]], data: Dataset, train_nets: List[str]
                     ) -> Callable[[List[Dict[str, Any]]], np.ndarray]:
    if method == "edgepower":
        sub = Dataset([r for r in data.rows if r["network"] in set(train_nets)], data.device)
        p = Predictor().fit(sub, targets=("latency_s",))
        return lambda rows: p.predict_rows(rows)["latency_s"]
    model = BASELINES[method]().fit(train_rows)
    return lambda rows: safe(model.predict(rows))


def cross_validate(data: Dataset, by: str = "network", methods: Sequence[str] = METHODS) -> Dict[str, Any]:
    """Held-out predictions of every method, one fold per network (``by="network"``) or family.

    Returns
    -------
    dict
        ``networks`` (names), ``measured`` (model latency s), ``layers`` (held-out layer rows),
        and per method ``{"network": array, "layer": array}``.
    """
    if by not in ("network", "family"):
        raise ValueError(f"by must be 'network' or 'family', got {by!r}")
    nets = [n for n in data.networks if data.network_rows("model", [n]) and data.layers([n])]
    fam = data.families
    folds = sorted({n if by == "network" else fam[n] for n in nets})
    measured = {n: data.network_rows("model", [n])[0]["latency_s"] for n in nets}
    layers = [r for n in nets for r in data.layers([n])]
    out: Dict[str, Any] = {"networks": nets, "measured": np.array([measured[n] for n in nets]), "layers": layers,
                           "by": by, "folds": len(folds)}
    for method in methods:
        net_pred: Dict[str, float] = {}
        lay_pred: Dict[int, float] = {}
        for fold in folds:
            test = [n for n in nets if (n if by == "network" else fam[n]) == fold]
            train = [n for n in data.networks if n not in test and (n if by == "network" else fam[n]) != fold]
            train_rows = data.layers(train)
            predict = _layer_predictor(method, train_rows, data, train)
            glue = fit_glue(data, train)
            for n in test:
                rows = data.layers([n])
                p = predict(rows)
                for r, v in zip(rows, p):
                    lay_pred[id(r)] = float(v)
                net_pred[n] = float(np.sum(p)) + glue.predict(data.network_rows("unattributed", [n])[0],
                                                              float(np.sum(p)))
        out[method] = {"network": np.array([net_pred[n] for n in nets]),
                       "layer": np.array([lay_pred[id(r)] for r in layers])}
    return out


def metrics(cv: Dict[str, Any], method: str) -> Dict[str, Any]:
    """The latency metrics of one method from :func:`cross_validate`'s result."""
    meas, pred = cv["measured"], cv[method]["network"]
    net_err = np.abs(pred - meas) / meas
    lm = np.array([r["latency_s"] for r in cv["layers"]])
    lp = cv[method]["layer"]
    lay_err = np.abs(lp - lm) / lm
    groups: Dict[str, Dict[str, float]] = {}
    for g in sorted({group_of(r["op"]) for r in cv["layers"]}):
        idx = np.array([group_of(r["op"]) == g for r in cv["layers"]])
        y, p = np.log(lm[idx]), np.log(np.maximum(lp[idx], 1e-12))
        ss = float(np.sum((y - y.mean()) ** 2))
        groups[g] = {"n": int(idx.sum()), "median_err": float(np.median(lay_err[idx])),
                     "rmspe": float(np.sqrt(np.mean(((lp[idx] - lm[idx]) / lm[idx]) ** 2))),
                     "r2_log": 1 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else math.nan}
    return {
        "method": LABELS.get(method, method), "by": cv["by"], "networks": len(meas),
        "network_mean_err": float(net_err.mean()), "network_worst_err": float(net_err.max()),
        "worst_network": cv["networks"][int(np.argmax(net_err))], "kendall_tau": kendall_tau(pred, meas),
        "layer_median_err": float(np.median(lay_err)), "layer_rmspe": float(np.sqrt(np.mean(lay_err ** 2))),
        "per_network_err": {n: float(e) for n, e in zip(cv["networks"], net_err)}, "groups": groups,
    }


def evaluate(data: Dataset, methods: Sequence[str] = METHODS) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """Leave-one-network-out and leave-one-family-out metrics of every method:
    ``{"network": {method: metrics}, "family": {...}}``."""
    out = {}
    for by in ("network", "family"):
        cv = cross_validate(data, by, methods)
        out[by] = {m: metrics(cv, m) for m in methods}
    return out


def table(results: Dict[str, Dict[str, Dict[str, Any]]]) -> str:
    """The metrics as a Markdown table (percentages)."""
    lines = ["| held out | method | network err mean | network err worst | Kendall tau | layer median err | "
             "layer RMSPE |", "|---|---|---|---|---|---|---|"]
    for by, per in results.items():
        for m in per.values():
            lines.append(f"| one {by} | {m['method']} | {m['network_mean_err'] * 100:.1f} % | "
                         f"{m['network_worst_err'] * 100:.1f} % ({m['worst_network']}) | {m['kendall_tau']:.3f} | "
                         f"{m['layer_median_err'] * 100:.1f} % | {m['layer_rmspe'] * 100:.0f} % |")
    return "\n".join(lines)


__all__ = ["METHODS", "cross_validate", "evaluate", "kendall_tau", "metrics", "table"]
