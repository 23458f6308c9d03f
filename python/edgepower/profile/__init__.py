"""Profiling a model layer by layer: capture, a shared run, a mode that produces windows, rows.

- :mod:`.options`: the settings, validated once;
- :mod:`.presets`: which layers (leaves, a depth, names, VGG/DistilBERT presets);
- :mod:`.capture`: call sites and their real inputs;
- :mod:`.run`: the :class:`Run` both modes share (baseline, clean-up, provenance);
- :mod:`.isolation` and :mod:`.insitu` (+ :mod:`.hooks`): the two modes, which only produce
  windows (a new profiling mode is a module here with a ``measure(run)`` returning an
  :class:`~.run.Outcome`);
- :mod:`.rows`: report rows from windows; :mod:`.phase`: phase-shifted repeats;
- :mod:`.profiler`: :class:`LayerProfiler` and :func:`profile_layers`; :mod:`.partial`: the
  report of a profile cut short by Ctrl-C (:class:`ProfileInterrupted`).
"""
from __future__ import annotations

from .capture import MODEL_LABEL, UNATTRIBUTED_LABEL, CallSite, describe_inputs
from .options import MODES, InSituOptions, ProfileOptions
from .partial import ProfileInterrupted
from .phase import PhaseShift
from .presets import select_layers
from .profiler import LayerProfiler, profile_layers
from .run import Progress

__all__ = ["CallSite", "InSituOptions", "LayerProfiler", "MODEL_LABEL", "MODES", "PhaseShift", "ProfileInterrupted",
           "ProfileOptions", "Progress", "UNATTRIBUTED_LABEL", "describe_inputs", "profile_layers", "select_layers"]
