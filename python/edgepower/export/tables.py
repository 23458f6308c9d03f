"""Tables of a report: the row DataFrame and CSV, the DistilBERT tool's columns, raw samples per window."""
from __future__ import annotations

import math
from typing import Any, Dict, List

import numpy as np

from .common import finite as _finite

DISTILBERT_COLUMNS = ["layer_name", "layer_idx", "avg_power_w", "total_time_s", "energy_total_j",
                      "energy_per_inference_mj", "num_loops", "latency_per_loop_ms", "num_power_samples",
                      "energy_pct"]


def to_pandas(report: Any):
    """The rows as a pandas DataFrame (columns: see the module docstring)."""
    import pandas as pd

    df = pd.DataFrame(report.rows)
    df["call"] = df["call"].astype("Int64")
    return df


def to_csv(report, path: str) -> str:
    """Writes :meth:`to_pandas` to ``path``; returns the path."""
    to_pandas(report).to_csv(path, index=False)
    return path


def distilbert_rows(report) -> List[Dict[str, Any]]:
    """The call sites in the DistilBERT tool's columns.

    As in that tool the figures are gross (what the sensor saw, no idle subtraction) and
    ``energy_pct`` is the share of the sum of the listed layers. ``energy_total_j`` and
    ``total_time_s`` are per-inference figures times ``num_loops``, so the tool's identities
    hold (``energy_total_j = energy_per_inference_mj x num_loops / 1000``).
    """
    rows = report.layer_rows
    total = sum(r["energy_per_inference_mj"] for r in rows if _finite(r["energy_per_inference_mj"]))
    out = []
    for i, r in enumerate(rows):
        loops = r["repeats"]
        e_mj, lat_ms = r["energy_per_inference_mj"], r["latency_ms"]
        out.append({
            "layer_name": r["layer"],
            "layer_idx": i,
            "avg_power_w": r["avg_power_w"],
            "total_time_s": lat_ms * loops / 1e3 if _finite(lat_ms) else math.nan,
            "energy_total_j": e_mj * loops / 1e3 if _finite(e_mj) else math.nan,
            "energy_per_inference_mj": e_mj,
            "num_loops": loops,
            "latency_per_loop_ms": lat_ms,
            "num_power_samples": r["num_samples"],
            "energy_pct": e_mj / total * 100 if _finite(e_mj) and total else math.nan,
        })
    return out


def to_distilbert_csv(report, path: str) -> str:
    """Writes :meth:`distilbert_rows` as CSV (the DistilBERT tool's columns); returns the path."""
    import pandas as pd

    pd.DataFrame(distilbert_rows(report), columns=DISTILBERT_COLUMNS).to_csv(path, index=False)
    return path


def samples_to_pandas(report):
    """Raw samples inside every window, long format: layer, module, call, round, window
    (``layer``, ``restore``, ``model``), t_ns, t_s (from the window's start), power_w (total).
    In-situ reports: every sample attributed to a call site (window ``layer``) or to the
    glue between them inside a forward (layer ``(model)``, window ``model``); t_s from the
    start of its forward."""
    import pandas as pd

    if report.cycles is not None and report.attribution_t_ns is not None:
        return pd.DataFrame(_insitu_samples(report))

    cols: Dict[str, list] = {k: [] for k in ("layer", "module", "call", "round", "window", "t_ns", "t_s", "power_w")}
    t = report.samples_t_ns
    for w in report.windows:
        lo = int(np.searchsorted(t, w["t0_ns"], side="left"))
        hi = int(np.searchsorted(t, w["t1_ns"], side="right"))
        n = hi - lo
        if n <= 0:
            continue
        cols["layer"] += [w["label"]] * n
        cols["module"] += [w["module"]] * n
        cols["call"] += [w["call"]] * n
        cols["round"] += [w["round"]] * n
        cols["window"] += [w["kind"]] * n
        cols["t_ns"].append(t[lo:hi])
        cols["t_s"].append((t[lo:hi] - w["t0_ns"]) * 1e-9)
        cols["power_w"].append(report.samples_power_w[lo:hi] if report.samples_power_w.size else np.full(n, np.nan))
    for k in ("t_ns", "t_s", "power_w"):
        cols[k] = np.concatenate(cols[k]) if cols[k] else np.zeros(0)  # type: ignore[assignment]
    return pd.DataFrame(cols)


def samples_to_csv(report, path: str) -> str:
    """Writes :meth:`samples_to_pandas` to ``path``; returns the path."""
    samples_to_pandas(report).to_csv(path, index=False)
    return path


def _insitu_samples(report) -> Dict[str, Any]:
    from .._native import core as _core

    cy = report.cycles
    t0, t1 = np.asarray(cy["t0_ns"], dtype=np.int64), np.asarray(cy["t1_ns"], dtype=np.int64)
    c, n = t0.shape
    m0, m1 = np.asarray(cy["model_t0_ns"], dtype=np.int64), np.asarray(cy["model_t1_ns"], dtype=np.int64)
    valid = np.concatenate([(t0 >= 0).ravel(), np.ones(c, dtype=bool)])
    w0 = np.where(valid, np.concatenate([t0.ravel(), m0]), 0)
    w1 = np.where(valid, np.concatenate([t1.ravel(), m1]), 0)
    power = report.samples_power_w if report.samples_power_w.size else np.full(report.samples_t_ns.shape, np.nan)
    _, _, owner = _core.assign_samples(report.attribution_t_ns, power, w0, w1)
    sel = np.flatnonzero(owner >= 0)
    own = owner[sel]
    is_model = own >= c * n
    cycle = np.where(is_model, own - c * n, own // max(n, 1))
    site = np.where(is_model, -1, own % max(n, 1))
    labels = np.array(list(cy["labels"]) + ["(model)"], dtype=object)
    modules = np.array(list(cy["modules"]) + ["(model)"], dtype=object)
    calls = np.array([r["call"] for r in report.layer_rows] + [0], dtype=object) \
        if len(report.layer_rows) == n else np.zeros(n + 1, dtype=object)
    rounds = np.asarray(cy["round"])
    t = report.samples_t_ns[sel]
    return {"layer": labels[site], "module": modules[site], "call": calls[site], "round": rounds[cycle],
            "window": np.where(is_model, "model", "layer"), "t_ns": t, "t_s": (t - m0[cycle]) * 1e-9,
            "power_w": power[sel]}


__all__ = ["DISTILBERT_COLUMNS", "distilbert_rows", "samples_to_csv", "samples_to_pandas", "to_csv", "to_distilbert_csv",
           "to_pandas"]
