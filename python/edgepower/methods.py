"""Deprecated: sensor models are in :mod:`edgepower.sensors`, estimators in :mod:`edgepower.energy`,
:class:`CompensatedMonitor` in :mod:`edgepower.monitor`, :class:`PhaseShift` in :mod:`edgepower.profile`."""
from __future__ import annotations

from ._deprecated import moved
from .energy.estimators import (METHODS, counter_step_energy, counter_steps, estimate, guard_energy, lag_energy,
                                plain_energy, resolve)
from .monitor import CompensatedMonitor
from .profile.phase import PhaseShift
from .sensors.model import SensorModel, model_for

moved("edgepower.methods", "edgepower.energy, edgepower.sensors, edgepower.monitor and edgepower.profile")

#: The old name of :func:`edgepower.energy.counter_step_energy`.
counter_energy = counter_step_energy

__all__ = ["CompensatedMonitor", "METHODS", "PhaseShift", "SensorModel", "counter_energy", "counter_steps",
           "estimate", "guard_energy", "lag_energy", "model_for", "plain_energy", "resolve"]
