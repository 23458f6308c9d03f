"""The sysfs file helpers (csrc/core/sensors/sysfs) seen through the file-based sensors on the
fixture trees of tests/data/sensors: files opened once and re-read with pread, and the documented
errors for missing, unreadable, empty and garbage files."""
from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from edgepower import _core

from conftest import denied, fixture_tree

ENERGY1 = "sys/class/hwmon/hwmon0/energy1_input"  # 123000000 uJ in the fixture
POWER1 = "sys/class/hwmon/hwmon3/power1_input"    # 12500000 uW


def power_sensor(root: str) -> _core.HwmonSensor:
    return _core.HwmonSensor(root=root, name="power_meter", mode="power")


def test_values_are_reread_from_the_same_open_file(tmp_path):
    root = fixture_tree(tmp_path, "hwmon")
    s = power_sensor(root)
    assert s.info.available, s.info.reason
    assert list(s.read()[0]) == [12.5, 7.25]
    Path(root, POWER1).write_text("3000000\n")  # in place, as the kernel updates an attribute
    assert s.read()[0][0] == 3.0
    Path(root, POWER1).write_text("5")          # shorter: no stale tail from the old value
    assert s.read()[0][0] == pytest.approx(5e-6, rel=1e-12)
    # A new file renamed over the path is another inode: the sensor keeps reading the file it
    # opened at discovery (one open, then pread), so it still sees 5 uW.
    Path(root, "new").write_text("9000000\n")
    os.replace(Path(root, "new"), Path(root, POWER1))
    assert s.read()[0][0] == pytest.approx(5e-6, rel=1e-12)
    assert power_sensor(root).read()[0][0] == 9.0


def test_missing_tree_is_unavailable_naming_the_pattern(tmp_path):
    s = _core.HwmonSensor(root=str(tmp_path / "nothing"))
    assert not s.info.available
    assert f"no hwmon device under {tmp_path / 'nothing'}/sys/class/hwmon/hwmon*" in s.info.reason
    with pytest.raises(_core.SensorUnavailable, match="no hwmon device under"):
        s.read()


def test_unreadable_file_is_unavailable_with_permission_denied():
    # Not under tmp_path: pytest's base folder is 0700, which the unprivileged fsuid cannot enter.
    base = Path(tempfile.mkdtemp(prefix="edgepower-sysfs-"))
    try:
        root = fixture_tree(base, "hwmon")
        os.chmod(Path(root, POWER1), 0o000)
        with denied():
            s = power_sensor(root)
    finally:
        shutil.rmtree(base)
    assert not s.info.available
    assert f"cannot open {Path(root, POWER1)} (permission denied)" in s.info.reason
    assert "Grant read access" in s.info.reason


@pytest.mark.parametrize("text, expect", [
    ("\n", "is empty; expected an integer"),
    ("12x\n", "holds '12x', not an integer"),
    ("1.5\n", "holds '1.5', not an integer"),
    ("99999999999999999999\n", "holds '99999999999999999999', not an integer"),
    ("\x01\x02" + "z" * 60, "holds '??" + "z" * 38 + "...', not an integer"),
])
def test_garbage_at_discovery_is_unavailable_naming_file_and_value(tmp_path, text, expect):
    root = fixture_tree(tmp_path, "hwmon")
    Path(root, POWER1).write_text(text)
    s = power_sensor(root)
    assert not s.info.available
    assert f"{Path(root, POWER1)} {expect}" in s.info.reason


def test_garbage_after_discovery_is_a_read_error_naming_file_and_value(tmp_path):
    root = fixture_tree(tmp_path, "hwmon")
    s = _core.HwmonSensor(root=root, name="amd_energy")
    assert s.info.has_counter and s.read()[1][0] == 123.0
    Path(root, ENERGY1).write_text("oops\n")
    with pytest.raises(_core.SensorError, match=rf"{ENERGY1} holds 'oops', not an integer"):
        s.read()
    Path(root, ENERGY1).write_text("123000001\n")  # the file is still open: reads recover
    p, c = s.read()
    assert c[0] == pytest.approx(123.000001, abs=1e-12) and not math.isnan(p[0])


def test_removed_file_still_reads_through_the_open_descriptor(tmp_path):
    root = fixture_tree(tmp_path, "hwmon")
    s = power_sensor(root)
    os.remove(Path(root, POWER1))
    assert s.read()[0][0] == 12.5
