"""The shared clock (csrc/core/clock): nanoseconds of CLOCK_MONOTONIC, the clock of every sample
and mark, equal to Python's ``time.monotonic_ns()``."""
import threading
import time

import numpy as np

import edgepower
from edgepower import _core

from conftest import wait_until


def test_now_ns_is_time_monotonic_ns():
    for _ in range(100):
        a = time.monotonic_ns()
        b = edgepower.now_ns()
        c = time.monotonic_ns()
        assert a <= b <= c


def test_now_ns_never_goes_backwards():
    t = np.array([_core.now_ns() for _ in range(50_000)], dtype=np.int64)
    assert (np.diff(t) >= 0).all()


def test_sampler_thread_stamps_samples_on_the_same_clock():
    # Samples are stamped by the native thread; every stamp lies between Python's clock read
    # before start() and after stop(): no offset, no other clock.
    sampler = _core.Sampler(_core.ConstantSensor([2.0]), rate_hz=2000)
    before = time.monotonic_ns()
    sampler.start()
    assert wait_until(lambda: len(sampler) >= 20, timeout_s=10)
    sampler.stop()
    after = time.monotonic_ns()
    t = sampler.samples()["t_ns"]
    assert before <= t[0] and t[-1] <= after
    assert (np.diff(t) > 0).all()


def test_timeline_marks_from_another_thread_are_on_the_same_clock():
    tl = _core.Timeline()
    a = tl.region("a")
    stamps = []

    def mark():
        lo = time.monotonic_ns()
        tl.begin(a)
        hi = time.monotonic_ns()
        stamps.append((lo, hi))

    th = threading.Thread(target=mark)
    th.start()
    th.join()
    mark()
    t = tl.marks()["t_ns"]
    assert len(t) == 2
    for (lo, hi), x in zip(stamps, t):
        assert lo <= x <= hi
