"""Per-op-type regression models (numpy only), their features, and the ridge fit whose strength is
chosen by cross-validation across the *training* networks only.

The latency model of an op group is log-linear in physically motivated quantities: ``log t`` is
linear in ``log MACs``, ``log`` bytes read (inputs, parameters) and written (outputs), the
kernel's shape for convolutions, and a one-hot of the backend kernel that ran. A power law per
op group and backend kernel covers both regimes of a roofline (compute bound: t ~ MACs;
memory bound: t ~ bytes) and extrapolates as a straight line in log-log, not as a polynomial.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .context import GROUPS as CONTEXT_GROUPS
from .context import context_terms

#: Op class name -> op group (one model per group).
GROUPS: Dict[str, str] = {}
for _g, _ops in {
    "conv": ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"),
    "linear": ("Linear", "Bilinear", "LazyLinear", "NonDynamicallyQuantizableLinear"),
    "attention": ("MultiheadAttention",),
    "norm": ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "InstanceNorm1d",
             "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "RMSNorm"),
    "activation": ("ReLU", "ReLU6", "Hardswish", "Hardsigmoid", "SiLU", "GELU", "Sigmoid", "Tanh", "LeakyReLU",
                   "ELU", "Mish", "Softmax", "LogSoftmax", "PReLU", "Softplus", "Hardtanh"),
    "pool": ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"),
    "adaptive_pool": ("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
                      "AdaptiveMaxPool2d", "AdaptiveMaxPool3d"),
    "passthrough": ("Dropout", "Dropout1d", "Dropout2d", "Identity", "Flatten", "Unflatten", "StochasticDepth"),
}.items():
    for _op in _ops:
        GROUPS[_op] = _g
#: Groups that fall back to the generic model when they have too few training rows.
GENERIC = "generic"
MIN_ROWS = 6
#: Rows (from at least two networks) a backend key needs for terms of its own.
MIN_KEY_ROWS = 5
#: Reweighting rounds of the latency fit (0: plain least squares on relative error).
IRLS_ITERS = 4
#: log2 of the GEMM widths (output positions per image) where a convolution's cost per MAC
#: may change slope (:func:`narrow_ramps`).
NARROW_KNOTS = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0)
#: Gauss-Newton rounds of the fit on log latency that follows the relative fit.
LOG_ITERS = 8
ALPHAS = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)


def group_of(op: str) -> str:
    """The op group of an op class name (``Conv2d`` -> ``conv``); unknown ops are ``generic``."""
    return GROUPS.get(op, GENERIC)


def _log(x: float) -> float:
    return math.log(max(float(x), 0.0) + 1.0)


def _prod(v: Sequence[int]) -> int:
    return int(np.prod(v)) if len(v) else 1


def numeric_features(row: Dict[str, Any], group: str) -> Dict[str, float]:
    """The continuous features of one layer row for the model of ``group`` (all logs, so a power
    law is linear in them)."""
    f = {
        "log_macs": _log(row["macs"]),
        "log_bytes_in": _log(row["bytes_in"]),
        "log_bytes_params": _log(row["bytes_params"]),
        "log_bytes_out": _log(row["bytes_out"]),
    }
    if group == "conv":
        k = _prod(row["kernel"])
        cin = max(int(row["in_channels"]), 1)
        groups = max(int(row["groups"]), 1)
        f["log_kernel"] = math.log(max(k, 1))
        f["log_stride"] = math.log(max(_prod(row["stride"]), 1))
        f["depthwise"] = 1.0 if groups > 1 and groups == cin else 0.0
        f["log_cin_per_group"] = math.log(cin / groups)
        f["pointwise"] = 1.0 if k == 1 else 0.0
    if group in ("pool", "adaptive_pool"):
        f["log_kernel"] = math.log(max(_prod(row["kernel"]), 1))
    return f


class Ridge:
    """Ridge regression on standardised columns with an unpenalised intercept (closed form)."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = float(alpha)
        self.mean: Optional[np.ndarray] = None
        self.scale: Optional[np.ndarray] = None
        self.coef: Optional[np.ndarray] = None
        self.intercept = 0.0

    def fit(self, X: np.ndarray, y: np.ndarray, w: Optional[np.ndarray] = None) -> "Ridge":
        w = np.ones(len(y)) if w is None else np.asarray(w, float)
        sw = w / w.sum()
        self.mean = sw @ X
        sd = np.sqrt(sw @ (X - self.mean) ** 2)
        self.scale = np.where(sd > 1e-12, sd, 1.0)
        Z = (X - self.mean) / self.scale
        ym = float(sw @ y)
        A = (Z * w[:, None]).T @ Z + self.alpha * w.sum() / len(y) * np.eye(Z.shape[1])
        self.coef = np.linalg.solve(A, (Z * w[:, None]).T @ (y - ym)) if Z.shape[1] else np.zeros(0)
        self.intercept = ym
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.intercept + ((X - self.mean) / self.scale) @ self.coef

    def to_dict(self) -> Dict[str, Any]:
        return {"alpha": self.alpha, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Ridge":
        r = cls(d["alpha"])
        r.mean, r.scale, r.coef = (np.asarray(d[k], float) for k in ("mean", "scale", "coef"))
        r.intercept = float(d["intercept"])
        return r


def choose_alpha(X: np.ndarray, y: np.ndarray, groups: Sequence[str], alphas: Sequence[float] = ALPHAS,
                 folds: int = 5) -> float:
    """The ridge strength with the least cross-validated squared error, folds made of whole
    networks (``groups``), so a network's layers never validate a model fitted on its siblings.
    With fewer than two networks, the middle of the grid."""
    uniq = sorted(set(groups))
    if len(uniq) < 2:
        return float(alphas[len(alphas) // 2])
    fold_of = {g: i % min(folds, len(uniq)) for i, g in enumerate(uniq)}
    fid = np.array([fold_of[g] for g in groups])
    best, best_err = alphas[0], math.inf
    for a in alphas:
        err = 0.0
        for k in range(min(folds, len(uniq))):
            tr, te = fid != k, fid == k
            if tr.sum() < 2 or te.sum() == 0:
                continue
            err += float(np.sum((Ridge(a).fit(X[tr], y[tr]).predict(X[te]) - y[te]) ** 2))
        if err < best_err - 1e-12:
            best, best_err = a, err
    return float(best)


def nnls(A: np.ndarray, b: np.ndarray, iters: int = 200) -> np.ndarray:
    """Non-negative least squares (Lawson-Hanson active set) on the normal equations: few
    columns (tens), any number of rows; each step solves a system of the active columns only."""
    n, G, h = A.shape[1], A.T @ A, A.T @ b
    x, passive = np.zeros(n), np.zeros(n, bool)

    def solve(P: np.ndarray) -> np.ndarray:
        z, idx = np.zeros(n), np.flatnonzero(P)
        try:
            z[idx] = np.linalg.solve(G[np.ix_(idx, idx)], h[idx])
        except np.linalg.LinAlgError:
            z[idx] = np.linalg.lstsq(G[np.ix_(idx, idx)], h[idx], rcond=None)[0]
        return z

    for _ in range(iters):
        w = h - G @ x
        cand = (~passive) & (w > 1e-12 * max(1.0, float(np.abs(w).max(initial=0.0))))
        if not cand.any():
            break
        passive[np.argmax(np.where(cand, w, -np.inf))] = True
        while True:
            z = solve(passive)
            if (z[passive] > 0).all():
                x = z
                break
            neg = passive & (z <= 0)
            step = x[neg] - z[neg]
            alpha = float(np.min(np.where(step > 0, x[neg] / np.where(step > 0, step, 1.0), 0.0)))
            x = x + alpha * (z - x)
            passive &= x > 1e-15
    return x


def narrow_ramps(n: int) -> List[float]:
    """Decreasing ramps in ``log2 n`` between consecutive :data:`NARROW_KNOTS`: ramp ``j`` is 1
    up to knot ``j``, 0 from knot ``j + 1`` on. A non-negative sum of them (plus a constant) is
    any piecewise-linear cost per MAC that never increases with the GEMM's width ``n``, flat
    past the last knot: a monotone shape learned from data, not a threshold guessed."""
    x = math.log2(max(n, 1))
    return [min(max((b - x) / (b - a), 0.0), 1.0) for a, b in zip(NARROW_KNOTS[:-1], NARROW_KNOTS[1:])]


def cost_terms(row: Dict[str, Any], group: str, context: bool = False) -> Dict[str, float]:
    """The additive cost terms of one layer (a roofline with a per-call overhead): a call costs
    ``overhead + sum_i c_i x term_i`` with ``c_i >= 0`` seconds per MAC or per byte. Convolutions
    also pay per MAC of depthwise and pointwise kernels (other throughputs), per element of
    the unfolded input (im2col) of a fallback kernel, and per MAC more the narrower the GEMM
    (:func:`narrow_ramps` of the output positions per image: a 512-channel 3x3 convolution on
    2x2 positions runs at a fifth of the MAC rate of one on 16x16); normalisation pays per channel;
    with ``context``, memory-bound groups pay for the preceding call (:mod:`.context`)."""
    t = {"overhead": 1.0, "macs": float(row["macs"]), "bytes_in": float(row["bytes_in"]),
         "bytes_out": float(row["bytes_out"]), "bytes_params": float(row["bytes_params"])}
    if group == "conv":
        k = _prod(row["kernel"])
        cin, g = max(int(row["in_channels"]), 1), max(int(row["groups"]), 1)
        t["macs_depthwise"] = t["macs"] if g > 1 and g == cin else 0.0
        t["macs_pointwise"] = t["macs"] if k == 1 else 0.0
        cout = max(int(row["out_channels"]), 1)
        t["unfold"] = t["macs"] * g / cout * (row["elem_bytes"] or 4)  # bytes of the im2col matrix
        # A narrow GEMM (few output positions per image: its columns) costs more per MAC; never less.
        n = max(_prod(row["out_shape"][2:]), 1)
        for j, r in enumerate(narrow_ramps(n)):
            t[f"macs_narrow{j}"] = t["macs"] * r
    if group == "norm":
        t["channels"] = float(row["in_channels"])
    if context and group in CONTEXT_GROUPS:
        t.update(context_terms(row))
    return t


class AdditiveModel:
    """Latency of one op group as a non-negative sum of :func:`cost_terms`, with an extra
    overhead and per-MAC cost for each backend key seen in training (a key never seen falls
    back to the key-agnostic fit of the same terms). Least squares on *relative* error, so small
    layers count as much as large ones. ``context``: the terms include :func:`.context.context_terms`."""

    def __init__(self, group: str, context: bool = False):
        self.group, self.context = group, bool(context)
        self.terms: List[str] = []
        self.keys: List[str] = []
        self.coef = np.zeros(0)
        self.shared = np.zeros(0)
        self.ranges: Dict[str, Tuple[float, float]] = {}
        self.all_keys: List[str] = []
        self.n = 0

    def _matrix(self, rows: Sequence[Dict[str, Any]], keys: Sequence[str]) -> np.ndarray:
        X = np.zeros((len(rows), len(self.terms) + 2 * len(keys)))
        for i, r in enumerate(rows):
            t = cost_terms(r, self.group, self.context)
            X[i, :len(self.terms)] = [t[n] for n in self.terms]
            if r["backend_key"] in keys:
                j = len(self.terms) + 2 * keys.index(r["backend_key"])
                X[i, j], X[i, j + 1] = 1.0, t["macs"]
        return X

    @staticmethod
    def _solve(X: np.ndarray, y: np.ndarray, iters: int = IRLS_ITERS) -> np.ndarray:
        """Non-negative fit of relative error, reweighted towards least *absolute* relative
        error (IRLS): the measured figures of small layers on a loaded machine have heavy
        tails, and the median error is what matters), then refined on log error."""
        A = X / y[:, None]
        scale = np.where(A.max(axis=0) > 0, A.max(axis=0), 1.0)
        A = A / scale
        w = np.ones(len(y))
        for _ in range(iters + 1):
            sw = np.sqrt(w)
            c = nnls(A * sw[:, None], sw)
            w = 1.0 / np.maximum(np.abs(A @ c - 1.0), 0.02)
        # Least absolute *log* error from there (Gauss-Newton, damped by half, IRLS weights):
        # relative error |p/y - 1| penalises over-prediction more than under-prediction (at most
        # 1 below, unbounded above), so its fit runs low, and the sums of layers with it; the
        # log error is symmetric. Each step linearises log(Xc) around the current prediction p.
        for _ in range(LOG_ITERS):
            p = np.maximum(A @ c, 1e-12)
            r = np.log(p)
            sw = np.sqrt(1.0 / np.maximum(np.abs(r), 0.02))
            c = 0.5 * c + 0.5 * nnls(A / p[:, None] * sw[:, None], (1.0 - r) * sw)
        return c / scale

    def fit(self, rows: Sequence[Dict[str, Any]], y: np.ndarray) -> "AdditiveModel":
        """Fits seconds ``y`` (not logs)."""
        self.n = len(rows)
        terms = [cost_terms(r, self.group, self.context) for r in rows]
        self.terms = [n for n in terms[0] if n == "overhead" or any(t[n] for t in terms)]
        counts: Dict[str, int] = {}
        nets: Dict[str, set] = {}
        for r in rows:
            counts[r["backend_key"]] = counts.get(r["backend_key"], 0) + 1
            nets.setdefault(r["backend_key"], set()).add(r["network"])
        self.all_keys = sorted(counts)
        # A key gets its own terms only when enough rows from more than one network pin them.
        self.keys = sorted(k for k, c in counts.items() if k and c >= MIN_KEY_ROWS and len(nets[k]) >= 2)
        if len(self.keys) == len(counts) == 1:
            self.keys = []
        self.coef = self._solve(self._matrix(rows, self.keys), y)
        self.shared = self._solve(self._matrix(rows, []), y)
        self.ranges = {}
        for n in self.terms:
            v = [math.log1p(t[n]) for t in terms]
            self.ranges[n] = (min(v), max(v))
        return self

    def predict(self, rows: Sequence[Dict[str, Any]]) -> np.ndarray:
        known = [r["backend_key"] in self.keys or not self.keys for r in rows]
        a = self._matrix(rows, self.keys) @ self.coef
        b = self._matrix(rows, []) @ self.shared
        return np.maximum(np.where(known, a, b), 1e-9)

    def warnings(self, row: Dict[str, Any], margin: float = math.log(1.5)) -> List[str]:
        """Why a prediction extrapolates: a cost term outside the training range by more than
        ``margin`` (log units), or a backend key never seen in training."""
        out = []
        t = cost_terms(row, self.group, self.context)
        for n, (lo, hi) in self.ranges.items():
            if n.startswith("after"):
                continue  # a ramp in (0, 1), set by the layer before: never an extrapolation
            v = math.log1p(t[n])
            if v < lo - margin or v > hi + margin:
                out.append(f"{n}={t[n]:.3g} outside the training range [{math.expm1(lo):.3g}, {math.expm1(hi):.3g}] "
                           f"of {self.group}")
        if row.get("backend_key") and row["backend_key"] not in self.all_keys:
            out.append(f"backend op {row['backend_key']!r} unseen in training ({self.group} saw "
                       f"{', '.join(self.all_keys) or 'none'}): key-agnostic fit")
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": "additive", "group": self.group, "context": self.context, "terms": self.terms,
                "keys": self.keys, "all_keys": self.all_keys, "coef": self.coef.tolist(), "shared": self.shared.tolist(),
                "ranges": {k: list(v) for k, v in self.ranges.items()}, "n": self.n}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "AdditiveModel":
        m = cls(d["group"], d.get("context", False))
        m.terms, m.keys, m.all_keys, m.n = list(d["terms"]), list(d["keys"]), list(d["all_keys"]), int(d["n"])
        m.coef, m.shared = np.asarray(d["coef"], float), np.asarray(d["shared"], float)
        m.ranges = {k: (float(v[0]), float(v[1])) for k, v in d["ranges"].items()}
        return m


class GroupModel:
    """``log target`` of one op group: ridge on :func:`numeric_features` plus a one-hot of the
    backend keys seen at least twice in training. Remembers the training range of each feature
    (extrapolation warnings) and the keys it knows (unseen-key warnings)."""

    def __init__(self, group: str):
        self.group = group
        self.names: List[str] = []
        self.keys: List[str] = []
        self.ridge: Optional[Ridge] = None
        self.ranges: Dict[str, Tuple[float, float]] = {}
        self.n = 0

    def _matrix(self, rows: Sequence[Dict[str, Any]]) -> np.ndarray:
        X = np.zeros((len(rows), len(self.names) + len(self.keys)))
        for i, r in enumerate(rows):
            f = numeric_features(r, self.group)
            X[i, :len(self.names)] = [f[n] for n in self.names]
            for j, k in enumerate(self.keys):
                X[i, len(self.names) + j] = 1.0 if r["backend_key"] == k else 0.0
        return X

    def fit(self, rows: Sequence[Dict[str, Any]], y: np.ndarray) -> "GroupModel":
        self.n = len(rows)
        feats = [numeric_features(r, self.group) for r in rows]
        names = list(feats[0]) if feats else []
        # A constant column carries nothing (and its range would flag every other value).
        self.names = [n for n in names if len({f[n] for f in feats}) > 1]
        counts: Dict[str, int] = {}
        for r in rows:
            counts[r["backend_key"]] = counts.get(r["backend_key"], 0) + 1
        self.keys = sorted(k for k, c in counts.items() if c >= 2 and k)
        if len(self.keys) == 1:
            self.keys = []  # one key everywhere: the intercept covers it
        X = self._matrix(rows)
        alpha = choose_alpha(X, y, [r["network"] for r in rows])
        self.ridge = Ridge(alpha).fit(X, y)
        self.ranges = {n: (min(f[n] for f in feats), max(f[n] for f in feats)) for n in self.names}
        self.all_keys = sorted(counts)
        return self

    def predict(self, rows: Sequence[Dict[str, Any]]) -> np.ndarray:
        return self.ridge.predict(self._matrix(rows))

    def warnings(self, row: Dict[str, Any], margin: float = math.log(1.5)) -> List[str]:
        """Why a prediction for ``row`` extrapolates (feature outside the training range by more
        than ``margin`` in log units, or a backend key never seen in training)."""
        out = []
        f = numeric_features(row, self.group)
        for n, (lo, hi) in self.ranges.items():
            if f[n] < lo - margin or f[n] > hi + margin:
                out.append(f"{n}={f[n]:.2f} outside the training range [{lo:.2f}, {hi:.2f}] of {self.group}")
        if row.get("backend_key") and row["backend_key"] not in self.all_keys:
            out.append(f"backend op {row['backend_key']!r} unseen in training ({self.group} saw "
                       f"{', '.join(self.all_keys) or 'none'})")
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": "loglinear", "group": self.group, "names": self.names, "keys": self.keys, "all_keys": self.all_keys,
                "ridge": self.ridge.to_dict(), "ranges": {k: list(v) for k, v in self.ranges.items()}, "n": self.n}

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "GroupModel":
        m = cls(d["group"])
        m.names, m.keys, m.all_keys, m.n = list(d["names"]), list(d["keys"]), list(d["all_keys"]), int(d["n"])
        m.ridge = Ridge.from_dict(d["ridge"])
        m.ranges = {k: (float(v[0]), float(v[1])) for k, v in d["ranges"].items()}
        return m


__all__ = ["AdditiveModel", "GENERIC", "GROUPS", "GroupModel", "cost_terms", "Ridge", "choose_alpha", "group_of",
           "nnls", "numeric_features"]
