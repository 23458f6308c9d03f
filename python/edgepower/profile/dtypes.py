"""Numeric precision of a profile: casting a model and its inputs (float16, bfloat16, dynamic int8
quantization of Linear layers) and naming what a model and its inputs compute in.

The report records both (``meta["dtype"]``, ``meta["input_dtypes"]``), so an FP32 and a BF16
profile of the same model can be told apart and compared (:meth:`edgepower.report.Report.compare`).
"""
from __future__ import annotations

import warnings
from collections import Counter
from typing import Any, Dict, List, Tuple

import torch

from .capture import tensors

from ..dtype_names import DTYPES, dtype_name



def check_dtype(name: Any) -> str:
    """The canonical precision name (``float32``, ``float16``, ``bfloat16``, ``int8``) for a name,
    an alias (``fp16``, ``half``, ``bf16``) or a ``torch.dtype``; ValueError listing the choices
    otherwise."""
    return dtype_name(name)


def _cast_floats(obj: Any, dtype: torch.dtype) -> Any:
    """Floating-point tensors cast to ``dtype``; integer tensors (token ids, masks) and other
    values kept."""
    if isinstance(obj, torch.Tensor):
        return obj.to(dtype) if obj.is_floating_point() else obj
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(_cast_floats(o, dtype) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cast_floats(o, dtype) for o in obj)
    if isinstance(obj, dict):
        return {k: _cast_floats(v, dtype) for k, v in obj.items()}
    return obj


def int8_support(device: str = "cpu") -> Tuple[bool, str]:
    """Whether torch can run dynamically quantized int8 Linear layers on ``device``, and why not."""
    if not str(device).startswith("cpu"):
        return False, (f"dynamic int8 quantization runs on the CPU only (torch's quantized::linear_dynamic has no "
                       f"{device} kernel); use --device cpu, or --dtype float16/bfloat16 on {device}")
    if not hasattr(getattr(torch, "ao", None), "quantization") or \
            not hasattr(torch.ao.quantization, "quantize_dynamic"):
        return False, (f"torch {torch.__version__} has no torch.ao.quantization.quantize_dynamic (moved to the "
                       "torchao package); quantize the model yourself and pass it to LayerProfiler")
    engines = [e for e in torch.backends.quantized.supported_engines if e != "none"]
    if not engines:
        return False, "this torch build has no quantized engine (torch.backends.quantized.supported_engines is empty)"
    return True, ""


def cast(model: Any, args: tuple, kwargs: Dict[str, Any], dtype: str,
         device: str = "cpu") -> Tuple[Any, tuple, Dict[str, Any]]:
    """The model and its inputs in ``dtype``.

    ``float32``/``float16``/``bfloat16``: the model's floating-point parameters and buffers and the
    floating-point input tensors are cast (integer inputs such as token ids and attention masks
    are kept). ``int8``: dynamic quantization of every ``torch.nn.Linear`` (weights int8,
    activations quantized per batch at run time; :func:`torch.ao.quantization.quantize_dynamic`),
    on the CPU only; the other layers and the inputs stay float32. The model is modified in place
    for float types; int8 returns a quantized copy.

    Raises
    ------
    ValueError
        An unknown dtype, or int8 where torch cannot run it (the message says why and what to use).
    """
    name = check_dtype(dtype)
    if name == "int8":
        ok, why = int8_support(device)
        if not ok:
            raise ValueError(why)
        if not any(isinstance(m, torch.nn.Linear) for m in model.modules()):
            raise ValueError(f"--dtype int8 quantizes Linear layers dynamically, and {type(model).__name__} has none; "
                             "use float16 or bfloat16")
        model = model.float()
        with warnings.catch_warnings():
            # torch deprecates torch.ao.quantization for torchao but still ships and runs it; the
            # warnings would repeat on every profile.
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.ao.quantization.*")
            warnings.filterwarnings("ignore", category=UserWarning, message=".*quantize_per_tensor.*")
            quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        return quantized, _cast_floats(args, torch.float32), _cast_floats(kwargs, torch.float32)
    target = getattr(torch, name)
    return model.to(target), _cast_floats(args, target), _cast_floats(kwargs, target)


def _dynamic_int8(module: Any) -> bool:
    # Dynamically quantized Linear (torch.ao.nn.quantized.dynamic.Linear) keeps packed int8
    # weights instead of parameters and says its dtype.
    return hasattr(module, "_packed_params") and getattr(module, "dtype", None) == torch.qint8


def model_dtype(model: Any) -> str:
    """What the model computes in: ``int8`` when Linear layers are dynamically quantized, else the
    dtype of most of its floating-point parameters (``float32``, ``bfloat16``...); '' without
    any."""
    if any(_dynamic_int8(m) for m in model.modules()):
        return "int8"
    counts: Counter = Counter()
    for p in model.parameters():
        if p.is_floating_point():
            counts[str(p.dtype).replace("torch.", "")] += p.numel()
    return counts.most_common(1)[0][0] if counts else ""


def input_dtypes(args: tuple, kwargs: Dict[str, Any]) -> List[str]:
    """dtype names of the input tensors in argument order, e.g. ``["int64", "int64"]`` for token
    ids and an attention mask."""
    return [str(t.dtype).replace("torch.", "") for t in tensors((tuple(args), dict(kwargs)))]


__all__ = ["DTYPES", "cast", "check_dtype", "input_dtypes", "int8_support", "model_dtype"]
