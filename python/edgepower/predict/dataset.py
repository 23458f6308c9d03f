"""Training data for predictors: one row per layer call (and per network), from edgepower Reports
or EdgeProfiler data, written to and read from CSV exactly (floats round-trip).

Row kinds: ``layer`` (a leaf call: its features and measured latency, power, energy),
``unattributed`` (a network's whole-model latency minus its layers, with the functional-op
summary that explains it) and ``model`` (the whole network). Every row carries ``network``
and ``family`` so validation can leave one network or one family out.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence

from ..report import MEASURED, Report
from .device import mismatches
from .features import LayerFeatures, NetworkFeatures

#: Columns of the dataset CSV, in order.
COLUMNS = [
    "network", "family", "kind", "label", "op", "backend_key", "dtype", "batch", "in_shape", "out_shape",
    "in_channels", "out_channels", "kernel", "stride", "padding", "dilation", "groups", "params", "macs", "flops",
    "bytes_in", "bytes_params", "bytes_out", "elem_bytes", "module_calls", "functional_ops", "functional_bytes",
    "functional_macs", "latency_s", "latency_ci95_s", "power_w", "net_power_w", "energy_j",
]
_INT = {"batch", "in_channels", "out_channels", "groups", "params", "elem_bytes", "module_calls", "functional_ops"}
_FLOAT = {"macs", "flops", "bytes_in", "bytes_params", "bytes_out", "functional_bytes", "functional_macs",
          "latency_s", "latency_ci95_s", "power_w", "net_power_w", "energy_j"}
_LISTS = {"in_shape", "out_shape", "kernel", "stride", "padding", "dilation"}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    if isinstance(v, (list, tuple)):
        return "x".join(str(int(x)) for x in v)
    return str(v)


def _parse(col: str, text: str) -> Any:
    if col in _FLOAT:
        return float(text) if text != "" else math.nan
    if col in _INT:
        return int(text) if text != "" else 0
    if col in _LISTS:
        return [int(x) for x in text.split("x")] if text else []
    return text


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def layer_row(f: LayerFeatures, network: str, family: str, latency_s: float = math.nan, power_w: float = math.nan,
              net_power_w: float = math.nan, latency_ci95_s: float = math.nan) -> Dict[str, Any]:
    """A ``layer`` row from features and measured figures (energy = power x latency)."""
    row = {c: f.to_dict().get(c, "") for c in COLUMNS}
    row.update(network=network, family=family, kind="layer", module_calls=0, functional_ops=0,
               functional_bytes=0.0, functional_macs=0.0, latency_s=float(latency_s),
               latency_ci95_s=float(latency_ci95_s), power_w=float(power_w),
               net_power_w=float(net_power_w),
               energy_j=float(power_w) * float(latency_s) if _finite(power_w) and _finite(latency_s) else math.nan)
    for c in ("macs", "flops", "bytes_in", "bytes_params", "bytes_out"):
        row[c] = float(row[c])
    return row


def network_row(nf: NetworkFeatures, network: str, family: str, kind: str, latency_s: float,
                latency_ci95_s: float = math.nan) -> Dict[str, Any]:
    """An ``unattributed`` or ``model`` row of one network."""
    row: Dict[str, Any] = {c: "" for c in COLUMNS}
    row.update(network=network, family=family, kind=kind, label=f"({kind})", op="", backend_key="",
               dtype=nf.device.get("dtype", ""), batch=nf.layers[0].batch if nf.layers else 1,
               in_shape=[], out_shape=[], kernel=[], stride=[], padding=[], dilation=[], in_channels=0,
               out_channels=0, groups=1, params=0, elem_bytes=0, module_calls=nf.module_calls,
               functional_ops=nf.functional_ops, functional_bytes=float(nf.functional_bytes),
               functional_macs=float(nf.functional_macs), latency_s=float(latency_s),
               latency_ci95_s=float(latency_ci95_s), power_w=math.nan,
               net_power_w=math.nan, energy_j=math.nan)
    for c in ("macs", "flops", "bytes_in", "bytes_params", "bytes_out"):
        row[c] = 0.0
    return row


@dataclass
class Dataset:
    """Rows (dicts with :data:`COLUMNS`) and the device key they were measured on."""

    rows: List[Dict[str, Any]]
    device: Dict[str, Any] = field(default_factory=dict)

    def layers(self, networks: Optional[Iterable[str]] = None) -> List[Dict[str, Any]]:
        keep = None if networks is None else set(networks)
        return [r for r in self.rows if r["kind"] == "layer" and (keep is None or r["network"] in keep)]

    def network_rows(self, kind: str, networks: Optional[Iterable[str]] = None) -> List[Dict[str, Any]]:
        keep = None if networks is None else set(networks)
        return [r for r in self.rows if r["kind"] == kind and (keep is None or r["network"] in keep)]

    @property
    def networks(self) -> List[str]:
        return list(dict.fromkeys(r["network"] for r in self.rows))

    @property
    def families(self) -> Dict[str, str]:
        return {r["network"]: r["family"] for r in self.rows}

    def __add__(self, other: "Dataset") -> "Dataset":
        if self.device and other.device:
            diff = mismatches(self.device, other.device)
            if diff:
                raise ValueError("cannot merge data measured on different devices: " + "; ".join(diff))
        clash = set(self.networks) & set(other.networks)
        if clash:
            raise ValueError(f"network(s) {sorted(clash)} appear in both datasets; name them apart")
        return Dataset(self.rows + other.rows, self.device or other.device)

    def to_csv(self, path: str) -> str:
        """Writes the rows; the device key goes into a ``# device:`` comment line."""
        import json

        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write("# device: " + json.dumps(self.device, sort_keys=True) + "\n")
            w = csv.writer(f, lineterminator="\n")
            w.writerow(COLUMNS)
            for r in self.rows:
                w.writerow([_fmt(r.get(c, "")) for c in COLUMNS])
        return path

    @classmethod
    def from_csv(cls, path: str) -> "Dataset":
        """Reads :meth:`to_csv`'s file back exactly."""
        import json

        with open(path, newline="", encoding="utf-8") as f:
            first = f.readline()
            device = json.loads(first[len("# device: "):]) if first.startswith("# device: ") else {}
            if not first.startswith("# device: "):
                f.seek(0)
            reader = csv.reader(f)
            header = next(reader, None)
            if header != COLUMNS:
                raise ValueError(f"{path} is not an edgepower predictor dataset: expected the columns {COLUMNS}, "
                                 f"got {header}")
            rows = [{c: _parse(c, v) for c, v in zip(COLUMNS, rec)} for rec in reader if rec]
        return cls(rows, device)


def annotate(report: Report, model: Any, *inputs: Any, **kwargs: Any) -> Report:
    """Adds the layer features of ``model(*inputs)`` to a profile report (``meta["predict_features"]``)
    so it can train a predictor; returns the report.

    The report's call sites must be the model's leaf modules (``layers=None``, the default of
    :class:`edgepower.LayerProfiler` for models other than VGG and DistilBERT presets).
    """
    from .features import extract

    nf = extract(model, *inputs, **kwargs)
    labels = {r.layer for r in report.records if r.kind == "layer"}
    missing = sorted(labels - {x.label for x in nf.layers})
    if missing:
        raise ValueError(f"{len(missing)} call site(s) of the report are not leaf layers of the model, e.g. "
                         f"{missing[0]!r}; profile with layers=None (every leaf module) to train a predictor")
    report.meta["predict_features"] = nf.to_dict()
    report.meta.setdefault("device", nf.device)
    return report


def from_reports(reports: Sequence[Report], families: Optional[Dict[str, str]] = None,
                 names: Optional[Sequence[str]] = None) -> Dataset:
    """The dataset of edgepower reports that carry layer features.

    Parameters
    ----------
    reports : sequence of Report
        From :func:`edgepower.predict.measure.measure_latency`, or profile reports passed through
        :func:`annotate`. All must come from one device (the key is checked).
    families : dict, optional
        network -> family (default: each network its own family).
    names : sequence of str, optional
        Network names (default: ``meta["model"]``, numbered when repeated).
    """
    rows: List[Dict[str, Any]] = []
    device: Dict[str, Any] = {}
    seen: Dict[str, int] = {}
    for i, rep in enumerate(reports):
        feats = rep.meta.get("predict_features")
        if not feats:
            raise ValueError(f"report {i} ({rep.meta.get('model', '?')}) has no layer features; add them with "
                             "edgepower.predict.annotate(report, model, *inputs) or measure with "
                             "edgepower.predict.measure_latency")
        nf = NetworkFeatures.from_dict(feats)
        key = rep.meta.get("device") or nf.device
        if device:
            diff = mismatches(device, key)
            if diff:
                raise ValueError(f"report {i} ({rep.meta.get('model', '?')}) was measured on another device than "
                                 "report 0: " + "; ".join(diff) + ". Train one predictor per device.")
        device = device or key
        name = names[i] if names else str(rep.meta.get("model", f"network{i}"))
        if name in seen:
            seen[name] += 1
            name = f"{name}#{seen[name]}"
        else:
            seen[name] = 0
        fam = (families or {}).get(name, name)
        idle = rep.meta.get("idle_power_w")
        for rec in rep.records:
            if rec.kind != "layer" or rec.status not in MEASURED:
                continue
            f = nf.layer(rec.layer)
            lat = rec.latency_ms * 1e-3
            rows.append(layer_row(f, name, fam, lat, rec.avg_power_w,
                                  rec.net_power_w if idle is not None else math.nan, rec.latency_ci95_ms * 1e-3))
        for kind, label in (("unattributed", "(unattributed)"), ("model", "(model)")):
            try:
                rec = rep.record(label)
            except KeyError:
                continue
            rows.append(network_row(nf, name, fam, kind, rec.latency_ms * 1e-3, rec.latency_ci95_ms * 1e-3))
    return Dataset(rows, device)


__all__ = ["COLUMNS", "Dataset", "annotate", "from_reports", "layer_row", "network_row"]
