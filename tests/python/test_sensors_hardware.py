"""File-based sensors on the fixture trees in tests/data/sensors: values, totals, errors, auto."""
from __future__ import annotations

import math
import os
import shutil
import tempfile
import re
import time
from pathlib import Path

import pytest

import edgepower
from edgepower import _core, cli
from edgepower.sensors import SensorError, SensorUnavailable, create_sensor, sensors

from conftest import denied, fixture_tree

DATA = Path(__file__).resolve().parents[1] / "data" / "sensors"
ORIN0 = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"
RAPL_PKG = "sys/class/powercap/intel-rapl:0/energy_uj"


@pytest.fixture(autouse=True)
def _no_real_nvml(monkeypatch):
    # NVML ignores the root: point it at nothing so a GPU on the test machine cannot win "auto".
    monkeypatch.setenv("EDGEPOWER_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1")


tree = fixture_tree


def read(sensor):
    p, c = sensor.read()
    return list(p), list(c)


def test_orin_hwmon_power_is_volts_times_amps():
    s = create_sensor("jetson-hwmon", root=str(DATA / "orin"))
    i = s.info
    assert i.rails == ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC", "VDDQ_VDD2_1V8AO"]
    assert i.rails[i.total_rail] == "VDD_IN"
    assert i.update_interval_s == pytest.approx(0.008)
    p, c = read(s)
    assert p == pytest.approx([6.0, 2.0, 1.5, 4984 * 120e-6], abs=1e-12)
    assert all(math.isnan(x) for x in c)


def test_nano_iio_total_is_pom_5v_in():
    s = create_sensor("jetson-iio", root=str(DATA / "nano"))
    assert s.info.rails == ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]
    assert s.info.total_rail == 0
    p, _ = read(s)
    assert p == pytest.approx([3.12, 0.48, 4976 * 180e-6], abs=1e-12)


def test_hwmon_energy_and_power_modes():
    e = create_sensor("hwmon", root=str(DATA / "hwmon"))
    assert e.info.has_counter and e.info.rails == ["amd_energy/Ecore000", "amd_energy/Esocket0"]
    assert read(e)[1] == pytest.approx([123.0, 456.0])
    p = create_sensor("hwmon:mode=power", root=str(DATA / "hwmon"))
    assert read(p)[0] == pytest.approx([12.5, 7.25])
    with pytest.raises(ValueError, match="mode must be auto, energy or power"):
        create_sensor("hwmon:mode=watts", root=str(DATA / "hwmon"))


def test_rapl_counters_wrap_range_and_derived_power(tmp_path):
    root = tree(tmp_path, "rapl")
    s = create_sensor("rapl", root=root)
    assert s.info.has_counter and s.info.has_power
    assert s.info.counter_range_j == pytest.approx(262143.32885)
    assert read(s)[1] == pytest.approx([262143.0, 1.5])
    Path(root, RAPL_PKG).write_text("1000000\n")  # wrapped: +0.32885 J + 1 J
    p, c = read(s)
    assert c[0] == pytest.approx(1.0)
    assert p[0] > 0
    assert _core.counter_delta(262143.0, c[0], s.info.counter_range_j) == pytest.approx(1.32885)


def test_rapl_permission_denied_says_how_to_fix():
    # Not under tmp_path: pytest's base folder is 0700, which the unprivileged fsuid cannot enter.
    base = Path(tempfile.mkdtemp(prefix="edgepower-rapl-"))
    try:
        root = tree(base, "rapl")
        os.chmod(Path(root, RAPL_PKG), 0o400)  # the kernel's mode since 949dd0104c49
        with denied():
            with pytest.raises(SensorUnavailable) as err:
                create_sensor("rapl", root=root)
    finally:
        shutil.rmtree(base)
    msg = str(err.value)
    assert f"permission denied reading {Path(root, RAPL_PKG)}" in msg
    assert "949dd0104c49" in msg and "root only" in msg
    assert "chmod o+r" in msg and "udev rule" in msg


@pytest.mark.parametrize("name, expect", [
    ("broken-missing", "hwmon1/curr2_input (no such file or directory)"),
    ("broken-garbage", "hwmon1/in1_input holds 'abc', not an integer"),
])
def test_broken_jetson_trees(name, expect):
    with pytest.raises(SensorUnavailable, match=None) as err:
        create_sensor("jetson-hwmon", root=str(DATA / name))
    assert expect in str(err.value)


def test_broken_rapl_empty_file():
    with pytest.raises(SensorUnavailable) as err:
        create_sensor("rapl", root=str(DATA / "broken-empty"))
    assert "intel-rapl:0/energy_uj is empty" in str(err.value)


def test_garbage_after_discovery_raises_sensor_error_with_path(tmp_path):
    root = tree(tmp_path, "orin")
    s = create_sensor("jetson-hwmon", root=root)
    Path(root, ORIN0, "curr1_input").write_text("-\n")
    with pytest.raises(SensorError, match=r"hwmon1/curr1_input holds '-', not an integer"):
        s.read()


def test_cpu_estimate_is_labelled_and_follows_utilisation(tmp_path):
    root = tree(tmp_path, "cpu")
    s = create_sensor("cpu-estimate:idle=5,max=45", root=root)
    assert s.info.estimated
    assert "ESTIMATE" in s.info.description
    Path(root, "proc/stat").write_text("cpu  1200 0 600 8100 500 0 0 0 0 0\n")
    p, _ = read(s)
    assert p[0] == pytest.approx(5 + 40 * 0.75)
    with pytest.raises(ValueError, match="idle_w <= max_w"):
        create_sensor("cpu-estimate:idle=50,max=10", root=root)
    with pytest.raises(ValueError, match="does not take watts"):
        create_sensor("cpu-estimate:watts=3", root=root)


def test_auto_prefers_counters_then_power_then_estimate(tmp_path):
    everything = tree(tmp_path / "a", "rapl", "orin", "cpu")
    assert create_sensor("auto", root=everything).info.kind == "rapl"
    jetson = tree(tmp_path / "b", "orin", "cpu")
    assert create_sensor("auto", root=jetson).info.kind == "jetson-hwmon"
    cpu = tree(tmp_path / "c", "cpu")
    picked = create_sensor("auto", root=cpu)
    assert picked.info.kind == "cpu-process" and picked.info.estimated
    # The per-process estimate reads no file under the root (only the kernel's CPU clocks), so
    # auto finds it even where nothing else is; the system-wide cpu-estimate is never automatic.
    assert create_sensor("auto", root=str(tmp_path / "c" / "nothing")).info.kind == "cpu-process"


def test_sensors_listing_reports_availability_units_and_intervals():
    rows = {r["kind"]: r for r in sensors(root=str(DATA / "orin"))}
    j = rows["jetson-hwmon"]
    assert j["available"] and j["reason"] == ""
    assert j["total_rail"] == "VDD_IN" and j["units"] == "power W"
    assert j["update_interval_s"] == pytest.approx(0.008)
    assert not rows["rapl"]["available"] and "no RAPL zone" in rows["rapl"]["reason"]
    rapl = {r["kind"]: r for r in sensors(root=str(DATA / "rapl"))}["rapl"]
    assert rapl["units"] == "power W (derived from the counter); energy counter J, wraps at 262143 J"
    assert rapl["update_interval_s"] == pytest.approx(1e-3)


def test_cli_sensors_prints_yes_no_reason_units(capsys):
    assert cli.main(["sensors", "--root", str(DATA / "orin")]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("jetson-hwmon"))
    assert "  yes  " in line
    assert "rails: VDD_IN, VDD_CPU_GPU_CV, VDD_SOC, VDDQ_VDD2_1V8AO (total: VDD_IN), updates every 8.00 ms" in out
    assert "units: power W; e.g. --sensor jetson-hwmon" in out
    rapl = next(l for l in out.splitlines() if l.startswith("rapl"))
    assert "  no   " in rapl
    assert "why not: no RAPL zone under" in out
    # No /proc/stat in that tree: the system-wide estimate is unavailable. The per-process one
    # reads this process's CPU clocks (not the tree), so it is there, and only it carries the note.
    assert "  no   " in next(l for l in out.splitlines() if l.startswith("cpu-estimate"))
    blocks = re.split(r"\n(?=\S)", out)
    noted = [b.split()[0] for b in blocks if "NOTE: this is an estimate" in b]
    assert noted == ["cpu-process"], noted


def wait_for_samples(mon, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(mon.sampler) < n and time.monotonic() < deadline:
        time.sleep(0.002)


def test_monitor_measures_a_fixture_sensor():
    with edgepower.PowerMonitor(sensor="jetson-iio", rate_hz=500, root=str(DATA / "nano")) as mon:
        wait_for_samples(mon, 1)  # the window must start after the first sample
        mon.begin_window("w")
        wait_for_samples(mon, 20)
        m = mon.end_window("w")
    assert m.ok, m.reason
    # Constant fixture values: the energy is the total rail's 3.12 W times the window.
    assert m.avg_power_w == pytest.approx(3.12, rel=1e-9)
    assert m.energy_per_rail_j["POM_5V_GPU"] == pytest.approx(0.48 * m.duration_s, rel=1e-9)
