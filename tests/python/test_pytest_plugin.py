"""The pytest plugin (edgepower.pytest_plugin), run on generated test files with `pytester`: the
energy_monitor fixture, energy_budget budgets, baselines (update, pass, fail with a readable
diff, skip on a sensor/device/dtype mismatch), the estimate skip, the summary table, and that it
is inert unless used.

Energies come from synthetic sensors: ``constant:P`` gives exactly P watts, so a test body that
waits until a deadline ``T`` seconds after it starts measures P x (T + wake-up latency) joules.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

# pytester's in-process runs drop the modules a run imported; numpy and torch cannot be imported
# twice in one process, so everything the generated tests use is imported here, once.
import edgepower.pytest_plugin  # noqa: F401,E402
import edgepower.testing.fixture  # noqa: F401,E402
import edgepower.testing.regression  # noqa: F401,E402

torch = pytest.importorskip("torch")
import edgepower.profile  # noqa: F401,E402

from conftest import subprocess_env  # noqa: E402

pytest_plugins = ["pytester"]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _entry_point():
    eps = [ep for ep in entry_points(group="pytest11") if ep.name == "edgepower"]
    return eps[0] if eps else None


def plugin_args():
    """`-p edgepower` where the entry point is installed (it also autoloads), else the module:
    registering the module under both names would be an error."""
    ep = _entry_point()
    return ["-p", "edgepower"] if ep is not None else ["-p", "edgepower.pytest_plugin"]


# A test body of a known length: waits until a deadline (sleeping in 1 ms steps), so the body
# lasts T plus at most one wake-up latency, however loaded the machine is.
BODY = '''
import time
import pytest

def wait(t_s):
    end = time.monotonic() + t_s
    while time.monotonic() < end:
        time.sleep(0.001)
'''


def run(pytester, *args):
    # The plugin is imported above (so it is not rewritten again: say nothing about it).
    return pytester.runpytest(*plugin_args(), "-p", "no:cacheprovider", "-rs",
                              "-W", "ignore::pytest.PytestAssertRewriteWarning", *args)


def test_fixture_measures_the_body_and_prints_the_table(pytester):
    pytester.makepyfile(BODY + '''
def test_body(energy_monitor):
    assert energy_monitor.running and energy_monitor.open_windows() == ["(test)"]
    wait(0.3)

def test_plain():
    pass
''')
    result = run(pytester, "--edgepower-sensor", "constant:5", "--junitxml", "out.xml")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*= edgepower energy =*", "test  *time s*energy J*avg W*",
                                 "test_fixture_measures_the_body_and_prints_the_table.py::test_body *synthetic-constant*"])
    out = result.stdout.str()
    assert "::test_plain" not in out.split("edgepower energy")[1]  # only tests that measured
    line = next(ln for ln in out.splitlines() if "::test_body " in ln)
    duration, energy, power = (float(x) for x in line.split()[1:4])
    # constant:5 is exactly 5 W: the energy is 5 x the body's duration, the body lasts >= 0.3 s.
    assert power == pytest.approx(5.0, abs=1e-3)
    assert energy == pytest.approx(5.0 * duration, rel=2e-3) and duration >= 0.3
    xml = (pytester.path / "out.xml").read_text()
    assert 'property name="edgepower"' in xml  # attached to the test report (user_properties)


def test_sensor_from_the_environment(pytester, monkeypatch):
    monkeypatch.setenv("EDGEPOWER_SENSOR", "constant:3")
    pytester.makepyfile(BODY + '''
def test_env(energy_monitor):
    wait(0.05)

def test_after(energy_monitor):
    pass
''')
    result = run(pytester)
    result.assert_outcomes(passed=2)
    line = next(ln for ln in result.stdout.lines if "::test_env " in ln)
    assert float(line.split()[3]) == pytest.approx(3.0, abs=1e-3)


def test_budgets_pass_and_fail_with_reasons(pytester):
    pytester.makepyfile(BODY + '''
@pytest.mark.energy_budget(joules=100, avg_power_w=6)
def test_within(energy_monitor):
    wait(0.1)

@pytest.mark.energy_budget(joules=0.2)
def test_over_joules():          # no fixture named: the marker measures it anyway
    wait(0.1)

@pytest.mark.energy_budget(avg_power_w=4.5)
def test_over_power(energy_monitor):
    wait(0.05)
''')
    result = run(pytester, "--edgepower-sensor", "constant:5")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    # 5 W for >= 0.1 s is >= 0.5 J, over the 0.2 J budget; 5 W is over 4.5 W.
    assert "budget joules=0.2 J exceeded: the test body measured" in out
    assert "budget avg_power_w=4.5 W exceeded: the test body measured 5 W" in out


def test_per_layer_budget_with_a_profile(pytester):
    # The regions sensor gives 30 W while layer 0 runs and 3 W while layer 1 runs, over 2 W idle:
    # layer 0's net energy per call is 28 W x its latency (> 1 us), far over a 1e-9 mJ budget; layer
    # 1's is far under 1 J.
    pytester.makepyfile('''
import pytest, torch

def small():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU())

@pytest.mark.energy_budget(per_layer_mj={"1": 1000.0})
def test_layers_ok(energy_monitor):
    r = energy_monitor.profile(small(), torch.randn(4, 16), min_window_s=0.02, rounds=2, warmup=1, idle_s=0.05)
    assert r is energy_monitor.report and [x["layer"] for x in r.layer_rows] == ["0", "1"]

@pytest.mark.energy_budget(per_layer_mj={"0": 1e-9})
def test_layer_over(energy_monitor):
    # over budget only when the whole 95 % CI is: 5 rounds keep the CI well under the mean
    energy_monitor.profile(small(), torch.randn(4, 16), min_window_s=0.02, rounds=5, warmup=1, idle_s=0.05)

@pytest.mark.energy_budget(per_layer_mj={"0": 1.0})
def test_layer_budget_needs_a_profile(energy_monitor):
    pass

@pytest.mark.energy_budget(per_layer_mj={"fc9": 1.0})
def test_unknown_layer(energy_monitor):
    energy_monitor.profile(small(), torch.randn(4, 16), min_window_s=0.02, rounds=2, warmup=1, idle_s=0.05)
''')
    result = run(pytester, "--edgepower-sensor", "regions:0/30,1/3,idle=2", "--edgepower-rate", "2000")
    result.assert_outcomes(passed=1, failed=3)
    out = result.stdout.str()
    assert "budget per_layer_mj['0']=1e-09 mJ exceeded" in out
    assert "budget per_layer_mj needs a layer profile: call energy_monitor.profile(model, x)" in out
    assert "no layer 'fc9' in the profile; layers: 0, 1, (unattributed), (model)" in out
    # a table per test that recorded a profile
    assert "test_per_layer_budget_with_a_profile.py::test_layers_ok: layers (energy per inference, 95% CI)" in out


def test_baseline_update_then_pass_then_regression_with_a_readable_diff(pytester):
    pytester.makepyfile(BODY + '''
def test_body(energy_monitor):
    wait(0.5)
''')
    base = pytester.path / "energy-baseline.json"
    # 1. record: nothing compared, the entry written with sensor, device and dtype
    result = run(pytester, "--edgepower-sensor", "constant:5", "--edgepower-baseline", str(base),
                 "--edgepower-update-baseline")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*edgepower: wrote 1 baseline entries to*energy-baseline.json"])
    d = json.loads(base.read_text())
    assert d["format"] == "edgepower-baseline/1"
    (nodeid, entry), = d["tests"].items()
    assert nodeid.endswith("::test_body")
    assert entry["sensor"] == "synthetic-constant" and entry["device"].startswith("cpu") and entry["dtype"] == ""
    assert entry["kind"] == "measurement" and entry["energy_j"] == pytest.approx(5.0 * entry["duration_s"], rel=2e-3)
    # 2. the same power: within tolerance. Each body lasts 0.5 s plus one wake-up latency (< 0.25 s
    # even on a heavily loaded machine), so the energies are within 50 % of each other.
    result = run(pytester, "--edgepower-sensor", "constant:5", "--edgepower-baseline", str(base),
                 "--edgepower-tolerance", "50%")
    result.assert_outcomes(passed=1)
    assert "% ok" in result.stdout.str()
    # 3. four times the power: +300 % (at least +167 % with those latencies), beyond 50 %: a
    # regression, with the table
    result = run(pytester, "--edgepower-sensor", "constant:20", "--edgepower-baseline", str(base),
                 "--edgepower-tolerance", "50%")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "energy changed beyond 50% and beyond the combined 95% CIs ((window))" in out
    result.stdout.fnmatch_lines(["*layer*baseline J*now J*change*tol*CI*verdict*",
                                 "*(window)*REGRESSION*"])
    assert " none  REGRESSION" in out  # a single window has no CI: the tolerance decides
    # a test without an entry is not compared, and the summary says how to record it
    pytester.makepyfile(test_other=BODY + "\ndef test_new(energy_monitor):\n    wait(0.01)\n")
    result = run(pytester, "test_other.py", "--edgepower-sensor", "constant:5", "--edgepower-baseline", str(base))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 test(s) have no entry in*record them with --edgepower-update-baseline"])


def test_baseline_mismatch_skips_with_the_reason(pytester):
    pytester.makepyfile(BODY + '''
import os

def test_body(energy_monitor):
    energy_monitor.dtype = os.environ.get("TEST_DTYPE", "float32")
    wait(0.05)
''')
    base = pytester.path / "b.json"
    run(pytester, "--edgepower-sensor", "constant:5", "--edgepower-baseline", str(base),
        "--edgepower-update-baseline").assert_outcomes(passed=1)
    assert json.loads(base.read_text())["tests"]
    # another sensor kind
    result = run(pytester, "--edgepower-sensor", "square:low=2,high=8,period=0.01", "--edgepower-baseline", str(base))
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*baseline measured with a different sensor 'synthetic-constant' (baseline) "
                                 "vs 'synthetic-square' (now)*"])
    # another dtype
    os.environ["TEST_DTYPE"] = "float16"
    try:
        result = run(pytester, "--edgepower-sensor", "constant:5", "--edgepower-baseline", str(base))
    finally:
        del os.environ["TEST_DTYPE"]
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*dtype 'float32' (baseline) vs 'float16' (now)*"])


def test_estimates_skip_unless_allowed(pytester):
    from edgepower import create_sensor

    if not create_sensor("cpu-estimate").info.estimated:  # pragma: no cover - the kind is an estimate by definition
        pytest.fail("cpu-estimate should be an estimate")
    pytester.makepyfile(BODY + '''
@pytest.mark.energy_budget(joules=1e6)
def test_body(energy_monitor):
    wait(0.05)
''')
    result = run(pytester, "--edgepower-sensor", "cpu-estimate")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*no power sensor measures here (sensor cpu-estimate gives ESTIMATES*"
                                 "--edgepower-allow-estimate*"])
    result = run(pytester, "--edgepower-sensor", "cpu-estimate", "--edgepower-allow-estimate")
    result.assert_outcomes(passed=1)
    assert "(ESTIMATE)" in result.stdout.str()


def test_unavailable_sensor_skips_and_bad_options_are_usage_errors(pytester):
    pytester.makepyfile("def test_body(energy_monitor):\n    pass\n")
    result = run(pytester, "--edgepower-sensor", "nosuch")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIPPED*sensor 'nosuch' is not available here*unknown sensor kind 'nosuch'*"])
    result = run(pytester, "--edgepower-tolerance", "ten")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--edgepower-tolerance: tolerance must be a percentage like 10% or a fraction*"])
    result = run(pytester, "--edgepower-update-baseline")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--edgepower-update-baseline needs --edgepower-baseline PATH*"])


def test_inert_unless_used(pytester):
    pytester.makepyfile("def test_a():\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    # Installed, the plugin is listed in pytest's header ("plugins: edgepower-0.1.0, ...") like
    # every pytest11 entry point; apart from that line it prints nothing.
    out = "\n".join(l for l in result.stdout.lines if not l.startswith("plugins:"))
    assert "edgepower" not in out
    # importing the plugin (and edgepower with it) does not import torch
    code = "import sys, edgepower.pytest_plugin\nprint('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_entry_point_is_declared_and_installed_as_edgepower():
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        eps = tomllib.load(f)["project"]["entry-points"]["pytest11"]
    assert eps == {"edgepower": "edgepower.pytest_plugin"}
    ep = _entry_point()
    if ep is None:
        pytest.skip("edgepower is imported from a source tree without its installed metadata (no pytest11 entry "
                    "point to check); ./scripts/test.sh installs it")
    assert ep.value == "edgepower.pytest_plugin"
    import edgepower.pytest_plugin as plugin

    assert ep.load() is plugin


def test_the_example_file_runs(pytester):
    # examples/test_energy_example.py against a synthetic 5 W source: the body budgets hold
    # (5 W < 300 W; about 0.2 s x 5 W << 50 J), and constant power has no energy above idle, so
    # the per-layer budgets hold too. Without a sensor that measures, everything skips.
    with open(os.path.join(ROOT, "examples", "test_energy_example.py")) as f:
        pytester.makepyfile(test_energy_example=f.read())
    base = pytester.path / "energy-baseline.json"
    result = run(pytester, "--edgepower-sensor", "constant:5", "--edgepower-baseline", str(base),
                 "--edgepower-update-baseline")
    result.assert_outcomes(passed=3)
    entries = json.loads(base.read_text())["tests"]
    assert entries["test_energy_example.py::test_layer_energy"]["kind"] == "report"
    assert entries["test_energy_example.py::test_inference_energy"]["kind"] == "measurement"
    result = run(pytester, "--edgepower-sensor", "cpu-estimate")
    result.assert_outcomes(skipped=3)
