"""The sampler (csrc/core/sampler) through the bindings and PowerMonitor: the memory cap and its
policies, incremental copies, running statistics, and flagged readings."""
from __future__ import annotations

import math

import numpy as np
import pytest

import edgepower
from edgepower import _core

from conftest import wait_until


def test_default_cap_is_ten_percent_of_physical_ram():
    sampler = _core.Sampler(_core.ConstantSensor([1.0, 2.0]))
    bps = 8 + 4 + 4 + 2 * 8  # t_ns, read_ns, lateness_ns, two rails of power
    assert sampler.max_samples == _core.physical_memory_bytes() // 10 // bps
    st = sampler.stats()
    assert st["memory_policy"] == "stop" and st["bytes_per_sample"] == bps
    assert st["max_memory_mb"] == pytest.approx(sampler.max_samples * bps / 1e6)
    assert _core.Sampler(_core.ConstantSensor([1.0]), max_memory_mb=0.024).max_samples == 1000
    with pytest.raises(ValueError, match="max_memory_mb must be a number of megabytes > 0"):
        _core.Sampler(_core.ConstantSensor([1.0]), max_memory_mb=0)
    with pytest.raises(ValueError, match="memory_policy must be 'stop'"):
        _core.Sampler(_core.ConstantSensor([1.0]), memory_policy="forever")
    with pytest.raises(ValueError, match="not both"):
        _core.Sampler(_core.ConstantSensor([1.0]), max_samples=5, max_memory_mb=1)


def test_stop_policy_raises_a_clear_error_at_the_cap():
    # 60 samples of 24 bytes: the cap is reached in 30 ms at 2 kHz.
    mon = edgepower.PowerMonitor(sensor="constant:5", rate_hz=2000, max_memory_mb=60 * 24 / 1e6)
    mon.start()
    assert wait_until(lambda: mon.sampler.failed, timeout_s=10)
    with pytest.raises(_core.SamplerLimitError) as err:
        mon.stop()
    assert isinstance(err.value, edgepower.SensorError)  # handled where sampler failures are
    msg = str(err.value)
    assert "memory cap: 60 samples" in msg and "max_memory_mb=" in msg and "memory_policy='rolling'" in msg
    assert "consecutive failed reads" not in msg
    st = mon.stats()
    assert st["limit_reached"] and st["stop_reason"] == "sample cap" and st["read_errors"] == 0
    assert len(mon.samples().t_ns) == 60  # what was recorded stays readable


def test_rolling_policy_keeps_the_newest_and_counts_dropped():
    mon = edgepower.PowerMonitor(sensor="constant:5", rate_hz=5000, max_memory_mb=100 * 24 / 1e6,
                                 memory_policy="rolling")
    with mon:
        assert wait_until(lambda: mon.sampler.first_index > 0, timeout_s=30)  # one chunk (16384) beyond
    st = mon.stats()
    assert st["memory_policy"] == "rolling" and not st["failed"]
    assert st["dropped_samples"] == mon.sampler.first_index > 0
    assert st["retained_samples"] + st["dropped_samples"] == st["samples"] == len(mon.sampler)
    assert 100 <= st["retained_samples"] <= 2 * 16384
    s = mon.sampler.samples()
    assert s["begin"] == mon.sampler.first_index and s["end"] == len(mon.sampler)
    assert len(s["t_ns"]) == st["retained_samples"]
    assert (np.diff(s["t_ns"]) > 0).all()


def test_samples_since_is_incremental():
    sampler = _core.Sampler(_core.ConstantSensor([1.0, 3.0]), rate_hz=2000)
    sampler.start()
    got, since = [], 0
    try:
        while since < 300:
            s = sampler.samples(since)
            assert s["begin"] == since and s["end"] == since + len(s["t_ns"])
            got.append(s["t_ns"])
            since = s["end"]
    finally:
        sampler.stop()
    t = np.concatenate(got)
    assert np.array_equal(t, sampler.samples(0, since)["t_ns"])  # no sample twice, none missed
    assert sampler.samples(since=len(sampler))["t_ns"].size == 0


def test_stats_are_running_statistics_of_every_sample():
    sampler = _core.Sampler(_core.SquareSensor(1.0, 2.0, 0.004, refresh_s=0.002), rate_hz=4000)
    sampler.start()
    assert wait_until(lambda: len(sampler) >= 2000, timeout_s=20)
    sampler.stop()
    st, s = sampler.stats(), sampler.samples()
    t, p = s["t_ns"], s["power_w"][:, 0]
    assert st["samples"] == len(t)
    assert st["achieved_rate_hz"] == pytest.approx((len(t) - 1) / ((t[-1] - t[0]) * 1e-9), rel=1e-12)
    assert st["identical_share"] == pytest.approx(np.mean(p[1:] == p[:-1]), rel=1e-12)
    changed = t[1:][p[1:] != p[:-1]]
    assert st["effective_update_interval_s"] == pytest.approx((changed[-1] - changed[0]) * 1e-9 / (len(changed) - 1))
    # Percentiles from a histogram: within half a bucket (1/128) and 1 ns of numpy's.
    for key, col, q in [("lateness_p50_us", "lateness_ns", 50), ("read_p99_us", "read_ns", 99)]:
        exact = np.sort(s[col])[int(q / 100 * (len(t) - 1) + 0.5)] / 1000
        assert st[key] == pytest.approx(exact, rel=1 / 128, abs=0.001)
    assert st["lateness_max_us"] == s["lateness_ns"].max() / 1000


def test_negative_power_is_counted_and_warned_naming_the_rail():
    with pytest.warns(RuntimeWarning, match=r"rail 'rail0' gave \d+ negative power reading"):
        with edgepower.PowerMonitor(sensor="constant:-5,3", rate_hz=1000) as mon:
            assert wait_until(lambda: len(mon.sampler) >= 10, timeout_s=10)
    st = mon.stats()
    assert st["negative_power_per_rail"]["rail0"] == st["samples"]
    assert st["negative_power_per_rail"]["rail1"] == 0
    assert st["negative_power_samples"] == st["samples"]
    assert not math.isnan(st["lateness_p50_us"])


def test_trace_writer_follows_the_rolling_window_and_says_what_was_dropped(tmp_path, caplog):
    from edgepower import trace

    sampler = _core.Sampler(_core.ConstantSensor([2.0]), rate_hz=5000, chunk_samples=16, max_samples=32,
                            memory_policy="rolling")
    w = trace.TraceWriter(str(tmp_path / "t.csv"), sampler.sensor.info, 5000.0)
    sampler.start()
    try:
        assert wait_until(lambda: sampler.first_index > 100, timeout_s=20)
    finally:
        sampler.stop()
    with caplog.at_level("WARNING", logger="edgepower"):
        n = w.write(sampler)
    w.close()
    assert f"{sampler.first_index} samples were dropped" in caplog.text
    assert w.written == len(sampler) and n == len(sampler) - sampler.first_index
    assert len(trace.read_trace(str(tmp_path / "t.csv")).t_ns) == n
