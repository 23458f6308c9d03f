"""Report of a layer-wise profile: table, CSVs, raw samples, charts, console summary, JSON.

A :class:`Report` holds one row per call site (``features.0``, ``layer1.relu#0``), a total per
module called more than once, ``(unattributed)`` (whole model minus the layers) and
``(model)``; the measured windows; the raw samples; and the provenance. It needs no torch;
pandas for the tables and matplotlib for the charts are imported when used.

Columns of :meth:`Report.to_pandas` (units in the names):

=============================  ==========================================================================
layer                          call site label: module name, ``name#k`` for the k-th call of a module
                               called several times, the module name for its total, ``(unattributed)``,
                               ``(model)``
module, call                   qualified module name and call index (empty for totals and the model)
kind                           ``layer``, ``module total``, ``unattributed`` or ``model``
type, params                   module class and parameter count
input_shapes                   shapes of the captured inputs, e.g. ``1x64x112x112``
rounds, repeats                rounds measured, calls summed over rounds
window_s, total_time_s         mean window per round, all windows summed
energy_total_j                 gross energy of all windows
latency_ms                     per call (mean over rounds), ``latency_ci95_ms`` its 95 % CI half-width
energy_per_inference_mj        gross energy per call (everything the sensor saw)
net_energy_per_inference_mj    gross minus idle power x latency (dynamic energy)
ci95_mj, ci95_pct              95 % CI half-width over rounds of the net energy (gross without a
                               baseline), absolute and as a share of the mean
avg_power_w, net_power_w       gross and net energy per inference / latency
idle_power_w                   the idle baseline subtracted
num_samples                    sensor samples inside the windows
energy_pct                     share of the whole model's net energy per inference (layers and
                               ``(unattributed)`` add up to 100); gross without a baseline
inplace                        the layer changes its input; restore copies were subtracted
status, error, note            ``ok``/``failed``/``no data``/``no energy``, the error, remarks
sensor, estimated              sensor kind, and whether it is a model estimate rather than a measurement
=============================  ==========================================================================
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional

import numpy as np

COLUMNS = ["layer", "module", "call", "kind", "type", "params", "input_shapes", "rounds", "repeats", "window_s",
           "total_time_s", "energy_total_j", "latency_ms", "latency_ci95_ms", "energy_per_inference_mj",
           "net_energy_per_inference_mj", "ci95_mj", "ci95_pct", "avg_power_w", "net_power_w", "idle_power_w",
           "num_samples", "energy_pct", "inplace", "status", "error", "note", "sensor", "estimated"]

DISTILBERT_COLUMNS = ["layer_name", "layer_idx", "avg_power_w", "total_time_s", "energy_total_j",
                      "energy_per_inference_mj", "num_loops", "latency_per_loop_ms", "num_power_samples",
                      "energy_pct"]

FORMAT = "edgepower-profile/1"

ESTIMATE_NOTE = ("NOTE: no power sensor measured these figures: every energy and power below is an ESTIMATE "
                 "from a model of the device, not a measurement (sensor {sensor}).")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _jsonable(obj: Any) -> Any:
    """NaN and infinities become None; NumPy scalars and arrays become Python values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def _num(x: Any, fmt: str, width: int) -> str:
    return f"{x:{width}{fmt}}" if _finite(x) else f"{'n/a':>{width}}"


class Report:
    """Result of :meth:`edgepower.LayerProfiler.profile`.

    Parameters
    ----------
    rows : list of dict
        One per row, keys :data:`COLUMNS`.
    windows : list of dict
        Every measured window: label, module, call, round, kind (``layer``, ``restore``,
        ``model``), t0_ns, t1_ns, calls, duration_s, energy_j, num_samples, reason.
    meta : dict
        Provenance: model, inputs, sensor and sampler statistics, idle baseline, method
        settings, environment.
    samples : dict, optional
        ``t_ns`` (int64) and ``power_w`` (total power, W) of every sample of the run.
    cycles : dict, optional
        In-situ reports: per forward (cycle) and call site, in execution order, the marked
        windows: ``labels``, ``modules``, ``types`` (per call site), ``t0_ns``/``t1_ns``
        ([cycles, call sites], -1 where the site did not run), ``round``, ``model_t0_ns``,
        ``model_t1_ns`` (per cycle). Kept in memory for :meth:`to_edgeprofiler`, not in JSON.
    attribution_t_ns : array, optional
        In-situ reports: the time each sample stands for (its refresh for a sample-and-hold
        sensor), by which samples were attributed.
    """

    def __init__(self, rows: List[Dict[str, Any]], windows: List[Dict[str, Any]], meta: Dict[str, Any],
                 samples: Optional[Dict[str, np.ndarray]] = None, cycles: Optional[Dict[str, Any]] = None,
                 attribution_t_ns: Optional[np.ndarray] = None):
        self.rows = rows
        self.windows = windows
        self.meta = meta
        self.cycles = cycles
        self.attribution_t_ns = None if attribution_t_ns is None else np.asarray(attribution_t_ns, dtype=np.int64)
        samples = samples or {}
        self.samples_t_ns = np.asarray(samples.get("t_ns", np.zeros(0, dtype=np.int64)), dtype=np.int64)
        self.samples_power_w = np.asarray(samples.get("power_w", np.zeros(0)), dtype=np.float64)

    # ---- quick facts ------------------------------------------------------------------------------
    @property
    def estimated(self) -> bool:
        """True when the figures come from a model estimate rather than a power sensor."""
        return bool(self.meta.get("estimated", False))

    @property
    def sensor(self) -> str:
        return str(self.meta.get("sensor", ""))

    def row(self, layer: str) -> Dict[str, Any]:
        """The row of one label (``features.0``, ``relu#1``, ``(model)``)."""
        for r in self.rows:
            if r["layer"] == layer:
                return r
        labels = ", ".join(r["layer"] for r in self.rows)
        raise KeyError(f"no row {layer!r} in this report; rows: {labels}")

    @property
    def layer_rows(self) -> List[Dict[str, Any]]:
        """Rows of the call sites (no totals, no (unattributed), no (model))."""
        return [r for r in self.rows if r["kind"] == "layer"]

    @property
    def failed(self) -> Dict[str, str]:
        """Label -> error of every call site (or the model) that failed in isolation."""
        return {r["layer"]: r["error"] for r in self.rows if r["status"] == "failed" and r["kind"] in ("layer", "model")}

    @property
    def closure(self) -> Dict[str, float]:
        """Sum of the layers / whole model, for net energy, gross energy and latency (1.0: the
        layers account for the whole model exactly)."""
        model = self.row("(model)")
        layers = [r for r in self.layer_rows if r["status"] == "ok"]
        out = {}
        for name, key in (("net_energy", "net_energy_per_inference_mj"), ("gross_energy", "energy_per_inference_mj"),
                          ("latency", "latency_ms")):
            total = sum(r[key] for r in layers if _finite(r[key]))
            out[name] = total / model[key] if _finite(model[key]) and model[key] != 0 else math.nan
        return out

    # ---- tables -----------------------------------------------------------------------------------
    def to_pandas(self):
        """The rows as a pandas DataFrame (columns: see the module docstring)."""
        import pandas as pd

        df = pd.DataFrame(self.rows, columns=COLUMNS)
        df["call"] = df["call"].astype("Int64")
        return df

    def to_csv(self, path: str) -> str:
        """Writes :meth:`to_pandas` to ``path``; returns the path."""
        self.to_pandas().to_csv(path, index=False)
        return path

    def distilbert_rows(self) -> List[Dict[str, Any]]:
        """The call sites in the DistilBERT tool's columns.

        As in that tool the figures are gross (what the sensor saw, no idle subtraction) and
        ``energy_pct`` is the share of the sum of the listed layers. ``energy_total_j`` and
        ``total_time_s`` are per-inference figures times ``num_loops``, so the tool's identities
        hold (``energy_total_j = energy_per_inference_mj x num_loops / 1000``).
        """
        rows = self.layer_rows
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

    def to_distilbert_csv(self, path: str) -> str:
        """Writes :meth:`distilbert_rows` as CSV (the DistilBERT tool's columns); returns the path."""
        import pandas as pd

        pd.DataFrame(self.distilbert_rows(), columns=DISTILBERT_COLUMNS).to_csv(path, index=False)
        return path

    def samples_to_pandas(self):
        """Raw samples inside every window, long format: layer, module, call, round, window
        (``layer``, ``restore``, ``model``), t_ns, t_s (from the window's start), power_w (total).
        In-situ reports: every sample attributed to a call site (window ``layer``) or to the
        glue between them inside a forward (layer ``(model)``, window ``model``); t_s from the
        start of its forward."""
        import pandas as pd

        if self.cycles is not None and self.attribution_t_ns is not None:
            return pd.DataFrame(self._insitu_samples())

        cols: Dict[str, list] = {k: [] for k in ("layer", "module", "call", "round", "window", "t_ns", "t_s", "power_w")}
        t = self.samples_t_ns
        for w in self.windows:
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
            cols["power_w"].append(self.samples_power_w[lo:hi] if self.samples_power_w.size else np.full(n, np.nan))
        for k in ("t_ns", "t_s", "power_w"):
            cols[k] = np.concatenate(cols[k]) if cols[k] else np.zeros(0)  # type: ignore[assignment]
        return pd.DataFrame(cols)

    def samples_to_csv(self, path: str) -> str:
        """Writes :meth:`samples_to_pandas` to ``path``; returns the path."""
        self.samples_to_pandas().to_csv(path, index=False)
        return path

    def _insitu_samples(self) -> Dict[str, Any]:
        from ._native import core as _core

        cy = self.cycles
        t0, t1 = np.asarray(cy["t0_ns"], dtype=np.int64), np.asarray(cy["t1_ns"], dtype=np.int64)
        c, n = t0.shape
        m0, m1 = np.asarray(cy["model_t0_ns"], dtype=np.int64), np.asarray(cy["model_t1_ns"], dtype=np.int64)
        valid = np.concatenate([(t0 >= 0).ravel(), np.ones(c, dtype=bool)])
        w0 = np.where(valid, np.concatenate([t0.ravel(), m0]), 0)
        w1 = np.where(valid, np.concatenate([t1.ravel(), m1]), 0)
        power = self.samples_power_w if self.samples_power_w.size else np.full(self.samples_t_ns.shape, np.nan)
        _, _, owner = _core.assign_samples(self.attribution_t_ns, power, w0, w1)
        sel = np.flatnonzero(owner >= 0)
        own = owner[sel]
        is_model = own >= c * n
        cycle = np.where(is_model, own - c * n, own // max(n, 1))
        site = np.where(is_model, -1, own % max(n, 1))
        labels = np.array(list(cy["labels"]) + ["(model)"], dtype=object)
        modules = np.array(list(cy["modules"]) + ["(model)"], dtype=object)
        calls = np.array([r["call"] for r in self.layer_rows] + [0], dtype=object) \
            if len(self.layer_rows) == n else np.zeros(n + 1, dtype=object)
        rounds = np.asarray(cy["round"])
        t = self.samples_t_ns[sel]
        return {"layer": labels[site], "module": modules[site], "call": calls[site], "round": rounds[cycle],
                "window": np.where(is_model, "model", "layer"), "t_ns": t, "t_s": (t - m0[cycle]) * 1e-9,
                "power_w": power[sel]}

    # ---- EdgeProfiler ----------------------------------------------------------------------------
    def edgeprofiler_windows(self) -> Dict[str, Any]:
        """The layer windows in EdgeProfiler's terms: ``{label: [(start_ns, end_ns), ...]}`` in
        execution order, one window a cycle, plus ``cycles``, ``kind`` and ``time_ordered``.

        In-situ reports: a cycle is one forward of the whole model and each call site's window
        is its marked run in that forward (forwards where a call site did not run are left out).
        Isolation reports: a cycle is one round and each call site's window is its isolation
        window in that round (many calls back to back). Rounds measure the call sites in a
        shuffled order, so the windows of a cycle are not in time order (``time_ordered``
        False): EdgeProfiler's compat mapping sweeps the log forwards once and leaves such
        windows empty; import those with ``mode="corrected"``.
        """
        if self.cycles is not None:
            cy = self.cycles
            t0, t1 = np.asarray(cy["t0_ns"], dtype=np.int64), np.asarray(cy["t1_ns"], dtype=np.int64)
            complete = (t0 >= 0).all(axis=1)
            wins = {lab: list(zip(t0[complete, i].tolist(), t1[complete, i].tolist()))
                    for i, lab in enumerate(cy["labels"])}
            flat0, flat1 = t0[complete].ravel(), t1[complete].ravel()
            ordered = bool(np.all(flat0[1:] >= flat1[:-1])) if flat0.size else True
            return {"windows": wins, "cycles": int(complete.sum()), "dropped_cycles": int((~complete).sum()),
                    "kind": "forward", "time_ordered": ordered}
        labels = [r["layer"] for r in self.layer_rows if r["status"] != "failed"]
        by = {(w["label"], w["round"]): w for w in self.windows if w.get("kind") == "layer"}
        rounds = sorted({w["round"] for w in self.windows if w.get("kind") == "layer"})
        rounds = [r for r in rounds if all((lab, r) in by for lab in labels)]
        wins = {lab: [(int(by[(lab, r)]["t0_ns"]), int(by[(lab, r)]["t1_ns"])) for r in rounds] for lab in labels}
        seq = [w for r in rounds for lab in labels for w in [by[(lab, r)]]]
        ordered = all(b["t0_ns"] >= a["t1_ns"] for a, b in zip(seq, seq[1:]))
        return {"windows": wins, "cycles": len(rounds), "dropped_cycles": 0, "kind": "round", "time_ordered": ordered}

    def to_edgeprofiler(self, out_dir: str, model: Optional[str] = None, *,
                        layer_types: Optional[Dict[str, str]] = None, idle_power_w: Optional[float] = None,
                        **options: Any) -> Dict[str, Any]:
        """Writes the measurements in EdgeProfiler's raw layout (see docs/edgeprofiler.md) with
        :func:`edgepower.edgeprofiler.write_raw_dir`: the power log (every sample of the run),
        ``idling_power.json`` (the idle baseline) and the layer windows of
        :meth:`edgeprofiler_windows` in the ``trt_layer_latency.json`` format.

        Parameters
        ----------
        out_dir : path
            The raw directory (``idling_power.json`` there, the rest in ``out_dir/model``).
        model : str, optional
            Model folder name; default the model's class name.
        layer_types : dict, optional
            Label -> type for ``trt_engine_info.json``; default the module class (``Conv2d``).
            Upstream's feature step keeps only ``Cask*`` types.
        idle_power_w : float, optional
            Idle power to write when the report has no baseline (``idle_s=0``).
        **options
            Passed to ``write_raw_dir`` (``epoch``, ``voltage_mv``, ``current_decimals``).

        Returns
        -------
        dict
            Paths written (``log``, ``latency``, ``engine``, ``idle``) and ``cycles``, ``kind``,
            ``time_ordered`` (False: import with ``mode="corrected"``).
        """
        from .edgeprofiler import EdgeProfilerWarning, write_raw_dir

        if self.samples_t_ns.size == 0 or self.samples_power_w.size == 0:
            raise ValueError("this report holds no samples (a report read back from JSON keeps none): export "
                             "the Report that LayerProfiler.profile() returned")
        idle = self.meta.get("idle_power_w") if idle_power_w is None else idle_power_w
        if not _finite(idle):
            raise ValueError("the report has no idle baseline (idle_s=0) and EdgeProfiler's layout needs one: pass "
                             "idle_power_w=... (watts)")
        plan = self.edgeprofiler_windows()
        if plan["cycles"] == 0:
            raise ValueError("no complete cycle to export: every call site needs a window in each cycle")
        if not plan["time_ordered"]:
            import warnings

            warnings.warn("the exported layer windows are not in time order within their cycles (isolation measures "
                          "layers in a shuffled order): EdgeProfiler's compat mapping will leave many empty; import "
                          "with mode='corrected'", EdgeProfilerWarning, stacklevel=2)
        types = {r["layer"]: r["type"] for r in self.layer_rows}
        types.update(layer_types or {})
        name = model or str(self.meta.get("model") or "model")
        t, p = self.samples_t_ns, self.samples_power_w
        if self.attribution_t_ns is not None and self.attribution_t_ns.shape == t.shape:
            # In situ: each reading at the time it stands for (its read's start, or the sensor
            # refresh that produced it), one line per sensor update, as the attribution used.
            t = self.attribution_t_ns
            first = np.ones(t.shape[0], dtype=bool)
            first[1:] = t[1:] != t[:-1]
            t, p = t[first], p[first]
        finite = np.isfinite(p)
        paths: Dict[str, Any] = dict(write_raw_dir(out_dir, name, t[finite], p[finite], float(idle), plan["windows"],
                                                   layer_types=types, **options))
        paths.update(cycles=plan["cycles"], kind=plan["kind"], time_ordered=plan["time_ordered"], model=name)
        return paths

    # ---- charts -----------------------------------------------------------------------------------
    def plot(self, out_dir: str = ".", prefix: str = "") -> List[str]:
        """Writes two PNG charts and returns their paths: ``energy_per_layer.png`` (net energy per
        inference with its 95 % CI, gross beside it) and ``energy_latency.png`` (energy beside
        latency per layer). Uses matplotlib's Agg canvas, never a display."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        os.makedirs(out_dir, exist_ok=True)
        rows = self.layer_rows + [r for r in self.rows if r["kind"] == "unattributed"]
        labels = [r["layer"] for r in rows]
        net = np.array([r["net_energy_per_inference_mj"] for r in rows], dtype=float)
        gross = np.array([r["energy_per_inference_mj"] for r in rows], dtype=float)
        ci = np.array([r["ci95_mj"] for r in rows], dtype=float)
        lat = np.array([r["latency_ms"] for r in rows], dtype=float)
        lat_ci = np.array([r["latency_ci95_ms"] for r in rows], dtype=float)
        has_net = bool(np.isfinite(net).any())
        tag = " (ESTIMATED)" if self.estimated else ""
        title = f"{self.meta.get('model', 'model')} {self.meta.get('inputs', '')}: sensor {self.sensor}{tag}"
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

    # ---- console ----------------------------------------------------------------------------------
    def summary(self) -> str:
        """Console summary: the VGG tool's per-layer lines (duration, energy, average power of
        all windows) and the DistilBERT tool's table (per inference: energy, latency, power,
        share), aligned, with the CI, the idle baseline and the closure ratio."""
        m = self.meta
        lines = []
        rounds = m.get("method", {}).get("rounds", "?")
        lines.append(f"edgepower profile: {m.get('model', '?')} ({m.get('model_params', 0):,} params), inputs "
                     f"{m.get('inputs', '?')}, devices {', '.join(m.get('devices', []))}")
        target = m.get("method", {}).get("target_window_s")
        rep = m.get("method", {}).get("repeats")
        how = f"{rep} calls per window" if isinstance(rep, int) else f"windows >= {target:.3f} s (adaptive)" \
            if _finite(target) else "adaptive windows"
        if m.get("method", {}).get("mode") == "in-situ":
            mm = m["method"]
            lines.append(f"sensor {self.sensor}; in situ: {rounds} rounds of {mm.get('forwards_per_round')} forwards "
                         f"of the whole model, random delays up to {mm.get('max_delay_s', 0) * 1e3:.2f} ms; readings "
                         f"attributed by {mm.get('attribution_attribution', 'sample time')}")
        elif m.get("method", {}).get("mode") == "recorded":  # edgepower.profile_trace
            lines.append(f"sensor {self.sensor}; recorded offline ({m.get('recorded', {}).get('trace', '?')}): "
                         f"{rounds} rounds of marked windows")
        else:
            lines.append(f"sensor {self.sensor}; {rounds} rounds in shuffled order; {how}")
        if self.estimated:
            lines.append(ESTIMATE_NOTE.format(sensor=self.sensor))
        idle = m.get("idle_power_w")
        lines.append(f"idle baseline: {idle:.3f} W ({m.get('idle_source', '')})" if _finite(idle)
                     else f"idle baseline: none ({m.get('idle_source', '')})")

        layer_rows = self.layer_rows
        names = [f"{r['type']}_{i}" for i, r in enumerate(layer_rows)]
        w_name = max([len(n) for n in names] + [4])
        w_label = max([len(r["layer"]) for r in self.rows] + [5])
        lines.append("")
        lines.append("Per layer, all windows (VGG tool format):")
        for name, r in zip(names, layer_rows):
            if r["status"] == "failed":
                lines.append(f"  {name:<{w_name}} {r['layer']:<{w_label}}: FAILED: {r['error']}")
                continue
            lines.append(f"  {name:<{w_name}} {r['layer']:<{w_label}}: Duration={_num(r['total_time_s'], '.2f', 7)}s"
                         f" | Energy={_num(r['energy_total_j'], '.2f', 8)}J | Avg Power={_num(r['avg_power_w'], '.2f', 7)}W")
        ok = [r for r in layer_rows if r["status"] == "ok"]
        dur = sum(r["total_time_s"] for r in ok if _finite(r["total_time_s"]))
        en = sum(r["energy_total_j"] for r in ok if _finite(r["energy_total_j"]))
        lines.append(f"  {'Total':<{w_name + w_label + 1}}: Duration={_num(dur, '.2f', 7)}s | Energy={_num(en, '.2f', 8)}J"
                     f" | Avg Power={_num(en / dur if dur else math.nan, '.2f', 7)}W")

        lines.append("")
        lines.append(f"Per inference, mean of {rounds} rounds with 95% CI (DistilBERT tool format; net = above idle):")
        head = (f"  {'layer':<{w_label}}  {'gross mJ':>10}  {'net mJ':>10}  {'+-CI %':>7}  {'latency ms':>10}  "
                f"{'avg W':>7}  {'share %':>7}  {'samples':>7}")
        lines.append(head)
        lines.append("  " + "-" * (len(head) - 2))
        for r in self.rows:
            if r["kind"] == "model":
                lines.append("  " + "-" * (len(head) - 2))
            if r["status"] == "failed" and r["kind"] in ("layer", "model"):
                lines.append(f"  {r['layer']:<{w_label}}  FAILED: {r['error']}")
                continue
            lines.append(f"  {r['layer']:<{w_label}}  {_num(r['energy_per_inference_mj'], '.4f', 10)}  "
                         f"{_num(r['net_energy_per_inference_mj'], '.4f', 10)}  {_num(r['ci95_pct'], '.1f', 7)}  "
                         f"{_num(r['latency_ms'], '.4f', 10)}  {_num(r['avg_power_w'], '.2f', 7)}  "
                         f"{_num(r['energy_pct'], '.1f', 7)}  {r['num_samples'] if r['kind'] != 'unattributed' else '':>7}")
        c = self.closure
        lines.append("")
        lines.append(f"closure (sum of layers / whole model): net energy {_num(c['net_energy'], '.3f', 0)}, "
                     f"gross energy {_num(c['gross_energy'], '.3f', 0)}, latency {_num(c['latency'], '.3f', 0)}")
        inplace = [r["layer"] for r in layer_rows if r["inplace"]]
        if inplace:
            lines.append(f"in-place layers (input restored before each call, restore cost subtracted): "
                         f"{', '.join(inplace)}")
        if self.failed:
            lines.append(f"failed in isolation: {', '.join(self.failed)}")
        if m.get("not_called"):
            lines.append(f"selected but never called in the forward: {', '.join(m['not_called'])}")
        if m.get("sampler_error"):
            lines.append(f"the sampler stopped with an error: {m['sampler_error']}")
        if self.estimated:
            lines.append("(every figure above is an ESTIMATE, not a measurement)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<Report {self.meta.get('model', '?')}: {len(self.layer_rows)} call sites, sensor {self.sensor}"
                f"{' (estimated)' if self.estimated else ''}>")

    def _repr_html_(self) -> str:  # pragma: no cover - notebooks
        note = f"<p><b>{ESTIMATE_NOTE.format(sensor=self.sensor)}</b></p>" if self.estimated else ""
        return note + self.to_pandas()._repr_html_()

    # ---- files ------------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Everything but the raw samples, JSON-ready (NaN as None)."""
        return _jsonable({"format": FORMAT, "closure": self.closure, "meta": self.meta, "rows": self.rows,
                          "windows": self.windows})

    def to_json(self, path: Optional[str] = None, indent: int = 1) -> str:
        """The report with full provenance as JSON; written to ``path`` when given. Returns the
        JSON text."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @classmethod
    def from_json(cls, path_or_text: str) -> "Report":
        """Reads a report written by :meth:`to_json` (without the raw samples)."""
        text = path_or_text
        if not path_or_text.lstrip().startswith("{"):
            with open(path_or_text, encoding="utf-8") as f:
                text = f.read()
        d = json.loads(text)
        if d.get("format") != FORMAT:
            raise ValueError(f"not an edgepower profile report (format {d.get('format')!r}, expected {FORMAT!r})")
        nan_keys = {k for k in COLUMNS if k not in ("layer", "module", "call", "kind", "type", "input_shapes",
                                                    "status", "error", "note", "sensor", "estimated", "inplace")}
        rows = [{k: (math.nan if (v is None and k in nan_keys) else v) for k, v in r.items()} for r in d["rows"]]
        return cls(rows=rows, windows=d["windows"], meta=d["meta"])

    def write(self, out_dir: str, prefix: str = "") -> Dict[str, str]:
        """Writes every output into ``out_dir``: ``layers.csv``, ``layers_distilbert.csv``,
        ``samples.csv``, ``report.json`` and the PNG charts. Returns name -> path."""
        os.makedirs(out_dir, exist_ok=True)
        j = lambda name: os.path.join(out_dir, prefix + name)  # noqa: E731
        paths = {
            "layers_csv": self.to_csv(j("layers.csv")),
            "distilbert_csv": self.to_distilbert_csv(j("layers_distilbert.csv")),
            "samples_csv": self.samples_to_csv(j("samples.csv")),
            "json": j("report.json"),
        }
        self.to_json(paths["json"])
        energy_png, latency_png = self.plot(out_dir, prefix)
        paths["energy_png"], paths["energy_latency_png"] = energy_png, latency_png
        return paths


__all__ = ["COLUMNS", "DISTILBERT_COLUMNS", "Report"]
