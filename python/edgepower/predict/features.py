"""Features of every layer of a PyTorch model, from one forward with hooks and one profiled forward.

Forward hooks on the leaf modules (modules without children, and ``nn.MultiheadAttention``,
which computes through its parameters rather than its children) record each call's shapes and
settings; a :class:`torch.overrides.TorchFunctionMode` records the functional ops the model runs
outside those modules (residual adds, ``torch.cat``, ``flatten``, attention matmuls); a second
forward under :mod:`torch.profiler` records which backend kernel each call actually ran (the
*backend key*, e.g. ``mkldnn_convolution`` or ``_slow_conv2d_forward``: a 1x1 convolution at
batch 1 takes the slow path on CPU in current torch, several times slower per MAC).

Call sites are labelled as :class:`edgepower.LayerProfiler` labels them (``features.0``,
``relu#1`` for the second call of a shared module), so features and measured report rows join
on the label.
"""
from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch.overrides import TorchFunctionMode

from ..profile.capture import describe_inputs
from ..profile.errors import model_error
from ..profile.presets import leaf_layers
from .device import device_key

log = logging.getLogger("edgepower.predict")

#: Modules treated as one layer although they have children (they compute through their own
#: parameters, not by calling the children).
ATOMIC = (torch.nn.MultiheadAttention,)
# Backend ops that only allocate, view or convert: never the kernel that does the work.
_TRIVIAL = {
    "empty", "empty_like", "empty_strided", "view", "reshape", "as_strided", "as_strided_", "resize_", "detach",
    "t", "transpose", "expand", "resolve_conj", "resolve_neg", "_nnpack_available", "fill_", "to", "_to_copy",
    "copy_", "contiguous", "unsqueeze", "squeeze", "select", "slice", "permute", "alias", "zero_", "zeros",
    "lift_fresh", "_reshape_alias", "_unsafe_view", "clone", "result_type", "item", "_local_scalar_dense",
}
# Functional ops that only change a view of the data (no bytes moved).
_VIEWS = {"view", "reshape", "flatten", "transpose", "permute", "unsqueeze", "squeeze", "__getitem__", "chunk",
          "split", "unbind", "narrow", "expand", "t", "view_as", "unflatten", "size", "dim", "detach"}
_MATMUL = {"matmul", "bmm", "mm", "baddbmm", "addmm", "einsum", "scaled_dot_product_attention", "linear",
           "__matmul__"}


@dataclass
class LayerFeatures:
    """What a layer call is, for prediction. Sizes in elements, traffic in bytes."""

    label: str
    module: str
    call: int
    op: str
    batch: int
    in_shape: List[int]
    out_shape: List[int]
    dtype: str
    elem_bytes: int
    in_channels: int = 0
    out_channels: int = 0
    kernel: List[int] = field(default_factory=list)
    stride: List[int] = field(default_factory=list)
    padding: List[int] = field(default_factory=list)
    dilation: List[int] = field(default_factory=list)
    groups: int = 1
    params: int = 0
    macs: float = 0.0
    flops: float = 0.0
    bytes_in: float = 0.0
    bytes_params: float = 0.0
    bytes_out: float = 0.0
    backend_key: str = ""

    @property
    def bytes(self) -> float:
        """Bytes moved at least once: inputs + parameters and buffers + outputs."""
        return self.bytes_in + self.bytes_params + self.bytes_out

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "LayerFeatures":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class NetworkFeatures:
    """Every leaf call of one forward, the functional ops outside them, and the device key."""

    model: str
    inputs: str
    layers: List[LayerFeatures]
    module_calls: int
    functional_ops: int
    functional_bytes: float
    functional_macs: float
    functional_counts: Dict[str, int]
    device: Dict[str, Any]

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["layers"] = [x.to_dict() for x in self.layers]
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "NetworkFeatures":
        d = dict(d)
        d["layers"] = [LayerFeatures.from_dict(x) for x in d["layers"]]
        return cls(**d)

    def layer(self, label: str) -> LayerFeatures:
        for x in self.layers:
            if x.label == label:
                return x
        raise KeyError(f"no layer {label!r} in the features of {self.model}")


def layer_names(model: torch.nn.Module) -> List[str]:
    """Leaf modules in registration order, an ``ATOMIC`` module standing for its children."""
    atomic = [n for n, m in model.named_modules() if n and isinstance(m, ATOMIC)]
    inside = tuple(a + "." for a in atomic)
    names = [n for n in leaf_layers(model) if not n.startswith(inside)]
    order = {n: i for i, (n, _) in enumerate(model.named_modules())}
    return sorted(set(names) | set(atomic), key=order.__getitem__)


def _tensors(obj: Any) -> List[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


def _nbytes(ts: Sequence[torch.Tensor]) -> float:
    return float(sum(t.numel() * t.element_size() for t in ts))


def _pair(v: Any, n: int) -> List[int]:
    if isinstance(v, str):  # padding="same"/"valid"
        return [-1] * n
    if isinstance(v, (tuple, list)):
        return [int(x) for x in v]
    return [int(v)] * n


def _settings(m: torch.nn.Module, x: torch.Tensor, out: torch.Tensor) -> Dict[str, Any]:
    """Kernel, stride, padding, dilation, groups, channels and MACs of one call."""
    nd = max(x.dim() - 2, 1)
    s: Dict[str, Any] = {}
    out_n, in_n = out.numel(), x.numel()
    if isinstance(m, torch.nn.modules.conv._ConvNd):
        k = list(m.kernel_size)
        s.update(in_channels=m.in_channels, out_channels=m.out_channels, kernel=k, stride=list(m.stride),
                 padding=_pair(m.padding, len(k)), dilation=list(m.dilation), groups=m.groups)
        if m.transposed:
            s["macs"] = float(in_n * (m.out_channels // m.groups) * math.prod(k))
        else:
            s["macs"] = float(out_n * (m.in_channels // m.groups) * math.prod(k))
    elif isinstance(m, torch.nn.Linear):
        s.update(in_channels=m.in_features, out_channels=m.out_features, macs=float(out_n * m.in_features))
    elif isinstance(m, torch.nn.MultiheadAttention):  # MACs from all three inputs: _mha_macs
        s.update(in_channels=m.embed_dim, out_channels=m.embed_dim, macs=0.0)
    elif isinstance(m, (torch.nn.modules.pooling._MaxPoolNd, torch.nn.modules.pooling._AvgPoolNd)):
        k = _pair(m.kernel_size, nd)
        s.update(kernel=k, stride=_pair(m.stride if m.stride is not None else m.kernel_size, nd),
                 padding=_pair(m.padding, nd), in_channels=x.shape[1] if x.dim() > 2 else 0,
                 out_channels=out.shape[1] if out.dim() > 2 else 0, macs=float(out_n * math.prod(k)))
    elif isinstance(m, (torch.nn.modules.pooling._AdaptiveAvgPoolNd, torch.nn.modules.pooling._AdaptiveMaxPoolNd)):
        k = [math.ceil(i / max(o, 1)) for i, o in zip(x.shape[2:], out.shape[2:])]
        s.update(kernel=k, in_channels=x.shape[1] if x.dim() > 2 else 0,
                 out_channels=out.shape[1] if out.dim() > 2 else 0, macs=float(max(in_n, out_n * math.prod(k))))
    elif isinstance(m, (torch.nn.Dropout, torch.nn.Identity, torch.nn.Flatten, torch.nn.Unflatten)):
        s["macs"] = 0.0
    elif isinstance(m, torch.nn.Embedding):
        s.update(in_channels=m.num_embeddings, out_channels=m.embedding_dim, macs=0.0)
    else:  # normalisation, activations, softmax, upsampling: element-wise work
        if x.dim() > 1:
            s.update(in_channels=int(x.shape[1]), out_channels=int(out.shape[1]) if out.dim() > 1 else 0)
        s["macs"] = float(max(in_n, out_n))
    return s


def _flops(op: str, macs: float) -> float:
    return 2.0 * macs if op.startswith(("Conv", "Linear", "MultiheadAttention", "Bilinear")) else macs


def _mha_macs(m: torch.nn.MultiheadAttention, q: torch.Tensor, k: torch.Tensor) -> float:
    """Projections (q, k, v, out) plus the two attention products, per the module's layout."""
    e = m.embed_dim
    if q.dim() == 3:
        bq, lq = (q.shape[0], q.shape[1]) if m.batch_first else (q.shape[1], q.shape[0])
        lk = k.shape[1] if m.batch_first else k.shape[0]
    else:
        bq, lq, lk = 1, q.shape[0], k.shape[0]
    return float(bq * (2 * lq * e * e + 2 * lk * e * e + 2 * lq * lk * e))


class _Functional(TorchFunctionMode):
    """Counts tensor-producing torch functions called outside every leaf module."""

    def __init__(self, depth: List[int]):
        super().__init__()
        self.depth = depth
        self.counts: Dict[str, int] = {}
        self.bytes = 0.0
        self.macs = 0.0
        self.ops = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth[0] == 0:
            name = getattr(func, "__name__", str(func)).split(".")[-1]
            outs = _tensors(out)
            if outs and name not in ("__get__", "size", "dim"):
                self.ops += 1
                self.counts[name] = self.counts.get(name, 0) + 1
                ins = _tensors((args, kwargs))
                if name.rstrip("_") not in _VIEWS:
                    self.bytes += _nbytes(ins) + _nbytes(outs)
                if name in _MATMUL and len(ins) >= 2:
                    a, b = ins[0], ins[1]
                    if name == "scaled_dot_product_attention" and len(ins) >= 3:
                        self.macs += float(2 * a.numel() * b.shape[-2])
                    elif a.dim() >= 1 and b.dim() >= 1:
                        self.macs += float(outs[0].numel() * a.shape[-1])
        return out


def _kernel_keys(model: torch.nn.Module, names: Sequence[str], args: tuple, kwargs: Dict[str, Any]) -> List[str]:
    """Backend key of every leaf call, in call order: the non-trivial leaf ops of the profiler
    tree under the call, e.g. ``mkldnn_convolution`` or ``sum+div_``."""
    from torch.profiler import ProfilerActivity, profile, record_function

    named = dict(model.named_modules())
    stack: List[Any] = []
    marks: List[str] = []

    def pre(name):
        def hook(mod, a):
            tag = f"edgepower_layer#{len(marks)}"
            marks.append(name)
            rf = record_function(tag)
            rf.__enter__()
            stack.append(rf)
        return hook

    def post(mod, a, out):
        if stack:
            stack.pop().__exit__(None, None, None)

    handles = []
    try:
        for n in names:
            handles.append(named[n].register_forward_pre_hook(pre(n)))
            handles.append(named[n].register_forward_hook(post))
        acts = [ProfilerActivity.CPU]
        with profile(activities=acts) as prof, torch.inference_mode():
            model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
        while stack:
            stack.pop().__exit__(None, None, None)
    keys = [""] * len(marks)

    def leaves(e) -> List[str]:
        name = e.name.split("::")[-1]
        kids = [c for c in e.cpu_children if c.name.split("::")[-1] not in _TRIVIAL]
        if not kids:
            return [] if name in _TRIVIAL else [name]
        return [x for c in kids for x in leaves(c)]

    for e in prof.events():
        if e.name.startswith("edgepower_layer#"):
            i = int(e.name.split("#")[1])
            found: List[str] = []
            for c in e.cpu_children:
                for x in leaves(c):
                    if x not in found:
                        found.append(x)
            if i < len(keys):
                keys[i] = "+".join(found) or "none"
    return keys


def extract(model: torch.nn.Module, *args: Any, backend_keys: bool = True, **kwargs: Any) -> NetworkFeatures:
    """Features of every leaf call of one forward of ``model(*args, **kwargs)``.

    Parameters
    ----------
    model : torch.nn.Module
        The model, on the device and in the dtype it will run in (put in eval mode here).
    *args, **kwargs
        Its inputs.
    backend_keys : bool
        Also run one profiled forward to record the backend kernel of each call (default).

    Returns
    -------
    NetworkFeatures
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"extract() needs a torch.nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    names = layer_names(model)
    named = dict(model.named_modules())
    depth = [0]
    calls: Dict[str, int] = {}
    rows: List[Tuple[str, int, torch.nn.Module, tuple, Dict[str, Any], Any]] = []
    module_calls = [0]

    def pre(mod, a, k):
        depth[0] += 1

    def post_for(name):
        def hook(mod, a, k, out):
            depth[0] -= 1
            c = calls.get(name, 0)
            calls[name] = c + 1
            rows.append((name, c, mod, a, k, out))
        return hook

    def count(mod, a):
        module_calls[0] += 1

    handles = []
    mode = _Functional(depth)
    try:
        for mod in model.modules():
            handles.append(mod.register_forward_pre_hook(count))
        for n in names:
            handles.append(named[n].register_forward_pre_hook(pre, with_kwargs=True))
            handles.append(named[n].register_forward_hook(post_for(n), with_kwargs=True))
        with torch.inference_mode(), mode:
            model(*args, **kwargs)
    except Exception as exc:
        raise model_error(model, exc, args, kwargs, describe_inputs(args, kwargs),
                          call="predict(model, *args, **kwargs)") from exc
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    keys = _kernel_keys(model, names, args, kwargs) if backend_keys else []
    if keys and len(keys) != len(rows):
        log.warning("the profiled forward made %d layer calls, the hooked one %d: backend keys left out "
                    "(is the forward data-dependent?)", len(keys), len(rows))
        keys = []
    layers = []
    dtype = None
    for i, (name, c, mod, a, k, out) in enumerate(rows):
        ins = _tensors((a, k))
        outs = _tensors(out)
        x = ins[0] if ins else torch.empty(0)
        y = outs[0] if outs else torch.empty(0)
        dtype = dtype or (str(x.dtype).replace("torch.", "") if ins else None)
        s = _settings(mod, x, y)
        if isinstance(mod, torch.nn.MultiheadAttention) and len(ins) >= 2:
            s["macs"] = _mha_macs(mod, ins[0], ins[1])
        op = type(mod).__name__
        params = sum(p.numel() for p in mod.parameters())
        pbytes = _nbytes(list(mod.parameters()) + list(mod.buffers()))
        label = name if calls[name] == 1 else f"{name}#{c}"
        layers.append(LayerFeatures(
            label=label, module=name, call=c, op=op, batch=int(x.shape[0]) if x.dim() else 1,
            in_shape=[int(d) for d in x.shape], out_shape=[int(d) for d in y.shape],
            dtype=str(x.dtype).replace("torch.", ""), elem_bytes=int(x.element_size()) if ins else 0,
            params=int(params), flops=_flops(op, s.get("macs", 0.0)), bytes_in=_nbytes(ins),
            bytes_params=pbytes, bytes_out=_nbytes(outs), backend_key=keys[i] if keys else "", **s))
    devices = {t.device for t in list(model.parameters()) + _tensors((args, kwargs))}
    dev = sorted(devices, key=str)[0] if devices else torch.device("cpu")
    return NetworkFeatures(
        model=type(model).__name__, inputs=", ".join("x".join(map(str, t.shape)) for t in _tensors(args)),
        layers=layers, module_calls=module_calls[0], functional_ops=mode.ops, functional_bytes=mode.bytes,
        functional_macs=mode.macs, functional_counts=dict(sorted(mode.counts.items())),
        device=device_key(dev, dtype or "float32"))


__all__ = ["ATOMIC", "LayerFeatures", "NetworkFeatures", "extract", "layer_names"]
