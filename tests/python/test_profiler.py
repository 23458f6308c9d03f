"""LayerProfiler on small models with synthetic sensors: call sites, accuracy against a known
power per layer, in-place layers, failures, interrupts, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from edgepower.report import MEASURED

torch = pytest.importorskip("torch")
nn = torch.nn

import edgepower  # noqa: E402
from edgepower._native import core  # noqa: E402
from edgepower.profile import LayerProfiler, profile_layers  # noqa: E402

FAST = dict(min_window_s=0.02, rounds=2, warmup=1, idle_s=0.05, rate_hz=2000)


class ResBlock(nn.Module):
    """A ResNet-style block: one ReLU module called twice, a residual add and a flatten outside
    any module."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=inplace)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        y = self.relu(self.conv1(x))
        y = self.relu(self.conv2(y) + y)
        return self.fc(torch.flatten(y, 1))


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- bad input ------------------------------------------------------------------------------------
def test_model_must_be_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        LayerProfiler(lambda x: x, sensor="constant:5")


@pytest.mark.parametrize("kw", [dict(repeats=0), dict(repeats=-3), dict(min_window_s=0), dict(min_window_s=-0.1),
                                dict(rounds=0), dict(repeats="many"), dict(min_window_s=float("nan"))])
def test_bad_repeats_and_windows_are_value_errors(kw):
    with pytest.raises(ValueError):
        LayerProfiler(ResBlock(), sensor="constant:5", **kw)


def test_unknown_layer_lists_close_matches():
    with pytest.raises(ValueError, match="conv1"):
        LayerProfiler(ResBlock(), sensor="constant:5", layers=["conv", "fc"])


def test_nested_layers_are_rejected():
    model = nn.Sequential(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="contains"):
        LayerProfiler(model, sensor="constant:5", layers=["0", "0.1"])


def test_rejected_inputs_name_model_and_shapes():
    prof = LayerProfiler(ResBlock(), sensor="constant:5", **FAST)
    with pytest.raises(ValueError) as exc:
        prof.profile(torch.randn(2, 5, 8, 8))
    msg = str(exc.value)
    assert "ResBlock" in msg and "2x5x8x8" in msg


# ---- call sites and accuracy ----------------------------------------------------------------------
LEVELS = {"conv1": 9.0, "relu#0": 4.0, "conv2": 12.0, "relu#1": 6.0, "fc": 7.0}
IDLE_W = 2.0


def truth_from_timeline(timeline, report, label):
    """(level - idle) x the time the layer's region was active, per call, averaged over rounds,
    from the timeline's own windows."""
    w = timeline.windows()
    spans = {}
    for rid, t0, t1 in zip(w["region"], w["t0_ns"], w["t1_ns"]):
        spans[(timeline.region_name(int(rid)), int(t0))] = (int(t1) - int(t0)) * 1e-9
    per_round = []
    for win in report.windows:
        if win["label"] == label and win["kind"] == "layer":
            per_round.append((LEVELS[label] - IDLE_W) * spans[(label, win["t0_ns"])] / win["calls"])
    assert len(per_round) == report.row(label)["rounds"]
    return float(np.mean(per_round)) * 1e3


def model_truth_from_timeline(timeline, report):
    """Energy above idle of the layer regions marked inside each whole-model window."""
    w = timeline.windows()
    names = [timeline.region_name(int(r)) for r in w["region"]]
    per_round = []
    for win in report.windows:
        if win["kind"] != "model":
            continue
        e = 0.0
        for name, t0, t1 in zip(names, w["t0_ns"], w["t1_ns"]):
            if name in LEVELS and win["t0_ns"] <= t0 and t1 <= win["t1_ns"]:
                e += (LEVELS[name] - IDLE_W) * (int(t1) - int(t0)) * 1e-9
        per_round.append(e / win["calls"])
    return float(np.mean(per_round)) * 1e3


def test_shared_relu_rows_and_energy_within_1pct_of_truth():
    timeline = core.Timeline()
    sensor = core.RegionSensor(timeline, LEVELS, IDLE_W)
    model = ResBlock()
    report = profile_layers(model, torch.randn(2, 3, 8, 8), sensor=sensor, rate_hz=4000, min_window_s=0.25,
                            rounds=2, warmup=1, idle_s=0.1, trace_model=True, ci_target_pct=None)  # 2 rounds
    labels = [r["layer"] for r in report.rows]
    assert labels == ["conv1", "relu#0", "conv2", "relu#1", "relu", "fc", "(unattributed)", "(model)"]
    assert no_hooks(model)
    assert report.meta["idle_power_w"] == pytest.approx(IDLE_W, abs=1e-9)
    for label in LEVELS:
        row = report.row(label)
        assert row["status"] in MEASURED and row["rounds"] == 2
        truth = truth_from_timeline(timeline, report, label)
        assert row["net_energy_per_inference_mj"] == pytest.approx(truth, rel=0.01), label
        # The same truth through the report's own latency: (level - idle) x latency.
        assert row["net_energy_per_inference_mj"] == pytest.approx((LEVELS[label] - IDLE_W) * row["latency_ms"],
                                                                   rel=0.01)
        assert row["avg_power_w"] == pytest.approx(LEVELS[label], rel=0.01)
        assert row["num_samples"] > 100 and row["estimated"] is False
    total = report.row("relu")
    assert total["kind"] == "module total" and total["call"] is None
    assert total["net_energy_per_inference_mj"] == pytest.approx(
        report.row("relu#0")["net_energy_per_inference_mj"] + report.row("relu#1")["net_energy_per_inference_mj"])
    # The whole model, with the layers' regions marked inside it: a fast-switching power sampled
    # at 4 kHz, so a looser bound.
    model_row = report.row("(model)")
    assert model_row["net_energy_per_inference_mj"] == pytest.approx(model_truth_from_timeline(timeline, report),
                                                                     rel=0.1)
    layers = sum(report.row(k)["net_energy_per_inference_mj"] for k in LEVELS)
    un = report.row("(unattributed)")
    assert un["net_energy_per_inference_mj"] == pytest.approx(model_row["net_energy_per_inference_mj"] - layers,
                                                              rel=1e-6, abs=1e-9)
    assert report.closure["net_energy"] == pytest.approx(layers / model_row["net_energy_per_inference_mj"])
    # Shares only for rows whose CI excludes zero, and those add up to 100 %.
    parts = [report.row(k) for k in list(LEVELS) + ["(unattributed)"]]
    ok = [r for r in parts if r["status"] == "ok"]
    if ok:
        assert sum(r["energy_pct"] for r in ok) == pytest.approx(100.0)
    assert all(math.isnan(r["energy_pct"]) for r in parts if r["status"] != "ok")
    assert all(math.isfinite(report.row(k)["ci95_pct"]) for k in LEVELS)


def test_fixed_repeats_run_exactly_n_calls_per_window():
    report = profile_layers(ResBlock(), torch.randn(1, 3, 8, 8), sensor="constant:5", repeats=7, rounds=2,
                            warmup=0, idle_s=0.05)
    assert {w["calls"] for w in report.windows} == {7}
    for row in report.layer_rows:
        assert row["repeats"] == 14
    # A constant sensor: all power is idle power, nothing is left above it.
    assert report.row("conv1")["net_energy_per_inference_mj"] == 0.0
    assert report.row("conv1")["avg_power_w"] == pytest.approx(5.0)


def test_adaptive_windows_reach_the_target_and_min_repeats():
    report = profile_layers(ResBlock(), torch.randn(1, 3, 8, 8), sensor="constant:5", min_window_s=0.03,
                            min_repeats=5, rounds=1, warmup=1, idle_s=0.05)
    assert report.meta["method"]["target_window_s"] == pytest.approx(0.03)
    for w in report.windows:
        assert w["duration_s"] >= 0.03 and w["calls"] >= 5


def test_adaptive_window_follows_the_sensor_update_interval():
    # refresh=0.005 s: the sensor says it updates every 5 ms, so windows last >= 4 x 5 ms.
    report = profile_layers(ResBlock(), torch.randn(1, 3, 8, 8), sensor="constant:5,refresh=0.005",
                            min_window_s=0.001, k_updates=4, rounds=1, warmup=0, idle_s=0.05)
    assert report.meta["method"]["sensor_update_interval_s"] == pytest.approx(0.005)
    assert report.meta["method"]["target_window_s"] == pytest.approx(0.02)
    assert min(w["duration_s"] for w in report.windows) >= 0.02


# ---- in-place layers, failures, interrupts --------------------------------------------------------
class AddOneInPlace(nn.Module):
    """In place; refuses an input it has already changed (as repeats on one tensor would give)."""

    def forward(self, x):
        if x.max() > 100:
            raise RuntimeError("input was changed by an earlier call")
        return x.add_(1000)


def test_inplace_layer_is_restored_before_every_call():
    model = nn.Sequential(nn.Linear(8, 8), AddOneInPlace(), nn.Linear(8, 2))
    x = torch.randn(2, 8)
    before = x.clone()
    report = profile_layers(model, x, sensor="constant:5", **FAST)
    row = report.row("1")
    assert row["status"] in MEASURED, row["error"]
    assert row["inplace"] is True and row["repeats"] > 10
    assert "restore" in row["note"]
    assert report.row("0")["inplace"] is False
    assert {w["kind"] for w in report.windows if w["label"] == "1"} == {"layer", "restore"}
    assert torch.equal(x, before)  # the caller's input is untouched


def test_inplace_relu_restore_cost_is_subtracted():
    # Region levels for the layer and for its restore copies: net energy per call must equal
    # (level - idle) x the restore-corrected latency.
    timeline = core.Timeline()
    levels = {"relu#0": 6.0, "relu#0 (restore)": 6.0, "relu#1": 6.0, "relu#1 (restore)": 6.0}
    sensor = core.RegionSensor(timeline, levels, 1.0)
    model = ResBlock(inplace=True)
    report = profile_layers(model, torch.randn(4, 3, 8, 8), sensor=sensor, layers=["relu"], rate_hz=4000,
                            min_window_s=0.1, rounds=2, warmup=1, idle_s=0.05)
    for label in ("relu#0", "relu#1"):
        row = report.row(label)
        assert row["inplace"] is True and row["status"] in MEASURED
        assert row["latency_ms"] > 0
        assert row["net_energy_per_inference_mj"] == pytest.approx(5.0 * row["latency_ms"], rel=0.05)


class Stateful(nn.Module):
    """Works once, then raises: fails in isolation."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("stateful layer called twice")
        return x * 2


def test_failing_layer_is_reported_and_others_go_on():
    model = nn.Sequential(nn.Linear(8, 8), Stateful(), nn.Linear(8, 2))
    report = profile_layers(model, torch.randn(2, 8), sensor="constant:5", **FAST)
    bad = report.row("1")
    assert bad["status"] == "failed" and "stateful layer called twice" in bad["error"]
    assert math.isnan(bad["latency_ms"])
    for label in ("0", "2"):
        row = report.row(label)
        assert row["status"] in MEASURED and row["latency_ms"] > 0 and row["rounds"] == 2
    assert report.row("(model)")["status"] == "failed"  # the whole model calls it too
    assert set(report.failed) == {"1", "(model)"}
    assert "FAILED" in report.summary()
    assert no_hooks(model)


class Interrupt(nn.Module):
    def __init__(self, after: int):
        super().__init__()
        self.after = after
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > self.after:
            raise KeyboardInterrupt
        return x + 1


def open_regions(timeline) -> int:
    m = timeline.marks()
    return int((m["kind"] == 1).sum()) - int((m["kind"] == 0).sum())


@pytest.mark.parametrize("after", [0, 6])
def test_keyboard_interrupt_leaves_no_hooks_behind(after):
    # after=0: in the capture's dry run; after=6: while layers (or the whole model, with its
    # trace hooks attached) are being measured.
    timeline = core.Timeline()
    sensor = core.RegionSensor(timeline, {"0": 3.0}, 1.0)
    model = nn.Sequential(nn.Linear(8, 8), Interrupt(after), nn.Linear(8, 2))
    model.train()
    prof = LayerProfiler(model, sensor=sensor, trace_model=True, **FAST)
    with pytest.raises(KeyboardInterrupt):
        prof.profile(torch.randn(2, 8))
    assert no_hooks(model)
    assert all(m.training for m in model.modules())  # modes restored
    assert open_regions(timeline) == 0


def test_interrupt_from_progress_callback_mid_profile():
    model = ResBlock()
    seen = []

    def progress(p):
        seen.append(p.stage)
        if p.stage == "measure" and p.done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        LayerProfiler(model, sensor="constant:5", progress=progress, **FAST).profile(torch.randn(1, 3, 8, 8))
    assert no_hooks(model) and "capture" in seen and "idle" in seen


def test_given_idle_power_and_no_baseline():
    report = profile_layers(ResBlock(), torch.randn(1, 3, 8, 8), sensor="constant:5", idle_power_w=3.0,
                            min_window_s=0.02, rounds=1)
    assert report.meta["idle_source"] == "given"
    row = report.row("conv1")
    assert row["net_power_w"] == pytest.approx(2.0)
    report = profile_layers(ResBlock(), torch.randn(1, 3, 8, 8), sensor="constant:5", idle_s=0,
                            min_window_s=0.02, rounds=1)
    assert math.isnan(report.row("conv1")["net_energy_per_inference_mj"])
    assert report.row("conv1")["energy_per_inference_mj"] > 0


def test_kwargs_and_non_tensor_args_are_captured():
    class Scale(nn.Module):
        def forward(self, x, factor=1.0, mask=None):
            return x * factor if mask is None else x * factor * mask

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.scale = Scale()

        def forward(self, x, mask=None):
            return self.scale(self.lin(x), 3.0, mask=mask)

    report = profile_layers(Model(), torch.randn(2, 4), model_kwargs={"mask": torch.ones(2, 4)},
                            sensor="constant:5", **FAST)
    assert report.row("scale")["input_shapes"] == "2x4, 3.0, mask=2x4"
    assert report.row("(model)")["input_shapes"] == "2x4, mask=2x4"
    assert report.row("scale")["status"] in MEASURED


def test_edgepower_exports_the_profiler():
    assert edgepower.LayerProfiler is LayerProfiler
    assert edgepower.profile_layers is profile_layers
    assert edgepower.Report.__name__ == "Report"
