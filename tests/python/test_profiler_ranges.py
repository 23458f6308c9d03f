"""Profiling under torch.profiler: every layer window (isolation) and every hooked layer call (in
situ) opens a record_function range ``edgepower::<label>``, so the user's own trace shows which
layer edgepower was measuring, and the layer's ATen ops sit inside it."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.profiler import ProfilerActivity, profile  # noqa: E402

from edgepower._native import core  # noqa: E402
from edgepower.profile import profile_layers  # noqa: E402
from edgepower.profile.capture import capture  # noqa: E402
from edgepower.profile.hooks import RANGE_PREFIX, Hooks  # noqa: E402


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.act = torch.nn.ReLU(inplace=True)
        self.fc2 = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _ranges(prof):
    return [e for e in prof.events() if e.name.startswith(RANGE_PREFIX)]


def _inside(event, name):
    p = event.cpu_parent
    while p is not None:
        if p.name == name:
            return True
        p = p.cpu_parent
    return False


def test_isolation_windows_are_ranges_in_the_users_trace(one_torch_thread):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        report = profile_layers(Small(), torch.randn(4, 16), sensor="constant:5", min_window_s=0.01, rounds=2,
                                warmup=1, idle_s=0.0, rate_hz=2000, edge_retries=0)
    ranges = _ranges(prof)
    windows = report.window_records
    names = sorted(e.name for e in ranges)
    want = sorted(RANGE_PREFIX + w.label + (" (restore)" if w.kind == "restore" else "") for w in windows)
    assert names == want  # one range per window (edge_retries=0: no window measured twice)
    assert "edgepower::act (restore)" in names and "edgepower::(model)" in names
    # Each range holds its window: its duration is at least the window's (the profiler's clock
    # rounds to whole microseconds, hence the 1 us).
    by_name = {}
    for e in ranges:
        by_name.setdefault(e.name, []).append(e.time_range.elapsed_us())
    for w in windows:
        name = RANGE_PREFIX + w.label + (" (restore)" if w.kind == "restore" else "")
        assert max(by_name[name]) >= (w.t1_ns - w.t0_ns) / 1e3 - 1.0
    # The layer's own ops are children of its range: fc1's addmm calls sit inside edgepower::fc1.
    fc1_calls = sum(w.calls for w in windows if w.label == "fc1")
    addmm_in_fc1 = [e for e in prof.events() if e.name == "aten::addmm" and _inside(e, "edgepower::fc1")]
    assert len(addmm_in_fc1) == fc1_calls
    relu_in_fc2 = [e for e in prof.events() if e.name == "aten::relu_" and _inside(e, "edgepower::fc2")]
    assert relu_in_fc2 == []


def test_insitu_hooks_open_a_range_per_layer_call(one_torch_thread):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        report = profile_layers(Small(), torch.randn(4, 16), sensor="constant:5", mode="in-situ", repeats=4,
                                rounds=2, warmup=1, idle_s=0.0, rate_hz=2000)
    forwards = 1 + 4 * 2  # the warm-up forward is hooked too
    ranges = _ranges(prof)
    counts = {}
    for e in ranges:
        counts[e.name] = counts.get(e.name, 0) + 1
    assert counts == {"edgepower::fc1": forwards, "edgepower::act": forwards, "edgepower::fc2": forwards}
    assert report.cycles["model_t0_ns"].shape[0] == 8
    # Hooked ranges nest the layer's ops (the post hook closes the range after the layer).
    addmm_in_fc2 = [e for e in prof.events() if e.name == "aten::addmm" and _inside(e, "edgepower::fc2")]
    assert len(addmm_in_fc2) == forwards


def test_hooks_add_nothing_when_no_profiler_records():
    model = Small().eval()
    x = torch.randn(2, 16)
    sites, _, _ = capture(model, ["fc1", "act", "fc2"], (x,), {})
    timeline = core.Timeline()
    for s in sites:
        s.region = timeline.region(s.label)
    hooks = Hooks(model, sites, timeline)
    hooks.attach()
    try:
        assert hooks.ranges is False
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x)
    finally:
        hooks.remove()
    assert _ranges(prof) == []  # attached before the profiler started: plain marks only
    assert len(timeline.marks(0)["t_ns"]) == 6
    # Asked for explicitly, ranges come even without a profiler at attach time.
    hooks = Hooks(model, sites, timeline, ranges=True)
    hooks.attach()
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model(x)
            model(x)
    finally:
        hooks.remove()
    assert sorted(e.name for e in _ranges(prof)) == sorted(["edgepower::fc1", "edgepower::act", "edgepower::fc2"] * 2)
    assert len(timeline.marks(0)["t_ns"]) == 18
