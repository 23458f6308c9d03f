"""Warnings about what the sampler flagged in the readings (PowerMonitor.stop())."""
from __future__ import annotations

import warnings
from typing import Dict


def warn_about_readings(st: Dict[str, object]) -> None:
    """Warns about readings the sampler flagged: negative power and counter resets, per rail."""
    for rail, n in st.get("negative_power_per_rail", {}).items():  # type: ignore[union-attr]
        if n:
            warnings.warn(f"rail {rail!r} gave {n} negative power reading(s): check the sensor's wiring, "
                          f"shunt or sign convention; energy over them is taken as measured", RuntimeWarning,
                          stacklevel=3)
    for rail, n in st.get("counter_resets_per_rail", {}).items():  # type: ignore[union-attr]
        if n:
            warnings.warn(f"rail {rail!r}: the energy counter reset {n} time(s) ({st.get('last_counter_reset')}); "
                          f"windows across a reset are NaN, not integrated", RuntimeWarning, stacklevel=3)


__all__ = ["warn_about_readings"]
