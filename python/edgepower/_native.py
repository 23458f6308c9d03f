"""Loads the compiled core, edgepower._core, with an error that says how to build it."""
from __future__ import annotations

try:
    from . import _core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "edgepower's compiled core (edgepower._core) is missing or cannot be loaded "
        f"({exc}). Build and install it from the source tree with `pip install .` "
        "(or `pip install -e .` for development); this needs a C++17 compiler and CMake. "
        "The README's test command `./scripts/test.sh` does all of it in a virtual environment."
    ) from exc

core = _core
__all__ = ["core"]
