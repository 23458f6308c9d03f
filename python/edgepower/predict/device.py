"""The device key: what a latency or power figure is only true for.

A predictor is trained on one device and refuses another: the key holds the processor (CPU
model, or GPU / Jetson model and power mode), the torch threads, the torch version, the BLAS and
oneDNN builds and the dtype. Two keys match when every field in :data:`STRICT` is equal.
"""
from __future__ import annotations

import os
import platform
import re
from typing import Any, Dict, List

#: Fields that must be equal for a predictor to be used (the others are kept as provenance).
STRICT = ("kind", "processor", "threads", "torch", "blas", "dtype", "power_mode")


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace").replace("\x00", "").strip()
    except OSError:
        return ""


def cpu_model(root: str = "/") -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` is often empty)."""
    text = _read(os.path.join(root, "proc/cpuinfo"))
    m = re.search(r"^(model name|Hardware|Processor)\s*:\s*(.+)$", text, re.M)
    return (m.group(2).strip() if m else "") or platform.processor() or platform.machine() or "unknown cpu"


def jetson(root: str = "/") -> Dict[str, str]:
    """Jetson board model and nvpmodel power mode, empty when this is not a Jetson."""
    model = _read(os.path.join(root, "proc/device-tree/model"))
    if "jetson" not in model.lower() and "nvidia" not in model.lower():
        return {}
    status = _read(os.path.join(root, "var/lib/nvpmodel/status"))  # e.g. "pmode:0001 fmode:..."
    m = re.search(r"pmode:(\d+)", status)
    return {"board": model, "power_mode": str(int(m.group(1))) if m else "unknown"}


def _blas() -> str:
    import torch

    cfg = torch.__config__.show()
    parts = []
    m = re.search(r"BLAS_INFO=(\w+)", cfg)
    parts.append(m.group(1) if m else "unknown")
    m = re.search(r"MKL-DNN v([\d.]+)", cfg)
    if m:
        parts.append(f"onednn {m.group(1)}")
    return ", ".join(parts)


def device_key(device: Any = "cpu", dtype: str = "float32", root: str = "/") -> Dict[str, Any]:
    """The key of this machine for a model on ``device`` computing in ``dtype``.

    Parameters
    ----------
    device : torch.device or str
        Where the model runs (``cpu``, ``cuda:0``).
    dtype : str
        The dtype the layers compute in (``float32``, ``float16``).
    root : str
        Filesystem root for /proc and /var (fixture trees in tests).
    """
    import torch

    dev = torch.device(device)
    key: Dict[str, Any] = {"kind": dev.type, "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__,
                           "threads": torch.get_num_threads(), "blas": _blas(), "power_mode": ""}
    jet = jetson(root)
    if dev.type == "cuda":
        key["processor"] = torch.cuda.get_device_name(dev)
        key["threads"] = 0  # the CPU thread count does not set a GPU kernel's time
        key["blas"] = f"cuda {torch.version.cuda}, cudnn {torch.backends.cudnn.version()}"
    else:
        key["processor"] = cpu_model(root)
    if jet:
        key["board"] = jet["board"]
        key["power_mode"] = jet["power_mode"]
    key["host"] = platform.node()
    return key


def mismatches(trained: Dict[str, Any], here: Dict[str, Any]) -> List[str]:
    """Human-readable differences in the :data:`STRICT` fields (empty: the keys match)."""
    out = []
    for k in STRICT:
        a, b = trained.get(k, ""), here.get(k, "")
        if str(a) != str(b):
            out.append(f"{k}: trained on {a!r}, here {b!r}")
    return out


__all__ = ["STRICT", "cpu_model", "device_key", "jetson", "mismatches"]
