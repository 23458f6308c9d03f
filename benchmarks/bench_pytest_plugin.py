"""Overhead of the pytest plugin (docs/pytest.md): per test with the energy_monitor fixture, and the
cost of having the plugin loaded but unused.

Per-test figures come from pytest's own JUnit XML (each testcase's ``time`` is its set-up, call and
tear-down), so interpreter start-up and collection are left out. Baseline: the same empty tests
without the fixture, in the same pytest run. The sensor is ``constant:5`` (a native synthetic
sensor: what is measured is edgepower's machinery, not a sensor's read time) at the default
1000 Hz.

    PYTHONPATH=python python benchmarks/bench_pytest_plugin.py [--tests 200] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))


def _env():
    import edgepower

    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(edgepower.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, env.get("PYTHONPATH")]))
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # load it explicitly below, once
    return env


def per_test_times(n: int, sensor: str) -> dict:
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "test_plain.py"), "w") as f:
            f.write("".join(f"def test_{i}():\n    pass\n" for i in range(n)))
        with open(os.path.join(d, "test_energy.py"), "w") as f:
            f.write("".join(f"def test_{i}(energy_monitor):\n    pass\n" for i in range(n)))
        xml = os.path.join(d, "out.xml")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "edgepower.pytest_plugin", "-p", "no:cacheprovider",
               "--edgepower-sensor", sensor, "--junitxml", xml, d]
        proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=d)
        if proc.returncode != 0:
            raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
        times: dict = {"plain": [], "energy": []}
        for tc in ET.parse(xml).getroot().iter("testcase"):
            times["energy" if tc.get("classname", "").endswith("test_energy") else "plain"].append(
                float(tc.get("time")))
        return times


def import_time(code: str, runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=_env(), check=True)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    plain, energy = [], []
    for _ in range(args.runs):
        t = per_test_times(args.tests, "constant:5")
        plain.append(statistics.median(t["plain"]))
        energy.append(statistics.median(t["energy"]))
    base = import_time("import pytest", args.runs)
    with_plugin = import_time("import pytest, edgepower.pytest_plugin", args.runs)
    load = os.getloadavg()[0]
    res = {
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs), load average {load:.1f}",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "tests_per_run": args.tests, "runs": args.runs,
        "per_test_plain_ms": [x * 1e3 for x in plain], "per_test_energy_monitor_ms": [x * 1e3 for x in energy],
        "overhead_per_test_ms": statistics.median(e - p for e, p in zip(energy, plain)) * 1e3,
        "import_pytest_s": base, "import_pytest_and_plugin_s": with_plugin,
    }
    print(f"edgepower pytest plugin overhead on {res['machine']}, {res['date']}")
    print(f"  per test (median of {args.tests} tests, {args.runs} runs): plain {statistics.median(plain) * 1e3:.2f} ms, "
          f"with energy_monitor {statistics.median(energy) * 1e3:.2f} ms -> overhead "
          f"{res['overhead_per_test_ms']:.2f} ms per test")
    print(f"  plugin loaded but unused: python -c 'import pytest' {base:.3f} s, with the plugin (imports edgepower, "
          f"not torch) {with_plugin:.3f} s -> {with_plugin - base:+.3f} s once per session")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "pytest_plugin.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
