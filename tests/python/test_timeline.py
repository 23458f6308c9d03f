"""The timeline (csrc/core/timeline) through the bindings: regions, marks, windows, bulk merge."""
import time

import numpy as np
import pytest

from edgepower import _core


def test_timeline_marks_windows_and_merge():
    tl = _core.Timeline()
    a = tl.region("a")
    tl.begin(a)
    tl.end(a)
    tl.merge(np.array([10, 20], np.int64), np.array([a, a], np.int32), np.array([1, 0], np.uint8))
    w = tl.windows()
    assert list(w["t0_ns"][:1]) == [10] and list(w["t1_ns"][:1]) == [20]
    assert len(tl) == 4
    with pytest.raises(ValueError, match="not a region"):
        tl.merge(np.array([1], np.int64), np.array([7], np.int32), np.array([1], np.uint8))


def test_regions_are_named_once_and_windows_nest():
    tl = _core.Timeline()
    outer, inner = tl.region("model"), tl.region("conv")
    assert tl.region("model") == outer and tl.num_regions == 2
    assert tl.region_name(inner) == "conv"
    for t, r, begin in [(100, outer, True), (200, inner, True), (300, inner, False), (400, inner, True),
                        (450, inner, False), (500, outer, False)]:
        tl.mark_at(t, r, begin)
    w = tl.windows()
    assert list(w["region"]) == [outer, inner, inner]
    assert list(w["t0_ns"]) == [100, 200, 400] and list(w["t1_ns"]) == [500, 300, 450]
    m = tl.marks(begin=4)
    assert list(m["t_ns"]) == [450, 500] and list(m["kind"]) == [0, 0]


def test_marks_are_stamped_now():
    tl = _core.Timeline()
    a = tl.region("a")
    lo = time.monotonic_ns()
    tl.begin(a)
    hi = time.monotonic_ns()
    (t,) = tl.marks()["t_ns"]
    assert lo <= t <= hi
