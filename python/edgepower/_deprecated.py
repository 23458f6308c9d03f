"""Deprecated module names of edgepower 0.1, kept for one release (see CHANGELOG.md).

Each old module (``edgepower.methods``, ``.profiler``, ``.insitu``, ``.presets``, ``.accuracy``)
is a thin module that calls :func:`moved` and re-exports the names from their new homes.
"""
from __future__ import annotations

import warnings


def moved(old: str, new: str) -> None:
    """Warns once per import that module ``old`` is now ``new``."""
    warnings.warn(f"{old} is deprecated and will be removed in edgepower 0.3: import from {new} instead "
                  "(see CHANGELOG.md)", DeprecationWarning, stacklevel=3)


__all__ = ["moved"]
