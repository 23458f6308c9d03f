"""The models ``edgepower profile`` builds (VGG, DistilBERT, a user's factory) and how they are
put on a device and cast to a precision (``--device``, ``--dtype``).

Models are built with random weights: nothing is downloaded (the tool works offline), and the
energy of a layer depends on its shapes and kernels far more than on its weight values.
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from typing import Any, Dict, Tuple

_VGG = re.compile(r"^vgg(11|13|16|19)(_bn)?$")


def need(module: str, what: str):
    """The module ``module``, or a ValueError saying that ``what`` needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"{what} needs the {module} package ({exc}); install it with `pip install {module}`") from None


def build_model(spec: str, batch_size: int, image_size: int, seq_len: int) -> Tuple[Any, tuple, Dict[str, Any], str, str]:
    """(model, args, kwargs, description, default layer preset) for a MODEL argument."""
    torch = need("torch", "edgepower profile")
    name = spec.strip()
    if _VGG.match(name.lower()):
        tv = need("torchvision", f"model {name}")
        if image_size < 32:
            raise ValueError(f"--image-size must be >= 32 for VGG (five 2x2 poolings), got {image_size}")
        model = getattr(tv.models, name.lower())(weights=None)
        x = torch.randn(batch_size, 3, image_size, image_size)
        return model, (x,), {}, f"torchvision {name.lower()} (weights=None)", "vgg"
    if name.lower() == "distilbert":
        tf = need("transformers", "model distilbert")
        config = tf.DistilBertConfig()
        if seq_len < 1 or seq_len > config.max_position_embeddings:
            raise ValueError(f"--seq-len must be 1 to {config.max_position_embeddings}, got {seq_len}")
        model = tf.DistilBertForSequenceClassification(config)
        ids = torch.randint(0, config.vocab_size, (batch_size, seq_len))
        mask = torch.ones(batch_size, seq_len, dtype=torch.long)
        return (model, (ids,), {"attention_mask": mask},
                "Hugging Face DistilBertForSequenceClassification(DistilBertConfig())", "distilbert")
    if ":" in name:
        mod_name, _, fn_name = name.partition(":")
        if os.getcwd() not in sys.path:  # like `python -m`: models next to the user are importable
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(mod_name)
        except ImportError as exc:
            raise ValueError(f"cannot import {mod_name!r} for MODEL {name!r}: {exc}") from None
        factory = getattr(module, fn_name, None)
        if not callable(factory):
            raise ValueError(f"{mod_name} has no callable {fn_name!r}; MODEL is module.path:factory")
        try:
            takes_batch = "batch_size" in inspect.signature(factory).parameters
        except (TypeError, ValueError):
            takes_batch = False
        out = factory(batch_size=batch_size) if takes_batch else factory()
        if not isinstance(out, tuple) or len(out) not in (2, 3):
            raise ValueError(f"{name}() must return (model, inputs) or (model, args, kwargs), got "
                             f"{type(out).__name__}")
        model = out[0]
        if len(out) == 3:
            args, kwargs = tuple(out[1]), dict(out[2])
        elif isinstance(out[1], dict):
            args, kwargs = (), dict(out[1])
        elif isinstance(out[1], (tuple, list)):
            args, kwargs = tuple(out[1]), {}
        else:
            args, kwargs = (out[1],), {}
        return model, args, kwargs, f"{name}()", None
    raise ValueError(f"unknown MODEL {spec!r}: use vgg11 (or vgg13/16/19[_bn]), distilbert, or module.path:factory")


def check_device(device: str, dtype: str = "float32") -> str:
    """The device to use for ``--device`` (``auto``: CUDA when torch sees it) and ``--dtype``, or a
    ValueError saying what to use instead; builds nothing."""
    import torch

    from ..profile.dtypes import check_dtype, int8_support

    dtype = check_dtype(dtype)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() and dtype != "int8" else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device}, but torch sees no CUDA device (torch.cuda.is_available() is False)")
        index = torch.device(device).index
        if index is not None and index >= torch.cuda.device_count():
            raise ValueError(f"--device {device}, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    if dtype == "int8":
        ok, why = int8_support(device)
        if not ok:
            raise ValueError(f"--dtype int8: {why}")
    return device


def skeleton(spec: str) -> Any:
    """The module tree of a built-in MODEL (VGG, DistilBERT) on torch's meta device: no weights,
    no inputs, built in milliseconds, so ``--layers``/``--depth`` are checked before the model
    is; None for a factory (its modules are known only once it has run)."""
    import torch

    name = spec.strip().lower()
    if _VGG.match(name):
        tv = need("torchvision", f"model {name}")
        with torch.device("meta"):
            return getattr(tv.models, name)(weights=None)
    if name == "distilbert":
        tf = need("transformers", "model distilbert")
        with torch.device("meta"):
            return tf.DistilBertForSequenceClassification(tf.DistilBertConfig())
    return None


def _to_device(obj: Any, device: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(o, device) for o in obj)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    return obj


def prepare_model(model: Any, args: tuple, kwargs: Dict[str, Any], device: str,
                  dtype: str = "float32") -> Tuple[Any, tuple, Dict[str, Any], str]:
    """The model and inputs on ``device`` (``auto``: CUDA when torch sees it) in ``dtype``
    (:func:`edgepower.profile.dtypes.cast`); returns them and the device used. Every problem is a
    ValueError that says what to use instead."""
    from ..profile.dtypes import cast, check_dtype

    dtype = check_dtype(dtype)
    device = check_device(device, dtype)
    model = model.to(device)
    args, kwargs = _to_device(args, device), _to_device(kwargs, device)
    model, args, kwargs = cast(model, args, kwargs, dtype, device)
    return model, args, kwargs, device


__all__ = ["build_model", "check_device", "need", "prepare_model", "skeleton"]
