"""The replay sensor: edgepower's own trace CSV (written by PowerMonitor) and EdgeProfiler logs."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import edgepower
from edgepower import trace
from edgepower.sensors import SensorError, SensorUnavailable, create_sensor

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


def test_sampler_stops_at_the_end_with_a_clear_error(tmp_path):
    mon = edgepower.PowerMonitor(sensor=f"replay:{DATA / 'edgeprofiler_power_log.log'}", rate_hz=2000,
                                 max_consecutive_failures=3)
    assert mon.rails == ["total"]
    mon.start()
    deadline = time.monotonic() + 5
    while not mon.sampler.failed and time.monotonic() < deadline:
        time.sleep(0.002)
    with pytest.raises(SensorError, match="edgeprofiler_power_log.log is over"):
        mon.stop()
    s = mon.samples()
    allowed = {5000 * 1100e-6, 5000 * 1200e-6, 5008 * 1000e-6, 4992 * 1500e-6, 5000 * 1300e-6}
    assert len(s.t_ns) >= 1
    assert all(any(abs(v - a) < 1e-12 for a in allowed) for v in s.power_w[:, 0])


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
