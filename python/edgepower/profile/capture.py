"""Call sites: one dry run of the model with forward pre-hooks captures every call of every
selected layer with its real inputs (tensors detached and cloned before the layer runs, so an
in-place layer cannot change what was captured). A module called several times in one forward (a
shared ReLU) gives one call site per call, ``relu#0``, ``relu#1``. The hooks are removed on every
path, exceptions and KeyboardInterrupt included.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from .errors import model_error

log = logging.getLogger("edgepower")

MODEL_LABEL = "(model)"
UNATTRIBUTED_LABEL = "(unattributed)"
RESTORE_SUFFIX = " (restore)"


def clone(obj: Any) -> Any:
    """Deep copy of the tensors inside args/kwargs structures (detached); other values kept."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(clone(o) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(clone(o) for o in obj)
    if isinstance(obj, dict):
        items = {k: clone(v) for k, v in obj.items()}
        try:
            return type(obj)(items)
        except Exception:  # a dict subclass without a dict constructor
            return items
    return obj


def tensors(obj: Any, out: Optional[List[torch.Tensor]] = None) -> List[torch.Tensor]:
    """Every tensor inside a structure, in a fixed traversal order."""
    out = [] if out is None else out
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            tensors(o, out)
    elif isinstance(obj, dict):
        for v in obj.values():
            tensors(v, out)
    return out


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if torch.equal(a, b):
        return True
    if a.dtype.is_floating_point or a.dtype.is_complex:
        return bool(torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True))
    return False


def _shape(obj: Any) -> str:
    if isinstance(obj, torch.Tensor):
        return "x".join(str(d) for d in obj.shape) if obj.dim() else "scalar"
    if isinstance(obj, (list, tuple)):
        return "(" + ", ".join(_shape(o) for o in obj) + ")"
    if isinstance(obj, dict):
        return "{" + ", ".join(f"{k}={_shape(v)}" for k, v in obj.items()) + "}"
    if obj is None or isinstance(obj, (bool, int, float)):
        return repr(obj)
    return type(obj).__name__


def describe_inputs(args: Sequence[Any], kwargs: Dict[str, Any]) -> str:
    """Shapes of args and tensor kwargs, e.g. ``1x3x224x224, attention_mask=16x128``.
    None-valued kwargs are left out (Hugging Face passes many)."""
    parts = [_shape(a) for a in args]
    parts += [f"{k}={_shape(v)}" for k, v in kwargs.items() if v is not None]
    return ", ".join(parts)


@dataclass
class CallSite:
    """One call of one module in the captured forward (or the whole model)."""

    module_name: str
    call: int
    order: int
    module: Any
    args: tuple
    kwargs: Dict[str, Any]
    ncalls: int = 1
    inplace: Optional[bool] = None
    error: str = ""
    failed_round: Optional[int] = None
    region: int = -1
    restore_region: int = -1
    rotation: Any = None  # a cache.Rotation while a cold-context window measures this site
    _work: Optional[Tuple[tuple, Dict[str, Any]]] = field(default=None, repr=False)
    _pairs: List[Tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        if self.module_name == MODEL_LABEL or self.ncalls == 1:
            return self.module_name
        return f"{self.module_name}#{self.call}"

    @property
    def is_model(self) -> bool:
        return self.module_name == MODEL_LABEL

    # The tensors the module is called with: a copy of the captured ones, so the capture stays
    # pristine and can restore them after an in-place call.
    def prepare(self) -> None:
        if self._work is None:
            self._work = (clone(self.args), clone(self.kwargs))
            self._pairs = list(zip(tensors(self._work), tensors((self.args, self.kwargs))))

    def restore(self) -> None:
        for dst, src in self._pairs:
            dst.copy_(src)

    def mutated(self) -> bool:
        return any(not _same(dst, src) for dst, src in self._pairs)

    def run(self) -> Any:
        a, k = self._work  # type: ignore[misc]
        return self.module(*a, **k) if self.rotation is None else self.rotation(a, k)

    def run_restored(self) -> Any:
        self.restore()
        a, k = self._work  # type: ignore[misc]
        return self.module(*a, **k) if self.rotation is None else self.rotation(a, k)

    def release(self) -> None:
        self._work = None
        self._pairs = []


def capture(model: Any, layer_names: Sequence[str], args: tuple, kwargs: Dict[str, Any]) -> Tuple[List[CallSite], List[str], float]:
    """The dry run with pre-hooks: every call of every selected layer, inputs cloned."""
    named = dict(model.named_modules())
    records: List[Tuple[str, tuple, Dict[str, Any]]] = []

    def hook_for(name: str):
        def hook(module, a, k):
            records.append((name, clone(a), clone(k)))
        return hook

    handles = []
    try:
        for name in layer_names:
            handles.append(named[name].register_forward_pre_hook(hook_for(name), with_kwargs=True))
        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                model(*args, **kwargs)
        except Exception as exc:
            raise model_error(model, exc, args, kwargs, describe_inputs(args, kwargs)) from exc
        capture_s = time.perf_counter() - t0
    finally:
        for h in handles:
            h.remove()
    counts: Dict[str, int] = {}
    sites = []
    for order, (name, a, k) in enumerate(records):
        call = counts.get(name, 0)
        counts[name] = call + 1
        sites.append(CallSite(name, call, order, named[name], a, k))
    for s in sites:
        s.ncalls = counts[s.module_name]
    not_called = [n for n in layer_names if n not in counts]
    if not_called:
        log.warning("%d selected layer(s) were not called in the forward and are left out: %s",
                    len(not_called), ", ".join(not_called))
    if not sites:
        raise ValueError(f"none of the selected layers of {type(model).__name__} ran in the forward; "
                         "check the layer names or pass layers=None")
    return sites, not_called, capture_s


def synchronizer(model: Any, sites: List[CallSite]) -> Tuple[Callable[[], None], List[str]]:
    """A function that synchronises every CUDA device the model or the inputs use, and the
    devices' names."""
    devices = {t.device for t in model.parameters()} | {t.device for t in model.buffers()}
    for s in sites:
        devices |= {t.device for t in tensors((s.args, s.kwargs))}
    cuda = sorted({d for d in devices if d.type == "cuda"}, key=str)

    def sync() -> None:
        for d in cuda:
            torch.cuda.synchronize(d)
    return sync, sorted(str(d) for d in devices)


__all__ = ["CallSite", "MODEL_LABEL", "RESTORE_SUFFIX", "UNATTRIBUTED_LABEL", "capture", "clone", "describe_inputs",
           "synchronizer", "tensors"]
