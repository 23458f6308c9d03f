"""Power and energy from energy counters (csrc/core/sensors/counter_power and the counter path of
csrc/core/energy) on hwmon and RAPL fixture sensors whose counter files the test rewrites: exact
counter energy, wraps, and derived power bounded by when the reads happened."""
from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import pytest

from edgepower import _core

from conftest import fixture_tree, wait_until

ENERGY1 = "sys/class/hwmon/hwmon0/energy1_input"  # 123000000 uJ
ENERGY2 = "sys/class/hwmon/hwmon0/energy2_input"  # 456000000 uJ
RAPL_PKG = "sys/class/powercap/intel-rapl:0/energy_uj"  # 262143000000 uJ, wraps at 262143328850
RAPL_RANGE_J = 262143.32885
# uJ -> J in double arithmetic rounds at 1e-16 relative; at 2.6e5 J that is 3e-11 J.
ROUNDING_J = 1e-9


def overwrite(path: Path, text: str) -> None:
    """Replaces the file's value in one pwrite, padded with newlines to the old length: a sensor
    reading concurrently sees the old or the new value, never an empty file (as with a sysfs
    attribute)."""
    old = path.stat().st_size
    data = (text + "\n" * max(0, old - len(text))).encode()
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, 0)
        if len(data) < old:
            os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def sampled_step(sensor, change) -> dict:
    """Samples `sensor` at 1 kHz; calls change() between two window edges t0 and t1, with
    samples after t0 before the change and after the change before t1, so the counter is flat
    around both edges and interpolation there is exact; returns the samples and the edges."""
    sampler = _core.Sampler(sensor, rate_hz=1000)
    sampler.start()
    try:
        assert wait_until(lambda: len(sampler) >= 5, timeout_s=10)
        t0 = _core.now_ns()
        assert wait_until(lambda: sampler.samples(sampler.index_at_or_after(t0))["t_ns"].size > 0, timeout_s=10)
        change()
        n = len(sampler)
        assert wait_until(lambda: len(sampler) >= n + 5, timeout_s=10)
        t1 = _core.now_ns()
        assert wait_until(lambda: sampler.samples(sampler.index_at_or_after(t1))["t_ns"].size > 0, timeout_s=10)
    finally:
        sampler.stop()
    s = sampler.samples()
    s.update(t0=t0, t1=t1)
    return s


def test_hwmon_counter_step_gives_exact_window_energy(tmp_path):
    root = fixture_tree(tmp_path, "hwmon")
    sensor = _core.HwmonSensor(root=root, name="amd_energy")
    assert sensor.info.has_counter and sensor.info.counter_range_j == 0

    def step():
        overwrite(Path(root, ENERGY1), "123500000")  # +0.5 J
        overwrite(Path(root, ENERGY2), "456250000")  # +0.25 J

    s = sampled_step(sensor, step)
    out = _core.counter_energy(s["t_ns"], s["counter_j"], 0.0, s["t0"], s["t1"])
    assert [r["status"] for r in out] == [0, 0]
    assert out[0]["energy_j"] == pytest.approx(0.5, abs=ROUNDING_J)
    assert out[1]["energy_j"] == pytest.approx(0.25, abs=ROUNDING_J)
    # Derived power: NaN until the counter first changes, then positive and held between changes.
    p = s["power_w"][:, 0]
    changed = np.flatnonzero(np.diff(s["counter_j"][:, 0]) != 0)
    assert changed.size == 1
    k = changed[0] + 1
    assert np.isnan(p[:k]).all()
    assert (p[k:] == p[k]).all() and p[k] > 0


def test_rapl_wrap_is_corrected_in_window_energy(tmp_path):
    root = fixture_tree(tmp_path, "rapl")
    sensor = _core.RaplSensor(root=root)
    assert sensor.info.counter_range_j == pytest.approx(RAPL_RANGE_J)
    # 0.32885 J up to the wrap, then 1 J past it.
    s = sampled_step(sensor, lambda: overwrite(Path(root, RAPL_PKG), "1000000"))
    c = s["counter_j"][:, 0]
    assert c[0] == pytest.approx(262143.0, abs=ROUNDING_J) and c[-1] == pytest.approx(1.0, abs=ROUNDING_J)
    r = _core.counter_energy(s["t_ns"], s["counter_j"], sensor.info.counter_range_j, s["t0"], s["t1"])[0]
    assert r["status"] == 0
    assert r["energy_j"] == pytest.approx(1.32885, abs=ROUNDING_J)


def bracketed_read(sensor):
    lo = time.monotonic_ns()
    p, c = sensor.read()
    hi = time.monotonic_ns()
    return lo, hi, list(p), list(c)


def test_derived_power_is_the_step_over_the_time_between_changes(tmp_path):
    # The sensor takes its own timestamp inside read(); bracketing each read with the clock
    # bounds the time between two counter changes, so P = dE / dt is bounded from both sides.
    root = fixture_tree(tmp_path, "hwmon")
    lo0 = time.monotonic_ns()
    sensor = _core.HwmonSensor(root=root, name="amd_energy")  # primes at discovery
    hi0 = time.monotonic_ns()
    _, _, p, c = bracketed_read(sensor)
    assert math.isnan(p[0]) and math.isnan(p[1])  # no change yet
    time.sleep(0.02)
    Path(root, ENERGY1).write_text("123500000\n")
    lo1, hi1, p, c = bracketed_read(sensor)
    assert c[0] == pytest.approx(123.5, abs=ROUNDING_J)
    assert 0.5 / ((hi1 - lo0) * 1e-9) <= p[0] <= 0.5 / ((lo1 - hi0) * 1e-9)
    assert math.isnan(p[1])  # rail 2 has its own change points
    time.sleep(0.02)
    _, _, held, _ = bracketed_read(sensor)
    assert held[0] == p[0]  # unchanged counter: the last power is held, not 0
    Path(root, ENERGY1).write_text("124500000\n")
    lo2, hi2, p2, _ = bracketed_read(sensor)
    assert 1.0 / ((hi2 - lo1) * 1e-9) <= p2[0] <= 1.0 / ((lo2 - hi1) * 1e-9)


def test_rapl_derived_power_across_a_wrap(tmp_path):
    root = fixture_tree(tmp_path, "rapl")
    lo0 = time.monotonic_ns()
    sensor = _core.RaplSensor(root=root)
    hi0 = time.monotonic_ns()
    time.sleep(0.02)
    Path(root, RAPL_PKG).write_text("1000000\n")
    lo1, hi1, p, c = bracketed_read(sensor)
    delta = 1.32885
    assert 0 < p[0]
    assert delta / ((hi1 - lo0) * 1e-9) * (1 - 1e-9) <= p[0] <= delta / ((lo1 - hi0) * 1e-9) * (1 + 1e-9)
