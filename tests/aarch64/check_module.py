"""Run by scripts/test-aarch64.sh with Debian's arm64 Python under qemu-aarch64: the edgepower
package with its pybind11 module cross-built for aarch64 imports and measures right. Exits
non-zero (AssertionError) on any mismatch. Not collected by pytest (tests/python is)."""
import math
import os
import platform
import sys
import time

import edgepower
from edgepower import _core

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "sensors")

assert platform.machine() == "aarch64", platform.machine()
assert _core.__file__.endswith(".cpython-311-aarch64-linux-gnu.so"), _core.__file__

# A known constant power: the window's energy is 5 W x its duration (trapezoid of a constant).
with edgepower.PowerMonitor("constant:5", rate_hz=500, realtime=False) as mon:
    mon.begin_window("w")
    time.sleep(0.3)
    m = mon.end_window("w")
assert m.ok, m.reason
assert abs(m.energy_j - 5.0 * m.duration_s) <= 1e-9 * m.energy_j, (m.energy_j, m.duration_s)
assert m.num_samples >= 10, m.num_samples
st = mon.stats()
assert st["samples"] > 10 and st["read_errors"] == 0, st

# The Jetson Nano reader on the fixture tree (mW files): the values the files hold, in W.
s = edgepower.create_sensor("jetson-iio", root=os.path.join(DATA, "nano"))
power, _ = s.read()
assert list(s.info.rails) == ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"], s.info.rails
assert abs(power[0] - 3.120) < 1e-12 and abs(power[1] - 0.480) < 1e-12, power
assert math.isclose(power[2], 4.976 * 0.180, rel_tol=1e-12), power  # no power file: V x I

kinds = {r["kind"]: r for r in edgepower.sensors()}  # discovery never raises
assert kinds["constant"]["available"] and not kinds["jetson-hwmon"]["available"]
print(f"aarch64 module OK: Python {sys.version.split()[0]} on {platform.machine()}, numpy "
      f"{__import__('numpy').__version__}; {m.energy_j:.4f} J over {m.duration_s:.3f} s at 5 W; "
      f"{st['samples']} samples at {st['achieved_rate_hz']:.0f} Hz")
