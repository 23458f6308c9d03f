"""Fuzz target: the replay sensor reached from Python, create_sensor("replay:path=...,speed=...,loop=...")
then reads until the recording ends. The native parser detects the format (edgepower trace CSV or
EdgeProfiler power log) and parses it; the first input byte picks loop (bit 0) and the speed (bit 1:
1e9, i.e. every read jumps far ahead; else 1e3), the rest is the file.

Documented outcome: a sensor whose reads give one power value per rail until SensorExhausted (or
20 reads with loop), or at construction a SensorUnavailable (a SensorError) with the file, line and
reason. Anything else is a finding. Run: see harness.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

with harness.instrumented():
    from edgepower._native import core
    from edgepower.sensors import SensorError, create_sensor


def test_one(data: bytes) -> None:
    flags, body = (data[0], data[1:]) if data else (0, b"")
    path = harness.scratch_file("replay.csv", body)
    spec = f"replay:path={path},speed={'1e9' if flags & 2 else '1e3'},loop={flags & 1}"
    try:
        sensor = create_sensor(spec)
    except SensorError as exc:
        assert str(exc) and isinstance(exc, core.SensorUnavailable), repr(exc)
        return
    n = sensor.num_rails
    assert n >= 1 and len(sensor.info.rails) == n
    for _ in range(20):
        try:
            power, counter = sensor.read()
        except core.SensorExhausted as exc:
            assert str(exc)
            assert not flags & 1, "a looping replay ran out"
            return
        assert power.shape == (n,) and counter.shape == (n,)


if __name__ == "__main__":
    harness.main(test_one, "py_replay", coverage=False)
