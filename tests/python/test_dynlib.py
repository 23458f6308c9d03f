"""The run-time library loader (csrc/core/sensors/dynlib) through the nvml sensor: dlopen of the
fake libnvidia-ml (conftest.fake_nvml), required and optional symbols, errors that name the
library and say what to do, and the handle closed when the sensor goes."""
from __future__ import annotations

import gc
import shutil
from pathlib import Path

import pytest

from edgepower import _core


def mapped(path: str) -> bool:
    """True if the library at path is mapped into this process."""
    return path in Path("/proc/self/maps").read_text()


def test_loads_the_library_given_by_path(fake_nvml, monkeypatch):
    monkeypatch.setenv("FAKE_NVML_DEVICE_COUNT", "3")
    monkeypatch.delenv("FAKE_NVML_POWER_MW", raising=False)
    s = _core.NvmlSensor(index=2, library=fake_nvml["full"])
    assert s.info.available, s.info.reason
    assert s.info.details["library"] == fake_nvml["full"]
    assert s.info.details["gpus"] == "3"                  # nvmlDeviceGetCount_v2 of the fake
    assert s.info.details["gpu_name"] == "Fake GPU 2"     # nvmlDeviceGetName
    assert s.read()[0][0] == 150.0                        # the fake's default 150000 mW


def test_missing_required_symbol_names_symbol_and_library(fake_nvml):
    s = _core.NvmlSensor(library=fake_nvml["nohandle"])
    assert not s.info.available
    assert (f"symbol 'nvmlDeviceGetHandleByIndex_v2' not found in library '{fake_nvml['nohandle']}'"
            in s.info.reason)
    assert "update the driver or point to the right library" in s.info.reason
    with pytest.raises(_core.SensorUnavailable, match="nvmlDeviceGetHandleByIndex_v2"):
        s.read()


def test_absent_optional_symbols_are_fallbacks_not_errors(fake_nvml):
    s = _core.NvmlSensor(library=fake_nvml["legacy"])
    assert s.info.available, s.info.reason
    assert s.info.details["counter"] == "unsupported: library has no nvmlDeviceGetTotalEnergyConsumption"
    assert not s.info.has_counter and s.info.details["power_averaged"] == "1 s"


def test_missing_library_names_path_dlerror_and_fix():
    s = _core.NvmlSensor(library="/nonexistent/edgepower/libnvidia-ml.so.1")
    assert not s.info.available
    r = s.info.reason
    assert "cannot load library '/nonexistent/edgepower/libnvidia-ml.so.1' (" in r
    assert "No such file or directory" in r                 # dlerror()
    assert "EDGEPOWER_NVML_LIBRARY" in r and "install the driver" in r


def test_a_file_that_is_not_a_library_is_unavailable(tmp_path):
    bad = tmp_path / "libnvidia-ml.so.1"
    bad.write_text("not an ELF file\n")
    s = _core.NvmlSensor(library=str(bad))
    assert not s.info.available
    assert f"cannot load library '{bad}'" in s.info.reason


def test_library_is_unloaded_when_the_sensor_goes(fake_nvml, tmp_path):
    # A private copy, so no other sensor of the session holds the same path open.
    lib = str(shutil.copy(fake_nvml["full"], tmp_path / "libfake_private.so"))
    assert not mapped(lib)
    s = _core.NvmlSensor(library=lib)
    assert s.info.available and mapped(lib)
    del s
    gc.collect()
    assert not mapped(lib)
