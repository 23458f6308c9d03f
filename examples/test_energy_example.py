"""Energy regression tests with edgepower's pytest plugin (docs/pytest.md).

Not collected by the project's own test run (pytest's testpaths is tests/python). Run it with a
power sensor, first recording the baseline (a JSON file to commit), then checking against it:

    pytest examples/test_energy_example.py --edgepower-baseline examples/energy-baseline.json \
        --edgepower-update-baseline
    pytest examples/test_energy_example.py --edgepower-baseline examples/energy-baseline.json

Add ``-p edgepower`` where plugin autoloading is off (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1). Where no
power sensor measures (a CI box: only the cpu-estimate sensor), these tests skip with the reason,
unless ``--edgepower-allow-estimate``; ``--edgepower-sensor constant:5`` runs them against a
synthetic 5 W source.
"""
import time

import pytest

torch = pytest.importorskip("torch")


def small_cnn():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(32, 10))
    return model.eval(), torch.randn(8, 3, 32, 32)


def test_inference_energy(energy_monitor):
    """The energy of the test body (20 forwards) is checked against the baseline entry of this test."""
    model, x = small_cnn()
    with torch.inference_mode():
        for _ in range(20):
            model(x)


@pytest.mark.energy_budget(joules=50.0, avg_power_w=300.0)
def test_inference_within_budget(energy_monitor):
    """Fails when the body uses more than 50 J or averages more than 300 W."""
    model, x = small_cnn()
    with torch.inference_mode():
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            model(x)


@pytest.mark.energy_budget(per_layer_mj={"0": 100.0, "3": 100.0})
def test_layer_energy(energy_monitor):
    """A layer profile on the test's sensor: budgets per layer (net mJ per inference), and the
    baseline compares every layer with its 95 % CI."""
    model, x = small_cnn()
    report = energy_monitor.profile(model, x, rounds=3, min_window_s=0.05, idle_s=0.2)
    assert report.row("0")["type"] == "Conv2d"
