"""The baselines every latency figure is reported beside: the training mean per op type, a
MACs-only line, and EdgeProfiler's recipe (NeuralPower's degree-3 polynomial + LassoCV per
layer type, fuzzylabs/edge-vision-power-estimation ``model_training``).

All three predict per layer; the network figure of each is the sum of its layers plus the same
:class:`~edgepower.predict.glue.GlueModel` the predictor uses (generous to the baselines: the
comparison is about the layer models).
"""
from __future__ import annotations

import math
import warnings
from typing import Any, Dict, List, Sequence

import numpy as np

from .models import group_of, nnls

Rows = Sequence[Dict[str, Any]]


class MeanBaseline:
    """Latency of a layer = the mean latency of its op type in training (all layers' mean for
    an unseen type)."""

    name = "training mean"

    def fit(self, rows: Rows, target: str = "latency_s") -> "MeanBaseline":
        by: Dict[str, List[float]] = {}
        for r in rows:
            by.setdefault(r["op"], []).append(float(r[target]))
        self.means = {k: float(np.mean(v)) for k, v in by.items()}
        self.overall = float(np.mean([float(r[target]) for r in rows]))
        return self

    def predict(self, rows: Rows) -> np.ndarray:
        return np.array([self.means.get(r["op"], self.overall) for r in rows])


class MacsBaseline:
    """Latency = a + b x MACs, one line for every layer, non-negative, fitted on relative error
    (a FLOPs-count proxy with a per-call overhead)."""

    name = "MACs only"

    def fit(self, rows: Rows, target: str = "latency_s") -> "MacsBaseline":
        t = np.array([float(r[target]) for r in rows])
        A = np.column_stack([np.ones(len(rows)), [float(r["macs"]) for r in rows]]) / t[:, None]
        scale = A.max(axis=0)
        self.coef = nnls(A / scale, np.ones(len(rows))) / scale
        return self

    def predict(self, rows: Rows) -> np.ndarray:
        return self.coef[0] + self.coef[1] * np.array([float(r["macs"]) for r in rows])


# EdgeProfiler's per-type features (model_training/config/*_features.py), from our rows.
def _conv_features(r: Dict[str, Any]) -> List[float]:
    i, o, k, p, s = r["in_shape"], r["out_shape"], r["kernel"], r["padding"], r["stride"]
    return [r["batch"], i[1], i[2], i[3], o[1], o[2], o[3], k[0], k[1], 2 * p[0], 2 * p[1], s[0], s[1]]


def _pool_features(r: Dict[str, Any]) -> List[float]:
    i, o, k = r["in_shape"], r["out_shape"], r["kernel"]
    s = r["stride"] or k
    return [r["batch"], i[1], i[2], i[3], o[1], o[2], o[3], k[0], k[1], s[0], s[1]]


def _dense_features(r: Dict[str, Any]) -> List[float]:
    return [r["batch"], float(np.prod(r["in_shape"])), float(np.prod(r["out_shape"]))]


# Special (product) terms, as column indices into the features above.
_CONV_SPECIAL = [[1, 2, 3, 7, 8, 6], [1, 2, 3, 7, 8, 6, 0]]
_POOL_SPECIAL = [[0, 1, 2, 3], [0, 4, 5, 6], [0, 1, 2, 3, 7, 8]]
_EP_TYPES = {
    "convolutional": (_conv_features, _CONV_SPECIAL, {"latency_s": False, "power": True}),
    "pooling": (_pool_features, _POOL_SPECIAL, {"latency_s": False, "power": False}),
    "dense": (_dense_features, [], {"latency_s": False, "power": False}),
}


def edgeprofiler_type(r: Dict[str, Any]) -> str:
    """EdgeProfiler's layer type of a row: ``convolutional`` (2-D convolutions), ``pooling``,
    ``dense`` (linear), or ``""`` (not predicted by their recipe)."""
    g = group_of(r["op"])
    if g == "conv" and len(r["in_shape"]) == 4 and len(r["kernel"]) == 2 and not r["op"].startswith("ConvT"):
        return "convolutional"
    if g in ("pool", "adaptive_pool") and len(r["in_shape"]) == 4 and len(r["kernel"]) == 2:
        return "pooling"
    if g == "linear":
        return "dense"
    return ""


#: Coordinate-descent iterations of the baseline's LassoCV. Theirs is sklearn's default (1000);
#: on unscaled degree-3 features it never converges, and 1000 iterations x 100 alphas x 10
#: folds take minutes per fit on a 2-core machine, so validation caps it (docs/predict.md).
LASSO_MAX_ITER = 50


def _pipeline(special: List[List[int]], is_log: bool, n_rows: int, max_iter: int = LASSO_MAX_ITER):
    try:
        from sklearn.linear_model import LassoCV
        from sklearn.pipeline import FeatureUnion, Pipeline
        from sklearn.preprocessing import FunctionTransformer, PolynomialFeatures
    except ImportError:  # pragma: no cover - pinned in requirements/dev.txt
        raise ImportError("the EdgeProfiler baseline needs scikit-learn: pip install scikit-learn") from None
    poly = PolynomialFeatures(degree=3)
    regular = Pipeline([("log1p", FunctionTransformer(np.log1p)), ("poly", poly)]) if is_log else poly
    if special:
        def products(X, special=special):
            return np.stack([np.multiply.reduce(X[:, idx], axis=1) for idx in special]).T
        transformer = FeatureUnion([("regular", regular), ("special", FunctionTransformer(products))])
    else:
        transformer = regular
    return Pipeline([("transformer", transformer), ("lasso", LassoCV(cv=min(10, n_rows), max_iter=max_iter))])


class EdgeProfilerBaseline:
    """EdgeProfiler's recipe for convolutional, pooling and dense layers (their features, their
    degree-3 polynomial with special product terms, ``log1p`` where their config says so,
    ``LassoCV(cv=10)``); the training mean per op type for the layers their recipe does not
    cover (in TensorRT those are fused into convolutions; in PyTorch they run on their own).
    Pooling windows are read correctly (their TensorRT reader takes the input size)."""

    name = "EdgeProfiler recipe"

    def __init__(self, max_iter: int = LASSO_MAX_ITER):
        self.max_iter = max_iter

    def fit(self, rows: Rows, target: str = "latency_s") -> "EdgeProfilerBaseline":
        from sklearn.exceptions import ConvergenceWarning

        self.fallback = MeanBaseline().fit(rows, target)
        self.models: Dict[str, Any] = {}
        for t, (feat, special, logs) in _EP_TYPES.items():
            sub = [r for r in rows if edgeprofiler_type(r) == t]
            if len(sub) < 3:
                continue
            X = np.array([feat(r) for r in sub], dtype=float)
            y = np.array([float(r[target]) for r in sub])
            model = _pipeline(special, logs.get(target, logs["power"]), len(sub), self.max_iter)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                model.fit(X, y)
            self.models[t] = (feat, model)
        return self

    def predict(self, rows: Rows) -> np.ndarray:
        out = self.fallback.predict(rows).astype(float)
        for t, (feat, model) in self.models.items():
            idx = [i for i, r in enumerate(rows) if edgeprofiler_type(r) == t]
            if idx:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    out[idx] = model.predict(np.array([feat(rows[i]) for i in idx], dtype=float))
        return out


BASELINES = {"mean": MeanBaseline, "macs": MacsBaseline, "edgeprofiler": EdgeProfilerBaseline}


def safe(pred: np.ndarray, floor: float = 1e-9) -> np.ndarray:
    """Predictions usable in relative errors: non-finite or non-positive values become ``floor``."""
    p = np.asarray(pred, float)
    return np.where(np.isfinite(p) & (p > floor), p, floor) if not math.isnan(floor) else p


__all__ = ["BASELINES", "LASSO_MAX_ITER", "EdgeProfilerBaseline", "MacsBaseline", "MeanBaseline", "edgeprofiler_type", "safe"]
