"""benchmarks/gpu_check.py is prepared for a GPU machine; its --dry-run runs every code path of it
on the CPU with a synthetic counter sensor, so it cannot rot between GPU loans."""
import json
import os
import subprocess
import sys

import pytest

from conftest import subprocess_env


@pytest.mark.slow
def test_gpu_check_dry_run(repo_root, tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, os.path.join(repo_root, "benchmarks", "gpu_check.py"), "--dry-run",
                           "--out", str(out)], env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = json.loads(out.read_text())
    assert r["device"] == "cpu" and any(s["kind"] == "nvml" for s in r["sensors"])
    # constant:5: 5 W in both halves, and the integral of the readings agrees.
    for half in ("idle", "load"):
        d = r["sampling"][half]
        assert d["avg_power_w"] == pytest.approx(5.0, rel=1e-6)
        assert d["instant_integral_j"] == pytest.approx(d["energy_j"], rel=1e-6)
    assert [(p["model"], p["mode"]) for p in r["profiles"]] == [
        ("vgg11", "isolation"), ("vgg11", "in-situ"), ("distilbert", "isolation"), ("distilbert", "in-situ")]
    assert "| vgg11 | in-situ |" in proc.stdout


def test_gpu_check_without_a_gpu_says_so(repo_root):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the script would run for minutes")
    proc = subprocess.run([sys.executable, os.path.join(repo_root, "benchmarks", "gpu_check.py")],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--dry-run" in proc.stderr
