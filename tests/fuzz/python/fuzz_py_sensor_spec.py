"""Fuzz target: sensor spec strings (``--sensor``, ``PowerMonitor(sensor=...)``) through
edgepower.sensors.create_sensor: parse_spec and every kind's option parsing (the synthetic kinds,
replay, the CPU estimates, the hardware kinds' discovery). The input is the spec as UTF-8 (bad
bytes replaced); a created sensor is read once.

Documented outcome: a sensor, or a ValueError / SensorError (SensorUnavailable) with a message.
Anything else (a TypeError from the native constructors, an OverflowError) is a finding."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

with harness.instrumented():
    from edgepower.sensors import SensorError, create_sensor


def test_one(data: bytes) -> None:
    spec = data.decode("utf-8", errors="replace")[:4096]
    try:
        sensor = create_sensor(spec, root=harness.scratch_dir())
    except (ValueError, SensorError) as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        return
    try:
        power, counter = sensor.read()
    except SensorError as exc:  # e.g. a replay of an empty file, a region sensor's first read
        assert str(exc)
        return
    assert power.shape == (sensor.num_rails,)


if __name__ == "__main__":
    harness.main(test_one, "py_sensor_spec")
