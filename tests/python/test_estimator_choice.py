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


def test_cli_estimator_auto_needs_a_known_sensor_model(capsys):
    rc = cli.main(["profile", "vgg11", "--sensor", "constant:5", "--estimator", "auto", "--image-size", "32",
                   "--no-progress"])
    assert rc == 2
    assert "no sensor model is known for sensor 'synthetic-constant'" in capsys.readouterr().err
