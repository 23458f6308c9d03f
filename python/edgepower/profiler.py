"""Deprecated: the layer profiler is :mod:`edgepower.profile`."""
from __future__ import annotations

from ._deprecated import moved
from .profile import MODEL_LABEL, UNATTRIBUTED_LABEL, CallSite, LayerProfiler, Progress, describe_inputs, profile_layers

moved("edgepower.profiler", "edgepower.profile")

__all__ = ["CallSite", "LayerProfiler", "MODEL_LABEL", "Progress", "UNATTRIBUTED_LABEL", "describe_inputs",
           "profile_layers"]
