"""Bad keyword arguments of the API (PowerMonitor, LayerProfiler, ProfileOptions): a ValueError or
TypeError naming the argument, raised before any sampling; a failed start() leaves nothing
running; a model that raises is reported with its own exception and the layer it came from."""
import math
import shutil
import threading

import pytest

from edgepower import PowerMonitor, SensorError
from edgepower._native import core

torch = pytest.importorskip("torch")
nn = torch.nn

from edgepower.profile import LayerProfiler, ProfileOptions  # noqa: E402
from edgepower.profile.errors import ModelError  # noqa: E402


def _threads():
    return {t.ident for t in threading.enumerate()}


# ---- PowerMonitor ---------------------------------------------------------------------------------
def test_a_failed_start_leaves_nothing_running(tmp_path):
    """The log folder disappears between construction and start(): start() raises and neither the
    sampler thread nor the log thread is left running (they were, until garbage collection)."""
    folder = tmp_path / "logs"
    folder.mkdir()
    mon = PowerMonitor(sensor="constant:5", rate_hz=1000, log_path=str(folder / "t.csv"))
    shutil.rmtree(folder)
    before = _threads()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mon.start()
    assert not mon.sampler.running and not mon.running
    assert _threads() == before
    assert mon._writer is None and mon._log_thread is None
    # The monitor is usable once the folder is back.
    folder.mkdir()
    with mon:
        mon.begin_window("w")
        m = mon.end_window("w")
    assert m.ok and m.avg_power_w == pytest.approx(5.0)


@pytest.mark.parametrize("kwargs, error, needle", [
    ({"log_path": "/nonexistent/x.csv"}, FileNotFoundError, "log_path '/nonexistent/x.csv': folder"),
    ({"log_path": "{dir}"}, IsADirectoryError, "log_path .* is a folder"),
    ({"log_path": 5}, TypeError, "log_path must be a file path"),
    ({"log_path": ""}, ValueError, "log_path must be a file path"),
    ({"rate_hz": 0}, ValueError, "rate_hz must be"),
    ({"rate_hz": "fast"}, ValueError, "rate_hz must be"),
    ({"max_consecutive_failures": True}, ValueError, "max_consecutive_failures"),
    ({"max_consecutive_failures": 0}, ValueError, "max_consecutive_failures"),
    ({"realtime": 1}, ValueError, "realtime"),
    ({"timeline": "t"}, TypeError, "timeline must be"),
    ({"root": 5}, TypeError, "root must be"),
    ({"estimator": "lag"}, TypeError, "estimator must be"),
    ({"memory_policy": "drop"}, ValueError, "memory_policy"),
    ({"max_memory_mb": -1.0}, ValueError, "max_memory_mb"),
    ({"sensor": "constant:5,seed=1e30"}, ValueError, "seed must be an integer from 0 to 2\\*\\*64-1, got '1e30'"),
    ({"sensor": "constant:5,seed=inf"}, ValueError, "seed must be an integer"),
    ({"sensor": "constant:5,seed=-1"}, ValueError, "seed must be an integer"),
    ({"sensor": "constant:5,seed=1.5"}, ValueError, "seed must be an integer"),
])
def test_power_monitor_keywords_are_checked_before_sampling(kwargs, error, needle, tmp_path):
    kwargs = {k: (v.format(dir=tmp_path) if isinstance(v, str) else v) for k, v in kwargs.items()}
    kwargs.setdefault("sensor", "constant:5")
    before = _threads()
    with pytest.raises(error, match=needle):
        PowerMonitor(**kwargs)
    assert _threads() == before


def test_a_huge_seed_below_the_limit_is_accepted():
    # 2**64 - 1 is the native generator's largest seed; it is accepted and the sensor reads.
    mon = PowerMonitor(sensor=f"constant:5,noise=0.1,seed={2 ** 53}")
    power, _ = mon.sensor.read()
    assert math.isfinite(power[0])


# ---- LayerProfiler and ProfileOptions ------------------------------------------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.ReLU()
        self.out = nn.Linear(4, 2)

    def forward(self, x):
        return self.out(self.act(self.fc(x)))


@pytest.mark.parametrize("kwargs, error, needle", [
    ({"rounds": 0}, ValueError, "rounds must be"),
    ({"repeats": 0}, ValueError, "repeats must be"),
    ({"repeats": "many"}, ValueError, "repeats must be"),
    ({"min_window_s": -1}, ValueError, "min_window_s must be"),
    ({"idle_s": float("nan")}, ValueError, "idle_s must be"),
    ({"idle_power_w": -2.0}, ValueError, "idle_power_w must be"),
    ({"warmup": -1}, ValueError, "warmup must be"),
    ({"seed": 1.5}, ValueError, "seed must be"),
    ({"mode": "fast"}, ValueError, "unknown profiling mode 'fast'"),
    ({"estimator": "magic"}, ValueError, "estimator must be"),
    ({"max_round_s": 0}, ValueError, "max_round_s must be"),
    ({"sync_layers": 1}, ValueError, "sync_layers must be"),
    ({"layers": ["nope"]}, ValueError, "no module named 'nope'"),
    ({"layers": "nope"}, ValueError, "unknown layer preset 'nope'"),
    ({"layers": [3]}, TypeError, "layer names must be strings"),
    ({"depth": 0}, ValueError, "depth must be"),
    ({"layers": ["fc"], "depth": 1}, ValueError, "either layers= or depth="),
    ({"rate_hz": 0}, ValueError, "rate_hz must be"),
    ({"sensor": "constant:5,seed=1e30"}, ValueError, "seed must be"),
    ({"sensor": "nosuch"}, ValueError, "unknown sensor kind"),
    ({"progress": 5}, TypeError, "progress must be"),
    ({"before_window": 5}, TypeError, "before_window must be"),
    ({"monitor": 5}, TypeError, "monitor must be"),
    ({"options": {"rounds": 3}}, TypeError, "options must be"),
])
def test_layer_profiler_keywords_are_checked_before_sampling(kwargs, error, needle):
    kwargs.setdefault("sensor", "constant:5")
    before = _threads()
    with pytest.raises(error, match=needle):
        LayerProfiler(Net(), **kwargs)
    assert _threads() == before


def test_profile_options_name_the_bad_field():
    for field, bad in (("rounds", 0), ("min_repeats", 0), ("k_updates", 0), ("edge_retries", -1),
                       ("trace_model", "yes"), ("in_situ", None)):
        with pytest.raises(ValueError, match=field):
            ProfileOptions(**{field: bad})


def test_model_is_checked_to_be_a_module():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        LayerProfiler(lambda x: x, sensor="constant:5")


# ---- a model that raises ---------------------------------------------------------------------------------
class Failing(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.inner = nn.Sequential(nn.ReLU(), Exploding())

    def forward(self, x, scale=1.0):
        return self.inner(self.fc(x)) * scale


class Exploding(nn.Module):
    def forward(self, x):
        raise ZeroDivisionError("the model's own bug")


FAST = dict(sensor="constant:5", rounds=2, idle_s=0.0, min_window_s=0.01)


def test_an_error_inside_the_model_is_reported_as_such_with_its_layer():
    before = _threads()
    with pytest.raises(ModelError) as info:
        LayerProfiler(Failing(), **FAST).profile(torch.randn(2, 4))
    msg = str(info.value)
    assert "Failing raised ZeroDivisionError in layer 'inner.1' (Exploding)" in msg
    assert "the model's own bug" in msg and "2x4" in msg
    assert "rejected the inputs" not in msg and not info.value.input_mismatch
    assert info.value.layer == "inner.1" and isinstance(info.value.__cause__, ZeroDivisionError)
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working
    assert _threads() == before  # it failed in the capture, before sampling


def test_inputs_that_do_not_fit_forward_are_an_input_mismatch():
    with pytest.raises(ModelError) as info:
        LayerProfiler(Net(), **FAST).profile(torch.randn(2, 4), torch.randn(2, 4))
    msg = str(info.value)
    assert info.value.input_mismatch and info.value.layer is None
    assert "Net does not take the inputs given (2x4, 2x4)" in msg and "forward(x)" in msg
    with pytest.raises(ModelError, match="unexpected keyword argument 'mask'"):
        LayerProfiler(Net(), **FAST).profile(torch.randn(2, 4), mask=torch.ones(2))


def test_a_shape_error_names_the_layer_that_raised_it():
    with pytest.raises(ModelError) as info:
        LayerProfiler(Net(), **FAST).profile(torch.randn(2, 5))
    assert info.value.layer == "fc" and "in layer 'fc' (Linear)" in str(info.value)
    assert "RuntimeError" in str(info.value) and "2x5" in str(info.value)


def test_an_error_in_the_models_own_forward_code():
    class OwnCode(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            y = self.fc(x)
            return y.reshape(3, 7)

    with pytest.raises(ModelError, match=r"OwnCode raised RuntimeError in its own forward \(OwnCode.forward\)") as info:
        LayerProfiler(OwnCode(), **FAST).profile(torch.randn(2, 4))
    assert info.value.layer == ""


def test_sensor_errors_stay_sensor_errors():
    # A replay of a missing file is unavailable: SensorError (SensorUnavailable), naming the file.
    with pytest.raises(SensorError, match="nonexistent"):
        PowerMonitor(sensor="replay:path=/nonexistent/trace.csv")
    assert issubclass(core.SensorUnavailable, SensorError)
