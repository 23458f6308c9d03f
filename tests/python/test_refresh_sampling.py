"""PowerMonitor(rate_hz="refresh"): the sampler locks to the sensor's refresh (issue 15, part 2).

The schedule itself is tested deterministically on simulated time (tests/cpp/test_refresh_lock.cpp,
>= 99 % of refreshes read within 50 us there); these run the real thread on the INA3221 emulator,
whose conversion thread is not real-time either, so the timing bounds are loose and say why."""
import time

import numpy as np
import pytest

from edgepower import PowerMonitor, testing as T
from edgepower._native import core as _core
from edgepower.cli.checks import rate, rate_arg


def _latency_ns(emu, d, t_from):
    """For each register refresh the emulator wrote after t_from: end of the first read that
    started after the write, minus the write."""
    writes = np.sort(np.asarray(emu.emulator.refresh_writes(), np.int64))
    t = d["t_ns"]
    start = t - d["read_ns"]
    writes = writes[(writes > t_from) & (writes < start[-1])]
    return t[np.searchsorted(start, writes, side="left")] - writes


def test_refresh_mode_locks_to_the_ina3221_and_reads_each_refresh_soon_after_it():
    with T.Ina3221(_core.ConstantSensor([5.0]), averages=1, conversion_s=1.1e-3, noise_w=0.05) as emu:
        with PowerMonitor(emu.sensor(), rate_hz="refresh", realtime=False) as mon:
            assert mon.sampler.refresh
            # Learning: 32 changes at 2.2 ms (each of 3 channels refreshes in turn) ~ 70 ms.
            deadline = time.monotonic() + 5.0
            while mon.stats()["refresh_state"] != "locked" and time.monotonic() < deadline:
                time.sleep(0.05)
            t_from = time.monotonic_ns()
            n0 = len(mon.sampler)
            time.sleep(1.5)
            st = mon.stats()
            d = mon.sampler.samples(0)
            n1 = len(mon.sampler)
    assert st["mode"] == "refresh" and st["refresh_state"] == "locked", st["refresh_note"]
    # The hwmon tree states 7 ms (6.6 ms in whole ms); the readings change at each channel's
    # refresh, every 6.6 / 3 = 2.2 ms. The fit over hundreds of changes, each placed within a
    # guard (20 us), is far inside 0.5 %.
    assert st["refresh_guess_s"] == pytest.approx(6.6e-3, abs=0.5e-3)  # the sensor model's, whole ms
    assert st["refresh_period_s"] == pytest.approx(emu.refresh_s / 3, rel=5e-3)
    lat = _latency_ns(emu, d, t_from)
    assert lat.size > 400  # 1.5 s / 2.2 ms = 680 refreshes
    # Each refresh is read soon after it: the 50 us target is asserted on simulated time
    # (test_refresh_lock.cpp); here the emulator's writer and the sampler are two threads on 2
    # cores busy with other work (load average ~4 in CI), each woken 10-150 us late, and a read
    # waits for the writer. So: the median within 150 us (a 1 kHz poll's mean wait is 500 us), and
    # 90 % of refreshes read before the next one is due (half a period, 1.1 ms) rather than missed.
    assert np.median(lat) <= 150_000, np.percentile(lat, [50, 90, 99])
    assert np.mean(lat <= emu.refresh_s / 3 / 2 * 1e9) >= 0.9, np.percentile(lat, [50, 90, 99])
    # Cost: reads per refresh, not a fixed rate: an after-read; up to 5 guard reads (a look of 4
    # guards) when the change comes late or the reading came out the same (about 1 refresh in 4
    # here: noise below an LSB); 5-8 reads on every 4th refresh (the probe). At most 6 on average
    # (10 kHz polling is 22).
    reads_per_refresh = (n1 - n0) / (1.5 / (emu.refresh_s / 3))
    assert reads_per_refresh <= 6.0, reads_per_refresh
    # Same readings: the board total is 5 W +- noise (0.05 W per conversion) and the 8 mA LSB.
    p = d["power_w"][-(n1 - n0):, 0]
    assert np.mean(p) == pytest.approx(5.0, abs=0.05)


def test_constant_readings_fall_back_to_polling_and_say_so():
    # A constant sensor never changes: nothing to lock to. It polls at 1 kHz and says why.
    with PowerMonitor("constant:5", rate_hz="refresh", realtime=False) as mon:
        time.sleep(1.4)  # learning gives up after 1 s without changes
        st = mon.stats()
    assert st["refresh_state"] == "fallback"
    assert "constant readings?" in st["refresh_note"]
    assert st["refresh_fallbacks"] == 1
    assert mon.provenance()["sampler_mode"] == "refresh"
    assert mon.sampler.samples(0)["power_w"][:, 0] == pytest.approx(5.0)


def test_rate_refresh_is_checked():
    with pytest.raises(ValueError, match="rate_hz must be a number of Hz or 'refresh'"):
        PowerMonitor("constant:5", rate_hz="fast")
    with pytest.raises(ValueError, match="rate_hz must be a number"):
        PowerMonitor("constant:5", rate_hz=None)
    with pytest.raises(ValueError, match="refresh_guess_s must be a refresh period"):
        _core.Sampler(_core.ConstantSensor([1.0]), 1000.0, refresh=True, refresh_guess_s=-1.0)
    # The CLI's --rate: "refresh" or a number, anything else named with the flag.
    assert rate_arg("refresh") == "refresh" and rate_arg("250") == 250.0
    rate("refresh", refresh_ok=True)
    with pytest.raises(ValueError, match="--rate must be a number of Hz or refresh, got 'fast'"):
        rate(rate_arg("fast"), refresh_ok=True)
    with pytest.raises(ValueError, match="--rate must be a number of Hz, got 'refresh'"):
        rate("refresh")


def test_cli_monitor_rate_refresh_says_what_the_lock_did(capsys):
    from edgepower import cli

    # A constant sensor: learning sees no change for 1 s and falls back; the summary says so.
    assert cli.main(["monitor", "--sensor", "constant:5", "--rate", "refresh", "--duration", "1.3"]) == 0
    out = capsys.readouterr().out
    assert "sampling at refresh" in out
    assert "refresh lock:    fallback" in out and "constant readings?" in out
    assert cli.main(["monitor", "--sensor", "constant:5", "--rate", "fast", "--duration", "0.1"]) == 2
    assert "--rate must be a number of Hz or refresh, got 'fast'" in capsys.readouterr().err
