"""The sensor-aware estimator chosen from the sensor's own description (methods.model_for) and
`edgepower profile --estimator auto`."""
import pytest

import edgepower
from edgepower import cli, testing
from edgepower.monitor import CompensatedMonitor
from edgepower.sensors import model_for


def test_model_for_reads_the_ina3221_configuration_from_hwmon():
    src = testing.RegionSource({"busy": 6.0}, idle_w=2.0)
    # N=4 at 140 us, 3 channels: a refresh every 0.84 ms, written as 1 ms (whole ms, as the driver).
    with testing.Ina3221(src, averages=4, conversion_s=140e-6) as emu:
        sensor = edgepower.create_sensor("jetson-hwmon", root=emu.root)
        model = model_for(sensor.info)
        assert model.kind == "register"
        assert model.averages == 4
        assert model.refresh_s == pytest.approx(1e-3)
        mon = CompensatedMonitor(sensor, model, "auto", rate_hz=500)
        assert mon.model is model


def test_model_for_counters_and_unknown_sensors():
    counter_only = edgepower.create_sensor("constant:5,counter=1")
    with pytest.raises(ValueError, match="no sensor model is known for sensor 'synthetic-constant'"):
        model_for(counter_only.info)


FACTORY = """
import torch

def make(batch_size=1):
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU()), torch.randn(batch_size, 8)
"""


@pytest.mark.parametrize("extra,expect", [
    ([], "estimator: plain, none: no sensor model for 'synthetic-constant'"),  # the default is auto
    (["--estimator", "plain"], "estimator: plain, chosen: estimator='plain'"),
])
def test_cli_estimator_defaults_to_auto_and_says_what_it_used(tmp_path, capsys, monkeypatch, extra, expect):
    import json
    import sys

    (tmp_path / "tiny_est.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    out = tmp_path / "out"
    rc = cli.main(["profile", "tiny_est:make", "--sensor", "constant:5", "--min-window", "0.02", "--rounds", "2",
                   "--idle", "0.05", "--no-progress", "--out", str(out)] + extra)
    assert rc == 0, capsys.readouterr().err
    assert expect in capsys.readouterr().out
    meta = json.loads((out / "report.json").read_text())["meta"]
    assert meta["estimator"]["estimator"] == "plain"
    assert meta["estimator"]["source"] == ("chosen" if extra else "none")
