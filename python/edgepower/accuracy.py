"""Deprecated: the accuracy harness is :mod:`edgepower.testing.accuracy`."""
from __future__ import annotations

from ._deprecated import moved
from .testing.accuracy import *  # noqa: F401,F403
from .testing.accuracy import __all__  # noqa: F401

moved("edgepower.accuracy", "edgepower.testing.accuracy")
