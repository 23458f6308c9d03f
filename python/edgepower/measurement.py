"""Result types: a measured window and a block of samples."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, NamedTuple, Optional

import numpy as np


class Samples(NamedTuple):
    """Samples copied out of the sampler, as NumPy arrays (no per-sample Python objects).

    Attributes
    ----------
    t_ns : int64 [n]
        CLOCK_MONOTONIC nanoseconds, taken right after each read.
    power_w : float64 [n, n_rails]
        Power per rail in watts (NaN where the sensor gives none).
    counter_j : float64 [n, n_rails] or [0, n_rails]
        Raw energy counters in joules (may wrap), empty when the sensor has none.
    read_ns, lateness_ns : int32 [n]
        How long each read took and how late the sampler woke for it.
    rails : list of str
        Rail names, one per column.
    """

    t_ns: np.ndarray
    power_w: np.ndarray
    counter_j: np.ndarray
    read_ns: np.ndarray
    lateness_ns: np.ndarray
    rails: List[str]

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.t_ns.shape[0])


@dataclass
class Measurement:
    """Energy of one window.

    ``energy_j`` is the board total: the sensor's total rail when it has one, else the sum of
    the rails. It is NaN, with ``reason`` set, when the samples do not cover the window: never a
    silent 0. ``net_energy_j`` subtracts ``idle_power_w * duration_s`` when an idle baseline is
    known.
    """

    name: str
    t0_ns: int
    t1_ns: int
    duration_s: float
    energy_j: float
    avg_power_w: float
    energy_per_rail_j: Dict[str, float]
    num_samples: int
    sensor: str
    estimated: bool
    method: str  # "trapezoid" (power samples) or "counter" (energy counter difference)
    idle_power_w: Optional[float] = None
    reason: str = ""
    provenance: Dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the energy is a number."""
        return math.isfinite(self.energy_j)

    @property
    def net_energy_j(self) -> float:
        """Energy above the idle baseline (NaN when no baseline is known)."""
        if self.idle_power_w is None:
            return math.nan
        return self.energy_j - self.idle_power_w * self.duration_s

    def to_dict(self) -> Dict[str, object]:
        d = asdict(self)
        d["net_energy_j"] = self.net_energy_j
        return d

    def __str__(self) -> str:
        tag = " (estimated)" if self.estimated else ""
        if not self.ok:
            return f"{self.name}: {self.duration_s:.4f} s, energy unavailable: {self.reason}"
        return (f"{self.name}: {self.duration_s:.4f} s | {self.energy_j:.4f} J | "
                f"{self.avg_power_w:.3f} W | {self.num_samples} samples{tag}")

    def _repr_html_(self) -> str:
        from .export.html import measurement_html

        return measurement_html(self)

@dataclass
class WindowResult:
    """What ``with monitor.window(name) as w:`` gives: ``w.measurement`` once the block ends."""

    name: str
    measurement: Optional[Measurement] = None

    @property
    def energy_j(self) -> float:
        """The window's energy (NaN while it is open)."""
        return self.measurement.energy_j if self.measurement is not None else math.nan
