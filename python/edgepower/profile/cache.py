"""The cache state a layer runs in when it is measured alone (isolation mode).

Inside the model, a layer's weights were last read a whole forward ago: when the model's
working set (its parameters and buffers plus the activations of one forward) exceeds the
last-level cache, they come from DRAM on every call, and its output is written to memory that
was not touched since the previous forward. Called alone in a loop, the same layer finds its
weights and its output buffer in cache on every call: it runs faster and draws less power than
it does in the model. On resnet18 (batch 1, one CPU thread, 32 MB L3) that made the layers add up
to 87 % of the model (13 % "unattributed"): BatchNorm took 1.5 ms alone against 4.1 ms in the
model, the 512 x 1000 ``fc`` 0.11 ms against 0.45 ms.

With ``cache_context="model"`` (the default) a layer in such a model is measured as it runs in
the model: each call uses the next of ``K`` copies of the layer (deep copies: its own weights
and buffers) so that the copies together span twice the last-level cache, and the last
``K_out`` outputs are kept alive so that every call writes a fresh buffer; the input stays the
same tensor, as warm as the previous layer leaves it in the model. A model whose working set
fits the cache keeps every layer warm, as it runs. ``cache_context="warm"`` measures every
layer warm (the method of earlier versions; faster, lower figures).

The cache size is the largest CPU cache in sysfs (``/sys/devices/system/cpu/cpu0/cache``) for a
model on the CPU, ``L2_cache_size`` of the device for CUDA. Unknown: warm, saying so.
"""
from __future__ import annotations

import collections
import copy
import glob
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from .capture import tensors

log = logging.getLogger("edgepower")

CACHE_CONTEXTS = ("model", "warm")
#: The copies of a layer together span this many times the last-level cache (LRU with some
#: associativity: twice its size evicts what a pass touched).
SPAN = 2.0
#: At most this many copies of a layer or kept outputs (a layer of a few bytes of weights would
#: need millions; its weights are a cache line or two, cold or not).
MAX_COPIES = 256
#: Calls past a full rotation before its windows: the first takes a block of fresh pages (the
#: kept outputs are all alive when it allocates), the next reuses the oldest one's.
REUSE_CALLS = 2
SYSFS_CPU_CACHE = "/sys/devices/system/cpu/cpu0/cache"


def _size_bytes(text: str) -> Optional[int]:
    text = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in "KMG" else text
    try:
        return int(digits) * mult
    except ValueError:
        return None


def cpu_cache_bytes(root: str = SYSFS_CPU_CACHE) -> Tuple[Optional[int], str]:
    """The largest data or unified cache of CPU 0 and where it was read, or (None, why)."""
    best: Optional[int] = None
    for d in sorted(glob.glob(os.path.join(root, "index*"))):
        try:
            with open(os.path.join(d, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(d, "size")) as f:
                size = _size_bytes(f.read())
        except OSError:
            continue
        if kind != "Instruction" and size and (best is None or size > best):
            best = size
    if best is None:
        return None, f"no cache sizes readable under {root}"
    return best, root


def cache_bytes(device: torch.device) -> Tuple[Optional[int], str]:
    """The last-level cache that a layer on ``device`` works through, and its source."""
    if device.type == "cuda":
        try:
            size = int(torch.cuda.get_device_properties(device).L2_cache_size)
        except Exception as exc:  # an old torch without the field
            return None, f"L2 size of {device} unknown ({type(exc).__name__})"
        return (size, f"L2_cache_size of {torch.cuda.get_device_name(device)}") if size > 0 else \
            (None, f"{device} reports no L2 size")
    if device.type == "cpu":
        return cpu_cache_bytes()
    return None, f"cache size of {device.type} devices unknown"


def nbytes(ts: Sequence[torch.Tensor]) -> int:
    return int(sum(t.numel() * t.element_size() for t in ts))


def _address(t: torch.Tensor) -> int:
    try:
        return int(t.data_ptr())
    except (RuntimeError, NotImplementedError):  # a sparse or other storage-less tensor
        return id(t)


def _state(module: Any) -> List[torch.Tensor]:
    return list(module.parameters()) + list(module.buffers())


@dataclass
class CacheContext:
    """How isolation windows treat the cache (``meta["method"]["cache_context"]``): ``mode``
    asked, ``cold`` (weights and outputs rotated), the cache and working-set sizes, why, and
    per call site the copies used (``copies[label] = [layer copies, kept outputs]``)."""

    mode: str = "model"
    cold: bool = False
    cache_bytes: Optional[int] = None
    cache_source: str = ""
    working_set_bytes: int = 0
    why: str = ""
    copies: Dict[str, List[int]] = field(default_factory=dict)
    copies_not_made: Dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> Dict[str, Any]:
        return {"mode": self.mode, "cold": self.cold, "cache_bytes": self.cache_bytes,
                "cache_source": self.cache_source, "working_set_bytes": self.working_set_bytes, "why": self.why,
                "copies": dict(self.copies), "copies_not_made": dict(self.copies_not_made)}


def plan(model: Any, site_inputs: Sequence[Sequence[torch.Tensor]], mode: str = "model") -> CacheContext:
    """The context for a model whose call sites were captured with these input tensors: cold
    when ``mode`` is ``"model"`` and the model's state plus the activations of one forward (the
    captured inputs) exceed the last-level cache."""
    if mode not in CACHE_CONTEXTS:
        raise ValueError(f"cache_context must be one of {', '.join(CACHE_CONTEXTS)}, got {mode!r}")
    state = _state(model)
    device = state[0].device if state else next((t.device for ts in site_inputs for t in ts), torch.device("cpu"))
    size, source = cache_bytes(device)
    seen, ws = set(), 0
    for t in state + [t for ts in site_inputs for t in ts]:
        key = (_address(t), t.numel() * t.element_size())
        if key not in seen:
            seen.add(key)
            ws += key[1]
    ctx = CacheContext(mode=mode, cache_bytes=size, cache_source=source, working_set_bytes=ws)
    mb = ws / 2 ** 20
    if mode == "warm":
        ctx.why = "cache_context='warm': every layer measured with its weights and output in cache"
    elif size is None:
        ctx.why = f"last-level cache size unknown ({source}): every layer measured warm"
    elif ws <= size:
        ctx.why = (f"the model's working set ({mb:.1f} MiB: state and one forward's activations) fits the "
                   f"{size / 2 ** 20:.1f} MiB cache: every layer measured warm, as it runs in the model")
    else:
        ctx.cold = True
        ctx.why = (f"the model's working set ({mb:.1f} MiB) exceeds the {size / 2 ** 20:.1f} MiB cache: each layer's "
                   f"weights and output are measured cold, as in the model (copies spanning {SPAN:g}x the cache)")
    return ctx


class Rotation:
    """Calls a layer as a cold-context isolation window does: each call on the next of the
    layer's copies, its output kept among the last ones so the next call writes fresh memory.
    Copies are made here (and dropped with this object); a layer that cannot be deep-copied
    runs on its own weights (``why`` says so)."""

    def __init__(self, module: Any, cache: int):
        self.cache, self.why = cache, ""
        wb = nbytes(_state(module))
        k = 1 if wb == 0 or wb >= SPAN * cache else min(MAX_COPIES, math.ceil(SPAN * cache / wb))
        self.modules = [module]
        try:
            self.modules += [copy.deepcopy(module) for _ in range(k - 1)]
        except Exception as exc:  # a module holding something that cannot be copied
            self.why = f"could not copy the layer ({type(exc).__name__}: {exc}): its weights stayed warm"
            log.info("%s: %s", type(module).__name__, self.why)
        self.weight_bytes = wb
        self.outputs: Optional[collections.deque] = None
        self.i = 0

    @property
    def filling(self) -> int:
        """Calls still to make before the rotation's steady state, where each call writes memory
        that a call before it freed: the kept outputs all there, then REUSE_CALLS more (the call
        after a full rotation takes one more block from the allocator, fresh pages, before the
        oldest is freed). Unknown before the first call, counted as one."""
        if self.outputs is None:
            return 1
        keep = self.outputs.maxlen or 0
        return max(0, keep + REUSE_CALLS - self.i) if keep else 0

    @property
    def copies(self) -> List[int]:
        return [len(self.modules), (self.outputs.maxlen or 0) if self.outputs is not None else 0]

    def __call__(self, args: tuple, kwargs: Dict[str, Any]) -> Any:
        m = self.modules[self.i % len(self.modules)]
        self.i += 1
        out = m(*args, **kwargs)
        if self.outputs is None:  # sized on the first call, once the output is known
            inputs = {_address(t) for t in tensors((args, kwargs))}
            ob = nbytes([t for t in tensors(out) if _address(t) not in inputs])  # not an in-place result
            keep = 0 if ob == 0 else min(MAX_COPIES, math.ceil(SPAN * self.cache / (ob + self.weight_bytes)))
            self.outputs = collections.deque(maxlen=keep)
        if self.outputs.maxlen:
            self.outputs.append(out)
        return out


__all__ = ["CACHE_CONTEXTS", "CacheContext", "Rotation", "cache_bytes", "cpu_cache_bytes", "plan"]
