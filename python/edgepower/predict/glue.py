"""What a network does outside its layers (the *glue*): the whole model's latency minus its
layers', predicted from network-level quantities.

Every call dispatched from Python costs about the same whether it is a module's ``__call__`` or a
functional op outside every module (a residual add, ``torch.cat``, a channel shuffle's view), so
both count as *calls*; the functional ops also pay per byte they move and per MAC of their
matmuls. And the layers themselves, timed one by one (each keeps its fastest call), add up to a
little less than they take inside the unhooked forward (the model keeps its fastest whole
forward: the minimum of a sum is at least the sum of the minima): the glue pays a fraction of the
layers' time. The model is non-negative and linear in these, fitted on error relative to each
network's whole-model latency, as the network's error is scored.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from .models import nnls

#: Network-level quantities that explain the whole model minus its layers (``layers_s``: the
#: sum of the network's layer latencies, measured in training, predicted when predicting).
GLUE_FEATURES = ("calls", "functional_bytes", "functional_macs", "layers_s")
#: The features of predictors saved before ``calls`` and ``layers_s`` (still loadable).
_KNOWN = set(GLUE_FEATURES) | {"module_calls", "functional_ops"}


def _value(row: Dict[str, Any], name: str, layers_s: float) -> float:
    if name == "calls":
        return float(row["module_calls"]) + float(row["functional_ops"])
    if name == "layers_s":
        return float(layers_s)
    return float(row[name])


class GlueModel:
    """The whole model minus its layers: non-negative and linear in :data:`GLUE_FEATURES`."""

    def __init__(self, features: Sequence[str] = GLUE_FEATURES):
        unknown = [f for f in features if f not in _KNOWN]
        if unknown:
            raise ValueError(f"unknown glue feature(s) {unknown}; known: {sorted(_KNOWN)}")
        self.features = tuple(features)
        self.coef = np.zeros(len(self.features))

    def _x(self, row: Dict[str, Any], layers_s: float) -> np.ndarray:
        return np.array([_value(row, f, layers_s) for f in self.features])

    def fit(self, rows: Sequence[Dict[str, Any]], totals: Optional[Sequence[float]] = None,
            layers_s: Optional[Sequence[float]] = None) -> "GlueModel":
        """Fits the ``unattributed`` rows' latency; ``totals`` (each network's whole-model
        latency) makes the error relative to the network, as the network's error is;
        ``layers_s`` is each network's sum of measured layer latencies (0 when not given)."""
        if not rows:
            return self
        lay = np.zeros(len(rows)) if layers_s is None else np.asarray(layers_s, float)
        if len(lay) != len(rows) or (totals is not None and len(totals) != len(rows)):
            raise ValueError(f"glue fit: {len(rows)} rows but {len(lay)} layer sums and "
                             f"{len(rows) if totals is None else len(totals)} totals")
        w = 1.0 / np.asarray(totals, float) if totals is not None else np.ones(len(rows))
        A = np.array([self._x(r, s) for r, s in zip(rows, lay)]) * w[:, None]
        b = np.array([float(r["latency_s"]) for r in rows]) * w
        scale = np.where(A.max(axis=0) > 0, A.max(axis=0), 1.0)
        self.coef = nnls(A / scale, b) / scale
        return self

    def predict(self, row: Dict[str, Any], layers_s: float = 0.0) -> float:
        """The glue of a network row, whose layers take ``layers_s`` seconds (their prediction)."""
        return float(np.dot(self.coef, self._x(row, layers_s)))

    def to_dict(self) -> Dict[str, Any]:
        return {"features": list(self.features), "coef": self.coef.tolist()}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "GlueModel":
        m = cls(d.get("features", ("module_calls", "functional_ops", "functional_bytes", "functional_macs")))
        m.coef = np.asarray(d["coef"], float)
        if len(m.coef) != len(m.features):
            raise ValueError(f"glue model: {len(m.coef)} coefficients for {len(m.features)} features")
        return m


__all__ = ["GLUE_FEATURES", "GlueModel"]
