"""The replay sensor: edgepower's own trace CSV (written by PowerMonitor) and EdgeProfiler logs."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import edgepower
from edgepower import trace
from edgepower.sensors import SensorUnavailable, create_sensor

DATA = Path(__file__).resolve().parents[1] / "data" / "sensors"


def test_replays_a_trace_written_by_the_monitor(tmp_path):
    path = tmp_path / "trace.csv"
    with edgepower.PowerMonitor(sensor="piecewise:0/2,0.05/8,step=1", rate_hz=1000, log_path=str(path)) as mon:
        deadline = time.monotonic() + 5
        while len(mon.sampler) < 80 and time.monotonic() < deadline:
            time.sleep(0.005)
    recorded = trace.read_trace(str(path))
    s = create_sensor(f"replay:path={path}")
    assert s.info.rails == recorded.rails
    assert s.num_samples == len(recorded.t_ns)
    assert s.span_s == pytest.approx((recorded.t_ns[-1] - recorded.t_ns[0]) * 1e-9)
    assert s.info.update_interval_s == pytest.approx(np.median(np.diff(recorded.t_ns)) * 1e-9)
    assert s.info.details["recorded_sensor"] == "synthetic-piecewise"
    p, _ = s.read()
    assert p[0] == recorded.power_w[0, 0]  # the first read gives the first sample, bit for bit


def test_sampler_ends_cleanly_at_the_end_of_the_replay(tmp_path):
    # Before: every normal replay ended with max_consecutive_failures read errors and stop()
    # raising SensorError "... is over". The end of a recording is not an error.
    mon = edgepower.PowerMonitor(sensor=f"replay:{DATA / 'edgeprofiler_power_log.log'}", rate_hz=2000,
                                 max_consecutive_failures=3)
    assert mon.rails == ["total"]
    mon.start()
    deadline = time.monotonic() + 5
    while not mon.sampler.finished and time.monotonic() < deadline:
        time.sleep(0.002)
    assert mon.sampler.finished and not mon.sampler.failed
    mon.stop()
    mon.stop()  # stop() after the end, twice, is not an error either
    st = mon.stats()
    assert st["read_errors"] == 0 and not st["failed"] and st["finished"]
    assert st["stop_reason"] == "sensor finished" and "edgeprofiler_power_log.log is over" in st["last_error"]
    s = mon.samples()
    allowed = {5000 * 1100e-6, 5000 * 1200e-6, 5008 * 1000e-6, 4992 * 1500e-6, 5000 * 1300e-6}
    assert len(s.t_ns) >= 1
    assert all(any(abs(v - a) < 1e-12 for a in allowed) for v in s.power_w[:, 0])


def test_loop_plays_the_trace_again_and_again():
    log = DATA / "edgeprofiler_power_log.log"  # 6 samples over 7.5 ms (+ 1.5 ms for the last)
    mon = edgepower.PowerMonitor(sensor=f"replay:path={log},loop=1", rate_hz=2000)
    assert mon.sensor.loop and "looped" in mon.info.description
    with mon:
        deadline = time.monotonic() + 5
        while len(mon.sampler) < 200 and time.monotonic() < deadline:  # ~100 ms: about 11 laps
            time.sleep(0.002)
    st = mon.stats()
    assert not st["finished"] and st["read_errors"] == 0
    t = mon.samples().t_ns
    assert (t[-1] - t[0]) * 1e-9 > 3 * 0.009  # played well past the end of the recording
    with pytest.raises(ValueError, match="loop must be 1"):
        create_sensor(f"replay:path={log},loop=maybe")


def test_speed_and_bad_files(tmp_path):
    s = create_sensor(f"replay:path={DATA / 'edgeprofiler_power_log.log'},speed=2")
    assert s.info.update_interval_s == pytest.approx(0.00075)  # 1.5 ms recorded, played 2x
    bad = tmp_path / "bad.log"
    bad.write_text("20241121-00:00:01.00,5000,1100\n2024-11-21 00:00:02,5000,1100\n")
    with pytest.raises(SensorUnavailable, match=r"bad.log:2: bad timestamp"):
        create_sensor(f"replay:path={bad}")
    with pytest.raises(ValueError, match="speed must be > 0"):
        create_sensor(f"replay:path={bad},speed=0")
    with pytest.raises(SensorUnavailable, match="replay needs a trace file"):
        create_sensor("replay")


def test_rail_names_and_recorded_kind_must_be_text(tmp_path):
    """Found by fuzzing from Python (tests/fuzz/regressions/py_replay/): a rail name with the bytes
    0xff 0xfe made the replay sensor's info.rails raise UnicodeDecodeError (so did PowerMonitor).
    Now the sensor is unavailable, naming the line; UTF-8 names stay accepted."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"# edgepower trace v1\nt_ns,read_ns,power_w:tot\xff\xfeal\n5,1,2.5\n")
    with pytest.raises(SensorUnavailable, match=r"t\.csv:2: rail name 'tot\?\?al' is not printable text"):
        edgepower.PowerMonitor(sensor=f"replay:path={path}")
    path.write_bytes(b'# edgepower trace v1\n# meta: {"sensor": {"kind": "x\xc3"}}\nt_ns,read_ns,power_w:a\n5,1,2\n')
    with pytest.raises(SensorUnavailable, match=r"meta kind 'x\?' is not printable text"):
        create_sensor(f"replay:path={path}")
    path.write_bytes("# edgepower trace v1\nt_ns,read_ns,power_w:VDD_\u00b5\n5,1,2.5\n6,1,2.5\n".encode())
    assert create_sensor(f"replay:path={path}").info.rails == ["VDD_\u00b5"]
