"""Extra rounds for the call sites whose CI is wider than the target (edgepower.profile.precision)."""
import math
import time

import pytest
import torch

import edgepower
from edgepower import _core as core
from edgepower.profile import ProfileOptions
from edgepower.profile import precision
from edgepower.profile.precision import relative_ci_pct, rounds_in
from edgepower.report import Window

IDLE_W = 2.0
T975 = {2: 4.302652729911275, 7: 2.364624251592785}  # Student t(0.975, dof)


def _windows(label, per_call_j, calls=10, seconds=1.0):
    return [Window(label, label, 0, r, "layer", 0, int(seconds * 1e9), calls, duration_s=seconds,
                   energy_j=e * calls) for r, e in enumerate(per_call_j)]


def test_relative_ci_is_the_t_interval_of_the_headline_figure():
    # Gross 10, 11, 12 J per call: mean 11, SD 1, CI t(2) x 1 / sqrt(3).
    ws = _windows("a", [10.0, 11.0, 12.0])
    assert relative_ci_pct(ws, "a", 3, None) == pytest.approx(T975[2] / math.sqrt(3) / 11 * 100, rel=1e-9)
    # Net of 1 W idle over 1 s windows of 10 calls: 0.1 J per call less, same SD.
    assert relative_ci_pct(ws, "a", 3, 1.0) == pytest.approx(T975[2] / math.sqrt(3) / 10.9 * 100, rel=1e-9)
    # Nothing to aim at: a CI that includes zero, a figure of zero, one round.
    assert math.isnan(relative_ci_pct(_windows("b", [1.0, 2.0, 3.0]), "b", 3, None))  # CI 2.48 > mean 2
    assert math.isnan(relative_ci_pct(_windows("c", [0.2, 0.2, 0.2]), "c", 3, 2.0))  # net exactly 0
    assert math.isnan(relative_ci_pct(_windows("d", [5.0]), "d", 1, None))
    # A round without a window of the site is skipped, not counted as zero.
    ws = _windows("a", [10.0, 11.0, 12.0]) + [Window("other", "other", 0, 3, "layer", 0, 1, 1)]
    assert rounds_in(ws, 3) == 4
    assert relative_ci_pct(ws, "a", 4, None) == pytest.approx(T975[2] / math.sqrt(3) / 11 * 100, rel=1e-9)


def test_sites_whose_ci_is_negligible_beside_the_model_get_no_extra_round():
    # The whole model at 1000 J per inference: a CI under 1e-4 of it (0.1 J) changes no total.
    # "tiny" is as wide relative to itself (+-60 %) as "small" but 100 x smaller.
    class Site:
        def __init__(self, label):
            self.label, self.error = label, ""

    class FakeRun:
        idle_power_w = None
        windows = (_windows("(model)", [1000.0, 1010.0, 990.0]) + _windows("small", [1.0, 1.3, 0.8])
                   + _windows("tiny", [0.010, 0.013, 0.008]) + _windows("steady", [5.0, 5.01, 4.99]))

    rel_small = T975[2] * 0.2516611478 / math.sqrt(3) / (3.1 / 3) * 100  # SD of 1.0, 1.3, 0.8
    above = precision.above_target(FakeRun(), [Site(x) for x in ("(model)", "small", "tiny", "steady")], 3, 10.0)
    assert above == pytest.approx({"small": rel_small}, rel=1e-6)
    assert relative_ci_pct(FakeRun.windows, "tiny", 3, None) == pytest.approx(rel_small, rel=1e-6)


class Wait(torch.nn.Module):
    """Busy-waits ``ms`` per call (set between windows by the test)."""

    def __init__(self, ms):
        super().__init__()
        self.ms = ms

    def forward(self, x):
        end = time.perf_counter() + self.ms * 1e-3
        while time.perf_counter() < end:
            pass
        return x + 1


class Pair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.steady = Wait(0.5)
        self.noisy = Wait(2.0)

    def forward(self, x):
        return self.noisy(self.steady(x))


def _profile(model, **kw):
    timeline = core.Timeline()
    # Both layers draw 6 W, idle 2 W: net energy per call = 4 W x the call's wall time. The whole
    # model's region is not named, so it draws idle: a net of 0 that no round count can aim at.
    sensor = core.RegionSensor(timeline, {"steady": 6.0, "noisy": 6.0}, IDLE_W)
    step = {"n": 0}

    def before_window(label, r):
        time.sleep(0.003)  # the samples around each edge are the window's own level (test_rows.py)
        if label == "noisy":  # alternately 2.0 and 4.0 ms a call: a spread of 33 % of the mean per round
            model.noisy.ms = 2.0 if step["n"] % 2 == 0 else 4.0
            step["n"] += 1

    return edgepower.profile_layers(model, torch.zeros(4), sensor=sensor, rate_hz=2000, min_window_s=0.03,
                                    rounds=4, warmup=1, idle_s=0.05, before_window=before_window, **kw)


def test_a_site_wider_than_the_target_gets_extra_rounds_up_to_max_rounds(monkeypatch):
    # noisy's per-round figures alternate 8.0 / 16.0 mJ (4 W x 2.0 / 4.0 ms, + the machine's
    # noise): with 4 rounds its CI is t(3) x 4.62 / sqrt(4) / 12 ~ 61 % (it would include zero,
    # and so not be aimed at, only with a spread from the machine of twice the alternation's),
    # with 5 t(4) x 4.38 / sqrt(5) / 11.2 ~ 49 %, and with 8 still t(7) x 4.28 / sqrt(8) / 12
    # ~ 30 % > 10 %, so it runs to max_rounds; no time budget. The machine's noise can only
    # bring that under 10 % by stretching every call by 6 ms or more on average (a call whose
    # busy-wait ends while its thread is off the CPU lasts until it is back: beside two busy
    # loops, a fraction of a 3-4 ms scheduler slice). Until 2026-12-02 the levels were 2.0 and
    # 2.6 ms: 24 % at 4 rounds and 12 % at 8, and a stress run of the suite saw noisy fall
    # under 10 % after 5 rounds (1 extra round instead of 4).
    monkeypatch.setattr(precision, "EXTRA_TIME_FRACTION", 1e6)
    report = _profile(Pair(), ci_target_pct=10.0, max_rounds=8)
    info = report.meta["method"]["precision"]
    assert info["extra_rounds"].get("noisy") == 4, info
    assert info["stopped"] == "max_rounds (8) reached"
    assert report.row("noisy")["rounds"] == 8
    assert info["above_target_pct"]["noisy"] > 10.0
    assert "(model)" not in info["extra_rounds"]  # its net is 0: nothing to aim at
    # The rounds each site holds are the windows it has: one per round.
    for label in ("steady", "noisy", "(model)"):
        rounds = {w["round"] for w in report.windows if w["label"] == label and w["kind"] in ("layer", "model")}
        assert report.row(label)["rounds"] == len(rounds)
        assert rounds == set(range(4 + info["extra_rounds"].get(label, 0)))
    assert "extra round" in report.summary() and "noisy" in report.summary()
    # The rows still add up to the model: (unattributed) is the model's mean less the layers'
    # means (its CI from the rounds that hold every site, paired).
    parts = [r for r in report.rows if r["kind"] in ("layer", "unattributed")]
    for key in ("latency_ms", "energy_per_inference_mj", "net_energy_per_inference_mj"):
        assert sum(r[key] for r in parts) == pytest.approx(report.row("(model)")[key], rel=1e-9, abs=1e-12), key
    # The closure per round needs every site and the whole model in it: the planned rounds only.
    assert report.closure_ci["latency"]["n"] == 4


def test_no_extra_round_without_a_target_or_past_the_time_budget(monkeypatch):
    report = _profile(Pair(), ci_target_pct=None)
    assert {w["round"] for w in report.windows} == {0, 1, 2, 3}
    assert report.meta["method"]["precision"]["stopped"].startswith("no target")
    assert "extra round" not in report.summary()
    monkeypatch.setattr(precision, "EXTRA_TIME_FRACTION", 0.0)
    report = _profile(Pair())
    info = report.meta["method"]["precision"]
    assert {w["round"] for w in report.windows} == {0, 1, 2, 3}
    assert info["stopped"].startswith("time budget reached") and info["extra_rounds"] == {}
    assert info["above_target_pct"]["noisy"] > 10.0
    # Named with its CI; beside other load steady's CI can be above the target too (listed first
    # when wider).
    line = next(ln for ln in report.summary().splitlines() if ln.startswith("precision:"))
    assert "still above: " in line and f"noisy (+-{info['above_target_pct']['noisy']:.3g} %)" in line


def test_a_loose_target_is_met_after_the_planned_rounds():
    report = _profile(Pair(), ci_target_pct=1e6)
    info = report.meta["method"]["precision"]
    assert {w["round"] for w in report.windows} == {0, 1, 2, 3} and info["extra_rounds"] == {}
    assert info["stopped"] == "every site within +-1e+06 % after the planned rounds"


@pytest.mark.parametrize("kw, message", [
    ({"ci_target_pct": 0}, "ci_target_pct must be a percentage > 0"),
    ({"ci_target_pct": "10"}, "ci_target_pct must be a percentage > 0"),
    ({"max_rounds": 2}, "max_rounds must be an int >= rounds (3)"),
    ({"max_rounds": 4.0}, "max_rounds must be an int >= rounds (3)"),
])
def test_bad_precision_options_say_what_is_allowed(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ProfileOptions(**kw)
