"""Other processes' CPU load during the idle baseline (edgepower.profile.load): measured from
/proc/stat less this process's own CPU time, and a warning when it leaves torch's threads no
free CPU."""
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

import edgepower  # noqa: E402
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
