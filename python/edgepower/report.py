"""Report of a layer-wise profile: pure data, typed records and their dict views.

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

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .export import console as _console
from .export import edgeprofiler as _edgeprofiler
from .export import files as _files
from .export import json_io as _json
from .export import plots as _plots
from .export import tables as _tables
from .export.common import ESTIMATE_NOTE, finite, jsonable
from .export.tables import DISTILBERT_COLUMNS

FORMAT = "edgepower-profile/1"

#: Row statuses whose figures were measured (``not resolved`` and ``below idle`` rows keep their
#: raw figures but are not printed as signed numbers).
MEASURED = ("ok", "not resolved", "below idle")


@dataclass
class LayerRow:
    """One row of a report (the columns of :meth:`Report.to_pandas`; units in the names).

    ``status`` is ``ok`` (measured and, with 2+ rounds, its net energy's 95 % CI excludes zero),
    ``not resolved`` (the CI includes zero: the layer's energy is below what this run can
    resolve; ``net_energy_upper_mj`` is the bound to print, ``< bound``), ``below idle`` (the
    whole CI below zero: the idle baseline does not hold for this window), ``failed``,
    ``no data`` or ``no energy``. ``net_energy_per_inference_mj`` always keeps the raw mean.
    ``energy_pct`` is the share of the rows that are ``ok`` (they add up to 100).
    """

    layer: str
    module: str
    call: Optional[int]
    kind: str
    type: str
    params: int
    input_shapes: str
    rounds: int
    repeats: int
    window_s: float
    total_time_s: float
    energy_total_j: float
    latency_ms: float
    latency_ci95_ms: float
    energy_per_inference_mj: float
    net_energy_per_inference_mj: float
    ci95_mj: float
    ci95_pct: float
    net_energy_upper_mj: float
    avg_power_w: float
    net_power_w: float
    idle_power_w: float
    num_samples: int
    energy_pct: float
    inplace: bool
    status: str
    error: str
    note: str
    sensor: str
    estimated: bool

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


#: Column order of the table: the fields of :class:`LayerRow`.
COLUMNS = [f.name for f in fields(LayerRow)]


@dataclass
class Window:
    """One measured window: a call site's repeated calls (isolation) or its share of a round's
    forwards (in situ).

    ``kind``: ``layer``, ``restore`` (restore copies of an in-place layer) or ``model``. In-situ
    windows also have ``forwards``, ``num_updates`` (distinct sensor updates attributed) and
    ``mean_power_w``; isolation windows ``edge_gap_ms`` (largest sample gap at an edge) and
    ``retries``.
    """

    label: str
    module: str
    call: int
    round: int
    kind: str
    t0_ns: int
    t1_ns: int
    calls: int
    duration_s: float = math.nan
    energy_j: float = math.nan
    num_samples: int = 0
    reason: str = ""
    edge_gap_ms: float = math.nan
    retries: int = 0
    forwards: Optional[int] = None
    num_updates: Optional[int] = None
    mean_power_w: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


_NUMERIC = {f.name for f in fields(LayerRow) if f.type in ("float", "int")}


def _as_row(r: Union[LayerRow, Dict[str, Any]]) -> LayerRow:
    if isinstance(r, LayerRow):
        return r
    names = {f.name for f in fields(LayerRow)}
    return LayerRow(**{k: (math.nan if v is None and k in _NUMERIC else v) for k, v in r.items() if k in names})


def _as_window(w: Union[Window, Dict[str, Any]]) -> Window:
    if isinstance(w, Window):
        return w
    names = {f.name for f in fields(Window)}
    d = {k: v for k, v in w.items() if k in names}
    for k in ("duration_s", "energy_j", "edge_gap_ms"):
        if d.get(k, 0) is None:
            d[k] = math.nan
    return Window(**d)


class Report:
    """Result of :meth:`edgepower.LayerProfiler.profile`.

    Parameters
    ----------
    rows : list of LayerRow (or dicts with their keys)
        One per row.
    windows : list of Window (or dicts with their keys)
        Every measured window.
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

    def __init__(self, rows: Sequence[Union[LayerRow, Dict[str, Any]]], windows: Sequence[Union[Window, Dict[str, Any]]],
                 meta: Dict[str, Any], samples: Optional[Dict[str, np.ndarray]] = None,
                 cycles: Optional[Dict[str, Any]] = None, attribution_t_ns: Optional[np.ndarray] = None):
        self.records: List[LayerRow] = [_as_row(r) for r in rows]
        self.window_records: List[Window] = [_as_window(w) for w in windows]
        self.meta = meta
        self.cycles = cycles
        self.attribution_t_ns = None if attribution_t_ns is None else np.asarray(attribution_t_ns, dtype=np.int64)
        samples = samples or {}
        self.samples_t_ns = np.asarray(samples.get("t_ns", np.zeros(0, dtype=np.int64)), dtype=np.int64)
        self.samples_power_w = np.asarray(samples.get("power_w", np.zeros(0)), dtype=np.float64)

    # ---- views and quick facts --------------------------------------------------------------------
    @property
    def rows(self) -> List[Dict[str, Any]]:
        """The rows as dicts (a view: edit :attr:`records` to change the report)."""
        return [r.to_dict() for r in self.records]

    @property
    def windows(self) -> List[Dict[str, Any]]:
        """The windows as dicts (a view of :attr:`window_records`)."""
        return [w.to_dict() for w in self.window_records]

    @property
    def estimated(self) -> bool:
        """True when the figures come from a model estimate rather than a power sensor."""
        return bool(self.meta.get("estimated", False))

    @property
    def sensor(self) -> str:
        return str(self.meta.get("sensor", ""))

    def record(self, layer: str) -> LayerRow:
        """The :class:`LayerRow` of one label (``features.0``, ``relu#1``, ``(model)``)."""
        for r in self.records:
            if r.layer == layer:
                return r
        labels = ", ".join(r.layer for r in self.records)
        raise KeyError(f"no row {layer!r} in this report; rows: {labels}")

    def row(self, layer: str) -> Dict[str, Any]:
        """The row of one label as a dict."""
        return self.record(layer).to_dict()

    @property
    def layer_rows(self) -> List[Dict[str, Any]]:
        """Rows of the call sites (no totals, no (unattributed), no (model)), as dicts."""
        return [r.to_dict() for r in self.records if r.kind == "layer"]

    @property
    def failed(self) -> Dict[str, str]:
        """Label -> error of every call site (or the model) that failed in isolation."""
        return {r.layer: r.error for r in self.records if r.status == "failed" and r.kind in ("layer", "model")}

    @property
    def closure(self) -> Dict[str, float]:
        """Sum of the layers / whole model, for net energy, gross energy and latency (1.0: the
        layers account for the whole model exactly). The ratio of the means; its spread over
        rounds is :attr:`closure_ci`."""
        model = self.record("(model)")
        layers = [r for r in self.records if r.kind == "layer" and r.status in MEASURED]
        out = {}
        for name, key in (("net_energy", "net_energy_per_inference_mj"), ("gross_energy", "energy_per_inference_mj"),
                          ("latency", "latency_ms")):
            total = sum(getattr(r, key) for r in layers if finite(getattr(r, key)))
            m = getattr(model, key)
            out[name] = total / m if finite(m) and m != 0 else math.nan
        return out

    @property
    def closure_ci(self) -> Dict[str, Dict[str, float]]:
        """Per round, sum of the layers / whole model: ``{"net_energy": {"mean", "ci95", "n"},
        "latency": {...}}`` (empty for a report without it, e.g. one read from an older JSON)."""
        return dict(self.meta.get("closure", {}))

    # ---- outputs (edgepower.export) -----------------------------------------------------------------
    def to_pandas(self):
        """The rows as a pandas DataFrame (columns: see the module docstring)."""
        return _tables.to_pandas(self)

    def to_csv(self, path: str) -> str:
        """Writes :meth:`to_pandas` to ``path``; returns the path."""
        return _tables.to_csv(self, path)

    def distilbert_rows(self) -> List[Dict[str, Any]]:
        """The call sites in the DistilBERT tool's columns (:func:`edgepower.export.tables.distilbert_rows`)."""
        return _tables.distilbert_rows(self)

    def to_distilbert_csv(self, path: str) -> str:
        """Writes :meth:`distilbert_rows` as CSV; returns the path."""
        return _tables.to_distilbert_csv(self, path)

    def samples_to_pandas(self):
        """Raw samples inside every window, long format (:func:`edgepower.export.tables.samples_to_pandas`)."""
        return _tables.samples_to_pandas(self)

    def samples_to_csv(self, path: str) -> str:
        """Writes :meth:`samples_to_pandas` to ``path``; returns the path."""
        return _tables.samples_to_csv(self, path)

    def edgeprofiler_windows(self) -> Dict[str, Any]:
        """The layer windows in EdgeProfiler's terms (:func:`edgepower.export.edgeprofiler.edgeprofiler_windows`)."""
        return _edgeprofiler.edgeprofiler_windows(self)

    def to_edgeprofiler(self, out_dir: str, model: Optional[str] = None, **options: Any) -> Dict[str, Any]:
        """Writes the measurements in EdgeProfiler's raw layout (:func:`edgepower.export.edgeprofiler.to_edgeprofiler`)."""
        return _edgeprofiler.to_edgeprofiler(self, out_dir, model, **options)

    def plot(self, out_dir: str = ".", prefix: str = "") -> List[str]:
        """Writes the PNG charts and returns their paths (:func:`edgepower.export.plots.plot`)."""
        return _plots.plot(self, out_dir, prefix)

    def summary(self) -> str:
        """Console summary (:func:`edgepower.export.console.summary`)."""
        return _console.summary(self)

    def write(self, out_dir: str, prefix: str = "") -> Dict[str, str]:
        """Writes every output into ``out_dir`` (:func:`edgepower.export.files.write`)."""
        return _files.write(self, out_dir, prefix)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        n = sum(1 for r in self.records if r.kind == "layer")
        return (f"<Report {self.meta.get('model', '?')}: {n} call sites, sensor {self.sensor}"
                f"{' (estimated)' if self.estimated else ''}>")

    def _repr_html_(self) -> str:  # pragma: no cover - notebooks
        note = f"<p><b>{ESTIMATE_NOTE.format(sensor=self.sensor)}</b></p>" if self.estimated else ""
        return note + self.to_pandas()._repr_html_()

    # ---- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        """Everything but the raw samples, JSON-ready (NaN as None)."""
        return jsonable({"format": FORMAT, "closure": self.closure, "meta": self.meta, "rows": self.rows,
                         "windows": self.windows})

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Report":
        """The report of :meth:`to_dict` (without the raw samples)."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"not an edgepower profile report (format {got!r}, expected {FORMAT!r})")
        return cls(rows=d["rows"], windows=d["windows"], meta=d["meta"])

    def to_json(self, path: Optional[str] = None, indent: int = 1) -> str:
        """The report with full provenance as JSON; written to ``path`` when given. Returns the
        JSON text."""
        return _json.dump(self.to_dict(), path, indent)

    @classmethod
    def from_json(cls, path_or_text: str) -> "Report":
        """Reads a report written by :meth:`to_json` (without the raw samples)."""
        return cls.from_dict(_json.load(path_or_text))


__all__ = ["COLUMNS", "DISTILBERT_COLUMNS", "FORMAT", "MEASURED", "LayerRow", "Report", "Window"]
