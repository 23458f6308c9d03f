"""The predictor: per-op-group models of latency and power, fitted on a dataset, saved as JSON with
the device key, and used to predict a model's layers without the device.

Latency: one :class:`~edgepower.predict.models.AdditiveModel` per op group with enough rows, a
generic one for the rest, and a :class:`~edgepower.predict.glue.GlueModel` for what the
network does outside its layers; in two passes: a context-free fit gives each layer's
duration, then the memory-bound groups are fitted again with a term in the duration of the
layer before (:mod:`.context`). Power (gross and net of idle, where the data has them): the
same models on ``log W``; energy is power x latency.
"""
from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .context import with_context
from .dataset import Dataset
from .device import mismatches
from .glue import GlueModel
from .models import GENERIC, MIN_ROWS, AdditiveModel, GroupModel, group_of

log = logging.getLogger("edgepower.predict")

FORMAT = "edgepower-predictor/1"
#: Targets: dataset column -> what it is.
TARGETS = {"latency_s": "latency per call (s)", "power_w": "average power while the layer runs (W)",
           "net_power_w": "power above idle while the layer runs (W)"}


class DeviceMismatch(ValueError):
    """The predictor was trained on another device than the one asked about."""


class Predictor:
    """Per-op-group models of one device.

    Use :meth:`fit` on a :class:`~edgepower.predict.dataset.Dataset`, :meth:`save` /
    :meth:`load` for JSON, :meth:`predict_rows` for dataset-style rows (features), and
    :func:`edgepower.predict.predict` for a PyTorch model.
    """

    def __init__(self, device: Optional[Dict[str, Any]] = None):
        self.device: Dict[str, Any] = dict(device or {})
        self.models: Dict[str, Dict[str, GroupModel]] = {}
        #: Context-free latency models (first pass): the duration of the layer before.
        self.first: Dict[str, AdditiveModel] = {}
        self.glue = GlueModel()
        self.idle_power_w = math.nan
        self.training: Dict[str, Any] = {}

    # ---- fitting ------------------------------------------------------------------------------
    def fit(self, data: Dataset, targets: Sequence[str] = tuple(TARGETS)) -> "Predictor":
        """Fits every target the dataset has (at least ``MIN_ROWS`` finite, positive rows)."""
        rows = data.layers()
        if not rows:
            raise ValueError("the dataset has no layer rows to train on")
        self.device = dict(data.device or self.device)
        for target in targets:
            good = [r for r in rows if _ok(r.get(target))]
            if len(good) < MIN_ROWS:
                continue
            if target == "latency_s":
                self.first = _fit_groups(good, target, context=False)
                good = [r for r in with_context(rows, _predict(self.first, rows)) if _ok(r.get(target))]
            self.models[target] = _fit_groups(good, target)
        if "latency_s" not in self.models:
            raise ValueError(f"the dataset has fewer than {MIN_ROWS} layers with a latency: nothing to train on")
        self.glue = fit_glue(data)
        idle = [r["power_w"] - r["net_power_w"] for r in rows if _finite(r["power_w"]) and _finite(r["net_power_w"])]
        self.idle_power_w = float(np.median(idle)) if idle else math.nan
        self.training = {"networks": data.networks, "families": data.families, "layers": len(rows),
                         "groups": {t: {g: m.n for g, m in ms.items()} for t, ms in self.models.items()},
                         "fitted_unix_s": time.time()}
        return self

    # ---- prediction ---------------------------------------------------------------------------
    def predict_rows(self, rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        """Predictions for layer rows: ``{target: array}`` and ``warnings`` (a list per row)."""
        out: Dict[str, Any] = {"warnings": [[] for _ in rows]}
        if self.first:
            rows = with_context(rows, _predict(self.first, rows))
        for target, models in self.models.items():
            pred = np.full(len(rows), math.nan)
            for g in sorted({group_of(r["op"]) for r in rows}):
                idx = [i for i, r in enumerate(rows) if group_of(r["op"]) == g]
                m = models.get(g) or models[GENERIC]
                sub = [rows[i] for i in idx]
                pred[idx] = m.predict(sub) if isinstance(m, AdditiveModel) else np.exp(m.predict(sub))
                if target == "latency_s":
                    for i, r in zip(idx, sub):
                        if g not in models:
                            out["warnings"][i].append(f"op type {r['op']} ({g}) unseen in training: generic model")
                        out["warnings"][i] += m.warnings(r)
            out[target] = pred
        return out

    def glue_s(self, network_row: Dict[str, Any], layers_s: float = 0.0) -> float:
        """Predicted whole model minus layers for a network row (module calls, functional ops)
        whose layers take ``layers_s`` seconds (their predicted sum)."""
        return self.glue.predict(network_row, layers_s)

    def check_device(self, here: Dict[str, Any], strict: bool = True) -> List[str]:
        """Differences between the training device and ``here``; raises :class:`DeviceMismatch`
        when there are any and ``strict``."""
        diff = mismatches(self.device, here)
        if diff and strict:
            raise DeviceMismatch(
                "this predictor was trained on another device: " + "; ".join(diff) + ". Latency and power "
                "do not carry over between devices: train a predictor here (edgepower predictor fit), or pass "
                "strict_device=False to predict anyway (every figure is then flagged).")
        return diff

    # ---- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> Dict[str, Any]:
        return {"format": FORMAT, "device": self.device, "targets": TARGETS,
                "models": {t: {g: m.to_dict() for g, m in ms.items()} for t, ms in self.models.items()},
                "first": {g: m.to_dict() for g, m in self.first.items()},
                "glue": self.glue.to_dict(), "training": self.training,
                "idle_power_w": self.idle_power_w if math.isfinite(self.idle_power_w) else None}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Predictor":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"not an edgepower predictor (format {got!r}, expected {FORMAT!r}); make one with "
                             "`edgepower predictor fit`")
        p = cls(d["device"])
        p.models = {t: {g: (AdditiveModel if m.get("kind") == "additive" else GroupModel).from_dict(m)
                        for g, m in ms.items()} for t, ms in d["models"].items()}
        p.first = {g: AdditiveModel.from_dict(m) for g, m in d.get("first", {}).items()}
        p.glue = GlueModel.from_dict(d["glue"])
        p.training = d.get("training", {})
        idle = d.get("idle_power_w")
        p.idle_power_w = float(idle) if idle is not None else math.nan
        return p

    def save(self, path: str) -> str:
        """Writes the predictor as JSON; returns the path."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1, allow_nan=False)
        return path

    @classmethod
    def load(cls, path: str) -> "Predictor":
        """Reads :meth:`save`'s JSON."""
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"no predictor at {path}; make one with `edgepower predictor fit REPORTS... "
                                    f"-o {path}`") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON ({exc.msg} at line {exc.lineno}); is it a predictor?") from None
        return cls.from_dict(d)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _ok(x: Any) -> bool:
    return _finite(x) and x > 0


def fit_glue(data: Dataset, networks: Optional[Sequence[str]] = None) -> GlueModel:
    """The glue model of a dataset's networks (relative to each network's whole-model latency)."""
    un, tot, lay = [], [], []
    for n in networks if networks is not None else data.networks:
        u, m = data.network_rows("unattributed", [n]), data.network_rows("model", [n])
        if u and m and _finite(u[0]["latency_s"]) and _ok(m[0]["latency_s"]):
            un.append(u[0])
            tot.append(m[0]["latency_s"])
            lay.append(float(sum(r["latency_s"] for r in data.layers([n]) if _finite(r["latency_s"]))))
    return GlueModel().fit(un, tot, lay)


def _predict(models: Dict[str, AdditiveModel], rows: Sequence[Dict[str, Any]]) -> np.ndarray:
    """Latency (s) of each row by its group's model (the generic one for a group without)."""
    pred = np.zeros(len(rows))
    for g in sorted({group_of(r["op"]) for r in rows}):
        idx = [i for i, r in enumerate(rows) if group_of(r["op"]) == g]
        pred[idx] = (models.get(g) or models[GENERIC]).predict([rows[i] for i in idx])
    return pred


def _fit_groups(rows: Sequence[Dict[str, Any]], target: str, context: bool = True) -> Dict[str, Any]:
    """One model per group with at least ``MIN_ROWS`` rows; the generic one on every row.
    Latency: :class:`AdditiveModel` (seconds add up; with the context terms where the rows have
    :data:`.context.KEY`); power: :class:`GroupModel` on log W."""
    cls = AdditiveModel if target == "latency_s" else GroupModel
    y = np.array([float(r[target]) for r in rows])
    y = y if cls is AdditiveModel else np.log(y)
    by: Dict[str, List[int]] = {}
    for i, r in enumerate(rows):
        by.setdefault(group_of(r["op"]), []).append(i)
    models = {}
    make = (lambda g: AdditiveModel(g, context)) if cls is AdditiveModel else GroupModel
    for g, idx in by.items():
        if g != GENERIC and len(idx) >= MIN_ROWS:
            models[g] = make(g).fit([rows[i] for i in idx], y[idx])
    models[GENERIC] = make(GENERIC).fit(list(rows), y)
    return models


__all__ = ["DeviceMismatch", "FORMAT", "Predictor", "TARGETS", "fit_glue"]
