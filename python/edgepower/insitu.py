"""Deprecated: in-situ mode is :mod:`edgepower.profile.insitu` (hooks in :mod:`edgepower.profile.hooks`),
its attribution :mod:`edgepower.energy.attribution`."""
from __future__ import annotations

from ._deprecated import moved
from .energy.attribution import shift_to_observation, update_times
from .profile.hooks import event_marks
from .profile.options import MODES, check_mode

moved("edgepower.insitu", "edgepower.profile.insitu and edgepower.energy.attribution")

__all__ = ["MODES", "check_mode", "event_marks", "shift_to_observation", "update_times"]
