"""Other processes' CPU load during the idle baseline (edgepower.profile.load): measured from
/proc/stat less this process's own CPU time, and a warning when it leaves torch's threads no
free CPU."""
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import edgepower  # noqa: E402
from edgepower.cli.threads import passive_waits  # noqa: E402
from edgepower.profile import load  # noqa: E402


def _stat(tmp_path, fields):
    p = tmp_path / "stat"
    p.write_text("cpu  " + " ".join(str(f) for f in fields) + "\ncpu0 1 2 3 4\nintr 1\n")
    return str(p)


def test_snapshot_reads_the_busy_fields(tmp_path):
    tck = __import__("os").sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal: busy = all but idle and iowait
    s = load.snapshot(_stat(tmp_path, [100, 20, 30, 5000, 400, 7, 8, 9, 0, 0]))
    assert s.busy_s == pytest.approx((100 + 20 + 30 + 7 + 8 + 9) / tck)
    old = load.snapshot(_stat(tmp_path, [100, 20, 30, 5000]))  # a kernel listing four fields
    assert old.busy_s == pytest.approx(150 / tck)
    assert load.snapshot(str(tmp_path / "missing")) is None
    assert load.snapshot(_stat(tmp_path, ["x", "y", "z", "w"])) is None


def test_others_cores_subtracts_this_process():
    a = load.CpuSnapshot(busy_s=10.0, own_s=1.0, t_s=100.0)
    b = load.CpuSnapshot(busy_s=13.0, own_s=1.5, t_s=102.0)  # 3 CPU-s busy in 2 s, 0.5 of them ours
    assert load.others_cores(a, b) == pytest.approx(1.25)
    assert load.others_cores(a, load.CpuSnapshot(10.01, 1.0, 100.1)) is None  # under MIN_WINDOW_S
    assert load.others_cores(None, b) is None
    assert load.others_cores(a, load.CpuSnapshot(10.0, 1.4, 101.0)) == 0.0  # never negative


def test_load_warning_rule():
    assert load.load_warning(None, 2, 2) is None
    assert load.load_warning(0.4, 2, 2) is None  # under half a CPU: not worth saying
    assert load.load_warning(1.0, 1, 2) is None  # one thread still finds a free CPU
    w = load.load_warning(1.9, 2, 2)
    assert "1.9 of 2 CPUs busy" in w and "torch's 2 threads wait for each other" in w and "torch.set_num_threads(1)" in w
    assert "torch.set_num_threads(6)" in load.load_warning(1.5, 8, 8)
    one = load.load_warning(1.9, 1, 2)  # one thread on a saturated machine: nothing to lower
    assert "1.9 of 2 CPUs busy" in one and "the layers share a CPU" in one and "set_num_threads" not in one
    assert one.endswith("Stop the other load.")


def test_a_profile_beside_busy_processes_warns_and_records_the_load():
    # Two busy loops on this machine's CPUs beside the default torch threads: the idle baseline
    # (0.5 s: 50 clock ticks a CPU) sees about min(2, cpus) CPUs of others. Extra load on a
    # shared CI machine only adds to it, so the warning must appear wherever cpus <= 2 + threads.
    cpus = load.usable_cpus()
    n = cpus  # one busy loop per CPU: others ~= cpus, so others + threads > cpus + 0.25 always
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        model = torch.nn.Sequential(torch.nn.Linear(8, 8))
        report = edgepower.profile_layers(model, torch.randn(2, 8), sensor="constant:5", rate_hz=500,
                                          min_window_s=0.01, rounds=1, warmup=1, idle_s=0.5)
    finally:
        for p in busy:
            p.kill()
            p.wait()
    env = report.meta["environment"]
    assert env["cpus"] == cpus and env["other_processes_cpus"] > 0.5 * n, env
    assert any("during the idle baseline while torch uses" in w for w in report.meta["warnings"])


def test_the_cpu_estimate_makes_torch_threads_wait_passively_unless_told_otherwise():
    """libgomp reads OMP_WAIT_POLICY once, at torch's import: set before it, on the CPU estimates
    only, and never over the user's own setting."""
    env = {}
    note = passive_waits("cpu-process", env, {})
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"} and "set by edgepower" in note
    env = {}
    assert "PASSIVE" in passive_waits("cpu-estimate", env, {}) and env["OMP_WAIT_POLICY"] == "PASSIVE"
    env = {"OMP_WAIT_POLICY": "ACTIVE"}
    assert passive_waits("cpu-process", env, {}) == "OMP_WAIT_POLICY=ACTIVE (set by the user)"
    assert env == {"OMP_WAIT_POLICY": "ACTIVE"}
    env = {}
    note = passive_waits("cpu-process", env, {"torch": object()})
    assert env == {} and "torch was imported before" in note and "OMP_WAIT_POLICY=PASSIVE" in note
    for kind in ("rapl", "jetson-hwmon", "nvml", "constant"):
        env = {}
        assert passive_waits(kind, env, {}) == "" and env == {}


def test_the_cli_sets_the_wait_policy_before_torch_is_imported(tmp_path):
    """A fresh `edgepower profile` on the CPU estimate: its torch threads wait passively, and the
    report says so."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "waits_factory_mod.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU()), torch.randn(4, 16)\n")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    # The edgepower under test (a checkout on PYTHONPATH or the installed package), then the factory.
    here = os.path.dirname(os.path.dirname(edgepower.__file__))
    env["PYTHONPATH"] = os.pathsep.join([here, str(tmp_path)] + [p for p in sys.path if p])
    code = ("import sys, edgepower.cli as c; rc = c.main(sys.argv[1:]); import os; "
            "print('POLICY', os.environ.get('OMP_WAIT_POLICY')); sys.exit(rc)")
    out = tmp_path / "o"
    r = subprocess.run([sys.executable, "-c", code, "profile", "waits_factory_mod:make", "--sensor", "cpu-process", "--rounds", "2",
                        "--min-window", "0.02", "--idle", "0", "--idle-power", "10", "--no-progress", "--out", str(out)],
                       env=env, capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "POLICY PASSIVE" in r.stdout and "threads: OMP_WAIT_POLICY=PASSIVE" in r.stdout
    meta = json.loads((out / "report.json").read_text())["meta"]
    assert meta["method"]["omp_wait_policy"].startswith("OMP_WAIT_POLICY=PASSIVE, set by edgepower")
