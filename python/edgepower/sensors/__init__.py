"""Sensors: kinds, spec strings, discovery, and what the pipeline must know about a sensor.

A sensor is named by a spec string ``kind[:arg,arg,key=value,...]``, for example
``constant:5``, ``square:low=2,high=8,period=0.1`` or ``jetson-hwmon``. :func:`create_sensor`
turns a spec into a native sensor; :func:`sensors` lists every kind with whether it is available
here and why not. Discovery never raises; using an unavailable sensor raises
:class:`SensorUnavailable` with the reason and the fix.

- :mod:`.registry`: the kinds, spec parsing, construction, discovery;
- :mod:`.builtin`: the built-in kinds (a new sensor kind goes here, its native reader in
  ``csrc/core/sensors/``);
- :mod:`.info`: the board-total rule and whether counters are the measurement;
- :mod:`.model`: :class:`SensorModel`, how a reading relates to the true power.
"""
from __future__ import annotations

from . import builtin as _builtin  # noqa: F401  (registers the built-in kinds)
from .info import board_total, total_rail_name, uses_counter
from .model import SensorModel, model_for
from .registry import (Sensor, SensorError, SensorKind, SensorUnavailable, create_sensor, kinds, parse_spec,
                       register_kind, sensors)

__all__ = ["Sensor", "SensorError", "SensorKind", "SensorModel", "SensorUnavailable", "board_total", "create_sensor",
           "kinds", "model_for", "parse_spec", "register_kind", "sensors", "total_rail_name", "uses_counter"]
