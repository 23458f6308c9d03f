"""The rate and in-situ round length a profile uses when they are left out
(edgepower/profile/sampling.py): 1 kHz and 5 s rounds, but 5 kHz and 15 s rounds in situ on an
INA3221 whose sysfs ``samples`` says it averages several conversions per reading."""
import pytest

torch = pytest.importorskip("torch")

from edgepower import testing as T  # noqa: E402
from edgepower.profile import LayerProfiler  # noqa: E402
from edgepower.profile.sampling import sampling_defaults, window_defaults  # noqa: E402


def _net():
    return torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU())


@pytest.fixture(scope="module")
def boards():
    """Emulated Jetson boards (real jetson-hwmon trees read by the real reader): N=512, 140 us
    (NVIDIA's device trees) and N=1 (the chip's reset default)."""
    src = T.RegionSource({}, idle_w=2.0)
    with T.Ina3221(src, averages=512, conversion_s=140e-6) as n512, T.Ina3221(src, averages=1) as n1:
        yield {"512": n512.sensor(), "1": n1.sensor()}


def test_in_situ_on_a_running_average_defaults_to_5_khz_and_15_s_rounds(boards):
    prof = LayerProfiler(_net(), sensor=boards["512"], mode="in-situ")
    assert prof.rate_hz == 5000.0 and prof.options.in_situ.max_round_s == 15.0
    assert "samples=512" in prof.sampling_why and not prof.sampling_why.endswith("given)")


@pytest.mark.parametrize("kw", [dict(mode="isolation"), dict(mode="in-situ", attribution="assignment")],
                         ids=["isolation", "assignment"])
def test_without_deconvolution_the_defaults_stay_1_khz_and_5_s(boards, kw):
    prof = LayerProfiler(_net(), sensor=boards["512"], **kw)
    assert prof.rate_hz == 1000.0 and prof.options.in_situ.max_round_s == 5.0


def test_a_single_conversion_per_reading_keeps_1_khz(boards):
    prof = LayerProfiler(_net(), sensor=boards["1"], mode="in-situ")
    assert prof.rate_hz == 1000.0 and prof.options.in_situ.max_round_s == 5.0


def test_given_values_are_kept_and_said_given(boards):
    prof = LayerProfiler(_net(), sensor=boards["512"], mode="in-situ", rate_hz=2000, max_round_s=3.0)
    assert prof.rate_hz == 2000.0 and prof.options.in_situ.max_round_s == 3.0
    assert "(rate_hz, max_round_s given)" in prof.sampling_why
    only_rate = LayerProfiler(_net(), sensor=boards["512"], mode="in-situ", rate_hz=2000)
    assert only_rate.options.in_situ.max_round_s == 15.0 and "(rate_hz given)" in only_rate.sampling_why


def test_a_sensor_without_a_running_average_and_the_functions_contract():
    info = T.RegionSource({}, idle_w=1.0)  # not a jetson-hwmon sensor: no sysfs samples to read
    assert sampling_defaults(info, "in-situ", "auto")[:2] == (1000.0, 5.0)
    assert sampling_defaults(info, "in-situ", "auto", 250, None)[:2] == (250.0, 5.0)


def test_the_report_says_where_the_rate_came_from():
    rep = LayerProfiler(_net(), sensor="constant:5", mode="in-situ", rounds=1, repeats=3, idle_s=0.0,
                        idle_power_w=0.0).profile(torch.randn(2, 8))
    assert rep.meta["method"]["sampling"] == ("1000 Hz and in-situ rounds of up to 5 s unless given; "
                                              "3 rounds of windows of at least 0.2 s and 10 updates unless given (rounds given)")
    assert rep.meta["monitor"]["requested_rate_hz"] == 1000.0


def test_a_rate_that_is_not_a_number_is_refused_before_the_sensor_is_built():
    with pytest.raises(ValueError, match="rate_hz must be a number of Hz or None"):
        LayerProfiler(_net(), sensor="nosuch", rate_hz="fast")


def test_isolation_on_the_cpu_estimate_defaults_to_16_rounds_of_at_least_0_05_s():
    """The CPU estimate's spread is the machine's from round to round: more, shorter rounds."""
    prof = LayerProfiler(_net(), sensor="cpu-process")
    assert (prof.options.rounds, prof.options.min_window_s, prof.options.k_updates) == (16, 0.05, 5.0)
    assert "cpu-process" in prof.sampling_why and not prof.sampling_why.endswith("given)")
    given = LayerProfiler(_net(), sensor="cpu-process", rounds=4, min_window_s=0.3, k_updates=2)
    assert (given.options.rounds, given.options.min_window_s, given.options.k_updates) == (4, 0.3, 2.0)
    assert given.sampling_why.endswith("(rounds, min_window_s, k_updates given)")


@pytest.mark.parametrize("sensor,mode", [("constant:5", "isolation"), ("cpu-process", "in-situ")])
def test_other_sensors_and_in_situ_keep_3_rounds_of_0_2_s(sensor, mode):
    prof = LayerProfiler(_net(), sensor=sensor, mode=mode)
    assert (prof.options.rounds, prof.options.min_window_s, prof.options.k_updates) == (3, 0.2, 10.0)


def test_window_defaults_keep_given_values():
    info = LayerProfiler(_net(), sensor="cpu-process").sensor.info
    assert window_defaults(info, "isolation", 5, None)[:3] == (5, 0.05, 5.0)
    assert window_defaults(info, "isolation", None, 0.5, 7)[:3] == (16, 0.5, 7.0)
