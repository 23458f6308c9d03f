"""Energy from samples: every estimator lives here, as functions over arrays (numeric loops in
the native core).

- :mod:`.window`: the plain energy of a window, per rail (trapezoid or counter difference);
- :mod:`.estimators`: sensor-aware estimators (lag, guard, counter steps) and :class:`Estimator`;
- :mod:`.attribution`: in-situ attribution (refresh fitting, observation lag, assignment);
- :mod:`.deconvolution`: in-situ attribution by deconvolution through the sensor's kernel (NNLS);
- :mod:`.repeats`: per-round figures over repeated windows and their 95 % CI.

A new estimator is a function in :mod:`.estimators` and a name in :data:`METHODS`.
"""
from __future__ import annotations

from .attribution import Assignment, assign_readings, shift_to_observation, update_times
from .deconvolution import Deconvolved, deconvolve
from .refresh_grid import deconvolve_report, fit_refresh_grid
from .estimators import (METHODS, Estimator, counter_step_energy, counter_steps, estimate, guard_energy,
                         lag_energy, plain_energy, resolve, unwrap_counter)
from .repeats import PerRound, combine, material, mean_ci, per_round
from .window import WindowEnergy, window_energy

__all__ = ["Assignment", "Deconvolved", "Estimator", "METHODS", "PerRound", "WindowEnergy", "assign_readings",
           "combine", "counter_step_energy", "counter_steps", "deconvolve", "deconvolve_report", "estimate",
           "fit_refresh_grid", "guard_energy", "lag_energy", "material", "mean_ci",
           "per_round", "plain_energy", "resolve", "shift_to_observation", "unwrap_counter", "update_times",
           "window_energy"]
