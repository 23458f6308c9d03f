"""The nvml sensor against a fake libnvidia-ml compiled here and loaded through the real dlopen
path (EDGEPOWER_NVML_LIBRARY; the fake_nvml fixture is in conftest.py). No GPU needed; tests that
need a real one are marked ``nvml``."""
from __future__ import annotations

import math
import time

import pytest

import edgepower
from edgepower.sensors import SensorUnavailable, create_sensor, sensors

FAKE_ENV = ("FAKE_NVML_DEVICE_COUNT", "FAKE_NVML_POWER_MW", "FAKE_NVML_AVERAGE_MW", "FAKE_NVML_ENERGY_STEP_MS",
            "FAKE_NVML_UNSUPPORTED", "FAKE_NVML_INIT_ERROR")


@pytest.fixture
def use_fake(fake_nvml, monkeypatch):
    for v in FAKE_ENV:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("EDGEPOWER_NVML_LIBRARY", fake_nvml["full"])
    return fake_nvml


def test_instant_power_and_counter(use_fake, monkeypatch):
    monkeypatch.setenv("FAKE_NVML_POWER_MW", "123000")
    monkeypatch.setenv("FAKE_NVML_ENERGY_STEP_MS", "5")
    s = create_sensor("nvml:index=0")
    i = s.info
    assert i.rails == ["gpu0"] and i.total_rail == 0
    assert i.has_counter and i.counter_range_j == 0
    assert i.details["library"] == use_fake["full"]
    assert i.details["gpu_name"] == "Fake GPU 0" and i.details["driver"] == "999.99-fake"
    assert "NVML_FI_DEV_POWER_INSTANT (186)" in i.details["power"]
    p0, c0 = s.read()
    assert p0[0] == pytest.approx(123.0)
    deadline = time.monotonic() + 5
    c1 = c0
    while c1[0] - c0[0] < 1.0 and time.monotonic() < deadline:
        time.sleep(0.002)
        _, c1 = s.read()
    steps = (c1[0] - c0[0]) / 0.615  # 123 W x 5 ms per counter step
    assert steps >= 2 and steps == pytest.approx(round(steps), abs=1e-9)


def test_power_usage_fallback_is_flagged(use_fake, monkeypatch):
    monkeypatch.setenv("FAKE_NVML_UNSUPPORTED", "instant,energy")
    monkeypatch.setenv("FAKE_NVML_AVERAGE_MW", "87500")
    s = create_sensor("nvml")
    assert not s.info.has_counter
    assert s.info.details["power_averaged"] == "1 s"
    assert "1 s average" in s.info.details["power"]
    assert s.read()[0][0] == pytest.approx(87.5)


def test_library_option_and_legacy_symbols(use_fake):
    s = create_sensor(f"nvml:library={use_fake['legacy']}")
    assert s.info.details["library"] == use_fake["legacy"]
    assert "no nvmlDeviceGetTotalEnergyConsumption" in s.info.details["counter"]
    assert s.info.details["power_averaged"] == "1 s"


def test_missing_symbol_names_symbol_and_library(use_fake):
    with pytest.raises(SensorUnavailable) as err:
        create_sensor(f"nvml:library={use_fake['nohandle']}")
    assert f"symbol 'nvmlDeviceGetHandleByIndex_v2' not found in library '{use_fake['nohandle']}'" in str(err.value)


def test_bad_index_and_bad_spec(use_fake, monkeypatch):
    monkeypatch.setenv("FAKE_NVML_DEVICE_COUNT", "2")
    assert create_sensor("nvml:1").info.rails == ["gpu1"]
    with pytest.raises(SensorUnavailable, match=r"GPU index 2 does not exist: NVML sees 2 GPU\(s\)"):
        create_sensor("nvml:index=2")
    with pytest.raises(ValueError, match="index must be a GPU index"):
        create_sensor("nvml:index=first")
    with pytest.raises(ValueError, match="does not take colour"):
        create_sensor("nvml:colour=green")


def test_auto_prefers_nvml_counter_and_listing_says_so(use_fake):
    assert create_sensor("auto", root="/nonexistent").info.kind == "nvml"
    row = {r["kind"]: r for r in sensors(root="/nonexistent")}["nvml"]
    assert row["available"] and row["units"] == "power W; energy counter J"
    assert math.isnan(row["update_interval_s"])  # NVML does not report it


def test_monitor_on_fake_gpu(use_fake, monkeypatch):
    monkeypatch.setenv("FAKE_NVML_POWER_MW", "250000")
    with edgepower.PowerMonitor(sensor="nvml", rate_hz=1000) as mon:
        deadline = time.monotonic() + 5
        while len(mon.sampler) < 1 and time.monotonic() < deadline:
            time.sleep(0.001)
        mon.begin_window("w")
        time.sleep(0.03)
        m = mon.end_window("w")
    assert m.ok, m.reason
    assert m.avg_power_w == pytest.approx(250.0)


def test_no_library_is_unavailable_with_the_fix(monkeypatch):
    monkeypatch.setenv("EDGEPOWER_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1")
    row = {r["kind"]: r for r in sensors()}["nvml"]
    assert not row["available"]
    assert "cannot load library '/nonexistent/libnvidia-ml.so.1'" in row["reason"]
    assert "EDGEPOWER_NVML_LIBRARY" in row["reason"]


@pytest.mark.nvml
def test_real_gpu():
    s = edgepower.create_sensor("nvml") if any(
        r["kind"] == "nvml" and r["available"] for r in sensors()) else None
    if s is None:
        pytest.skip("no NVIDIA GPU with NVML on this machine")
    p, _ = s.read()
    assert 0 < p[0] < 2000
