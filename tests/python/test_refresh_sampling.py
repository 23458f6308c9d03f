"""PowerMonitor(rate_hz="refresh"): the sampler locks to the sensor's refresh (issue 15, part 2).

The schedule itself is tested deterministically on simulated time (tests/cpp/test_refresh_lock.cpp,
>= 99 % of refreshes read within 50 us there); these run the real thread on the INA3221 emulator:
through its sysfs files, whose writer thread is not real-time either (loose bounds, which say why),
and read in process (Ina3221RegisterSensor: the chip's exact refresh instants as the truth)."""
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


def _lock_then_sample(mon, seconds=1.5):
    """Waits (at most 5 s) for the lock, then samples `seconds` more: (t_from_ns, t_to_ns,
    stats, samples, reads in between)."""
    deadline = time.monotonic() + 5.0
    while mon.stats()["refresh_state"] != "locked" and time.monotonic() < deadline:
        time.sleep(0.05)
    t_from = time.monotonic_ns()
    n0 = len(mon.sampler)
    time.sleep(seconds)
    st = mon.stats()
    d = mon.sampler.samples(0)
    n1 = len(mon.sampler)
    return t_from, time.monotonic_ns(), st, d, n1 - n0


def test_refresh_mode_locks_to_the_ina3221_and_reads_each_refresh_soon_after_it():
    with T.Ina3221(_core.ConstantSensor([5.0]), averages=1, conversion_s=1.1e-3, noise_w=0.05) as emu:
        with PowerMonitor(emu.sensor(), rate_hz="refresh", realtime=False) as mon:
            assert mon.sampler.refresh
            # Learning: 32 changes at 2.2 ms (each of 3 channels refreshes in turn) ~ 70 ms. The
            # files' writer thread is the harness, not a chip: beside other load its late writes
            # can fail a learning (25 of 32 changes off the grid, seen once in a suite run beside
            # another pytest) or a drift check, and the sampler then polls and learns again after
            # 1 s. So the figures come from a window that stayed locked, within 3 tries; the
            # in-process chip below (no writer thread) gets one.
            for _ in range(3):
                fallbacks = mon.stats()["refresh_fallbacks"]
                t_from, t_to, st, d, n = _lock_then_sample(mon)
                if st["refresh_state"] == "locked" and st["refresh_fallbacks"] == fallbacks:
                    break
    if st["refresh_state"] != "locked":
        # Did the harness refresh on a regular grid at all? The writer's own write instants: a
        # lock needs changes within its tolerance (~130 us) of one period. If more than a tenth
        # of the writes in the last try came off the nominal 2.2 ms spacing by more than that,
        # the files did not refresh regularly (the writer thread was held off the CPU; seen in
        # 2 whole-suite runs on 2026-11-30, rms 465-597 us), which says nothing of the sampler.
        w = np.sort(np.asarray(emu.emulator.refresh_writes(), np.int64))
        w = w[(w > t_from) & (w < t_to)]
        off = np.abs(np.diff(w) - emu.refresh_s / 3 * 1e9) > 129_400
        if w.size > 10 and off.mean() > 0.1:
            pytest.xfail(f"the emulator's writer refreshed irregularly ({off.mean():.0%} of {w.size} writes off the "
                         f"2.2 ms spacing by > 129 us): {st['refresh_note']}")
    assert st["mode"] == "refresh" and st["refresh_state"] == "locked", st["refresh_note"]
    # The hwmon tree states 7 ms (6.6 ms in whole ms); the readings change at each channel's
    # refresh, every 6.6 / 3 = 2.2 ms. The fit over hundreds of changes, each placed within a
    # guard (20 us), is far inside 0.5 %.
    assert st["refresh_guess_s"] == pytest.approx(6.6e-3, abs=0.5e-3)  # the sensor model's, whole ms
    assert st["refresh_period_s"] == pytest.approx(emu.refresh_s / 3, rel=5e-3)
    lat = _latency_ns(emu, d, t_from)
    assert lat.size > 400  # 1.5 s / 2.2 ms = 680 refreshes
    # Each refresh is read, and soon. How soon, and at what cost, is asserted against the chip's
    # exact schedule in the in-process test below and on simulated time (test_refresh_lock.cpp).
    # Here the truth is when the emulator's writer thread rewrote the files, and that thread
    # runs at normal priority beside other work (load average ~4 in CI): it can be late by a
    # scheduler slice (~3 ms on 2 CPUs) while the sampler reads at the predicted instant and
    # guards for 2 x 20 us (more where probes strayed), so a refresh written later is read at
    # the next refresh's read, a period (2.2 ms) on, and the guard reads add up (with 4 guards
    # and a probe every 4th refresh, before 2026-12-01: 3.2-11.4 reads per refresh, and 80-99 %
    # of refreshes read within a period, in 72 runs beside two busy loops: the writer's
    # scheduling, not the sampler's). So: the median within 150 us (a 1 kHz poll's mean wait
    # is 500 us), 97 % read within two periods rather than missed (99.7-100 % seen), and fewer
    # reads than 10 kHz polling makes (22 per refresh).
    period_ns = emu.refresh_s / 3 * 1e9
    assert np.median(lat) <= 150_000, np.percentile(lat, [50, 90, 99])
    assert np.mean(lat <= 2 * period_ns) >= 0.97, np.percentile(lat, [50, 90, 99])
    reads_per_refresh = n / (1.5 / (emu.refresh_s / 3))
    assert reads_per_refresh < 22.0, reads_per_refresh
    # Same readings: the board total is 5 W +- noise (0.05 W per conversion) and the 8 mA LSB.
    p = d["power_w"][-n:, 0]
    assert np.mean(p) == pytest.approx(5.0, abs=0.05)


def test_on_the_chip_read_in_process_the_lock_finds_its_exact_schedule_and_reads_soon_after():
    # _core.Ina3221RegisterSensor computes the registers for the instant of each read: the
    # refresh instants are the chip's own schedule (refresh_instants), exact, with no writer
    # thread between, so what is measured is the sampler alone.
    with T.Ina3221(_core.SquareSensor(3.0, 8.0, 0.05), averages=1, conversion_s=1.1e-3, noise_w=0.05,
                   start=False) as emu:
        sensor = _core.Ina3221RegisterSensor(emu.emulator)
        assert sensor.info.kind == "ina3221-registers"
        with PowerMonitor(sensor, rate_hz="refresh", realtime=False) as mon:
            t_from, t_to, st, _, n = _lock_then_sample(mon)
    assert st["refresh_state"] == "locked", st["refresh_note"]
    # Changes come at every channel's refresh, every 2.2 ms exactly; the fit over hundreds of
    # them, each bracketed within a guard (20 us), is within 1e-4 (0.2 us a period).
    assert st["refresh_period_s"] == pytest.approx(2.2e-3, rel=1e-4)
    lat = emu.register_read_latency_ns(t_from, t_to)
    assert lat.size > 400  # 1.5 s / 2.2 ms = 680
    # The bench's figures (bench_core --only-refresh) are 97.7-98.7 % within 50 us beside a 2-thread
    # matmul, 99.5-99.8 % at SCHED_FIFO (2026-12-01/02). Here, with nothing asserted on the machine's load: the median within 100 us (a
    # 1 kHz poll waits 500 us on average), and 90 % before the next refresh (2.2 ms) rather
    # than missed; on this 2-CPU VM a woken thread can wait a whole scheduler slice (~3 ms).
    assert np.median(lat) <= 100_000, np.percentile(lat, [50, 90, 99])
    assert np.mean(lat < 2.2e6) >= 0.9, np.percentile(lat, [50, 90, 99])
    # Cost, by construction of the lock (refresh_lock.hpp): an after-read per refresh, then
    # guard reads until the change for at most 2 guards (when the read came before the change,
    # or the reading came out the same; more only where probed changes strayed from their
    # prediction by more than half a guard on average), and at most every 4th refresh a probe
    # instead, of at most 8 reads while changes come within a guard of their prediction (here:
    # the chip's clock is exact): at most 1 + 2 + 8 / 4 = 5 on average, 7 leaves room for the
    # wider guards of a loaded machine (10 kHz polling reads 22). Seen: 1.44-1.48 in the bench
    # beside a matmul (2026-12-01).
    reads_per_refresh = n / lat.size
    assert reads_per_refresh <= 7.0, reads_per_refresh
    # Probes: the first refresh after each lock, then spaced by at least 4 refreshes (doubling
    # up to 32 while they find the change where predicted), so at most a quarter of the
    # refreshes plus one per learning; and some, or the fit could not follow the sensor's clock.
    assert 0 < st["refresh_probes"] <= st["refreshes"] / 4 + st["refresh_learns"], st
    assert st["refresh_probes_early"] <= st["refresh_probes"], st


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
    assert "of 0 refreshes read within 50 us (0 late, 0 probes)" in out  # never locked: none counted
    assert cli.main(["monitor", "--sensor", "constant:5", "--rate", "fast", "--duration", "0.1"]) == 2
    assert "--rate must be a number of Hz or refresh, got 'fast'" in capsys.readouterr().err
