"""The precisions ``edgepower profile --dtype`` casts to, by name. No torch here: the command line
checks ``--dtype`` while it parses, before torch is imported (``edgepower.cli.threads``)."""
from __future__ import annotations

from typing import Any

#: Precisions ``edgepower profile --dtype`` casts to.
DTYPES = ("float32", "float16", "bfloat16", "int8")

ALIASES = {"float32": "float32", "fp32": "float32", "float": "float32",
           "float16": "float16", "fp16": "float16", "half": "float16",
           "bfloat16": "bfloat16", "bf16": "bfloat16",
           "int8": "int8", "qint8": "int8"}


def dtype_name(name: Any) -> str:
    """The canonical name of a precision name or alias, or a ValueError listing the choices.
    A ``torch.dtype`` is named by its ``str`` (``torch.float16``)."""
    key = str(name).strip().lower() if isinstance(name, str) or type(name).__name__ == "dtype" else None
    if key is not None and key.startswith("torch."):
        key = key[len("torch."):]
    if key not in ALIASES:
        raise ValueError(f"unknown dtype {name!r}; use one of {', '.join(DTYPES)} (aliases: fp32, fp16, half, bf16)")
    return ALIASES[key]


__all__ = ["ALIASES", "DTYPES", "dtype_name"]
