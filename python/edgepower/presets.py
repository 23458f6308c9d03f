"""Deprecated: layer selection is :mod:`edgepower.profile.presets`."""
from __future__ import annotations

from ._deprecated import moved
from .profile.presets import *  # noqa: F401,F403
from .profile.presets import __all__  # noqa: F401

moved("edgepower.presets", "edgepower.profile.presets")
