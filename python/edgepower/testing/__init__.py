"""Emulated sensors with exact ground truth, to check a set-up or a method without hardware.

Three emulators, all driven by a *source*: a synthetic sensor whose power (and its exact
integral) is known, usually a :class:`RegionSource` whose power follows the active region on a
timeline, so the emulator knows exactly which layer is running.

- :class:`Ina3221`: a software INA3221 that runs its own thread and maintains a jetson-hwmon
  sysfs tree (``<root>/sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon0/...``) while it runs.
  The real ``jetson-hwmon`` sensor reads it unchanged (``create_sensor("jetson-hwmon",
  root=emu.root)``). It models the chip: channels converted in turn (a register refreshes every
  C x (bus + shunt) conversion time), the running-average filter ``out += (new - out) / N``,
  8 mV bus and 40 uV / R_shunt current quantisation, Gaussian noise per conversion.
- :func:`nvml_counter`: an energy counter (whole mJ) that steps every 100 ms, like
  ``nvmlDeviceGetTotalEnergyConsumption``.
- :func:`nvml_instant`: an instant power reading that, every 100 ms, becomes the mean of the
  last 25 ms, as measured on A100/H100 (Yang et al., SC'24): 75 % of the time is never seen.

Examples
--------
>>> import edgepower, edgepower.testing as ept                        # doctest: +SKIP
>>> src = ept.RegionSource({"busy:conv": 6.0}, idle_w=2.0)            # doctest: +SKIP
>>> with ept.Ina3221(src, averages=512, conversion_s=140e-6) as emu:   # doctest: +SKIP
...     mon = edgepower.PowerMonitor(emu.sensor(), timeline=src.timeline)
...     ...  # measure, then compare with emu.true_energy_j(t0_ns, t1_ns)

``python -m edgepower accuracy`` (docs/accuracy.md) runs the layer profiler against each of
them and prints the error per layer.

Modules: :mod:`.emulators` (the emulators, the region source, the busy model) and
:mod:`.accuracy` (the error table of ``edgepower accuracy``).
"""
from __future__ import annotations

from .emulators import AVERAGES, CONVERSION_TIMES_S, Ina3221, RegionSource, busy_model, nvml_counter, nvml_instant

__all__ = ["AVERAGES", "CONVERSION_TIMES_S", "Ina3221", "RegionSource", "busy_model", "nvml_counter", "nvml_instant"]
