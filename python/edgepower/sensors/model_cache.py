"""The identified sensor models, kept per board and configuration so identification runs once.

An identification (:mod:`.identify`) is stored as one JSON file under
``~/.cache/edgepower/models/`` (``$EDGEPOWER_MODEL_CACHE`` overrides the directory; ``off``
disables the cache), named by a hash of what identifies the board and the sensor's
configuration: the board model (``<root>/proc/device-tree/model``), the sensor's device
directory, and the sysfs values the identification started from (``samples``,
``update_interval``, the labelled channels). A reconfigured chip has other sysfs values, so it
gets its own entry; :func:`forget` removes one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Dict, Optional

from .identify import Identification

log = logging.getLogger("edgepower")

ENV = "EDGEPOWER_MODEL_CACHE"


def cache_dir() -> Optional[str]:
    """The cache directory, or None when ``$EDGEPOWER_MODEL_CACHE`` is ``off``."""
    d = os.environ.get(ENV, "").strip()
    if d.lower() in ("off", "0", "none", "no"):
        return None
    return d or os.path.join(os.path.expanduser("~"), ".cache", "edgepower", "models")


def board_model(root: str = "/") -> str:
    """The board's model string from the device tree (Jetsons), or ``""``."""
    try:
        with open(os.path.join(root, "proc/device-tree/model"), "rb") as f:
            return f.read().rstrip(b"\0\n").decode(errors="replace")
    except OSError:
        return ""


def cache_key(values: Dict[str, Any]) -> str:
    """A file name for these identifying values (sorted JSON, SHA-256, 24 hex digits)."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _path(values: Dict[str, Any]) -> Optional[str]:
    d = cache_dir()
    return None if d is None else os.path.join(d, cache_key(values) + ".json")


def load(values: Dict[str, Any]) -> Optional[Identification]:
    """The identification stored for these values, or None (also for an unreadable entry,
    which is logged and ignored)."""
    path = _path(values)
    if path is None or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            d = json.load(f)
        if d.get("key") != values:
            return None
        return Identification.from_dict(d["identification"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable sensor model cache entry %s (%s); it will be identified again", path, exc)
        return None


def save(values: Dict[str, Any], ident: Identification) -> Optional[str]:
    """Stores an identification (atomically); returns the file, or None when the cache is off
    or not writable (logged)."""
    path = _path(values)
    if path is None:
        return None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({"key": values, "identification": ident.as_dict()}, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return path
    except OSError as exc:
        log.warning("cannot write the sensor model cache %s (%s); the model will be identified again next time",
                    path, exc)
        return None


def forget(values: Dict[str, Any]) -> bool:
    """Removes the entry for these values; returns whether there was one."""
    path = _path(values)
    if path is None or not os.path.exists(path):
        return False
    os.remove(path)
    return True


__all__ = ["ENV", "board_model", "cache_dir", "cache_key", "forget", "load", "save"]
