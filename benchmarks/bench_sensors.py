"""Cost of one read of each file-based sensor on the fixture trees, and the native sampler's
achieved rate with each at 1 kHz and 10 kHz.

Run from the repository root after building the core:
    PYTHONPATH=python python benchmarks/bench_sensors.py [--seconds 0.5] [--out benchmarks/results/sensors.json]

Fixture trees are ordinary files, so these figures are the cost of edgepower's own read path
(pread + parse per file, plus derived power); on a Jetson each INA3221 file read is also an I2C
transaction (about 0.2-0.5 ms, docs/sensors.md), which this cannot show.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

from edgepower import _core  # noqa: E402
from edgepower.sensors import create_sensor  # noqa: E402

DATA = REPO / "tests" / "data" / "sensors"

CASES = [
    ("jetson-hwmon", "jetson-hwmon", DATA / "orin", "4 rails x 2 files (mV, mA)"),
    ("jetson-iio", "jetson-iio", DATA / "nano", "2 power files + 1 V*I pair"),
    ("hwmon (energy)", "hwmon:mode=energy", DATA / "hwmon", "2 uJ counters + derived power"),
    ("hwmon (power)", "hwmon:mode=power", DATA / "hwmon", "2 uW files"),
    ("rapl", "rapl", DATA / "rapl", "2 zones, raw counters + derived power"),
    ("rapl (psys, self-unwrap)", "rapl", DATA / "rapl-psys", "4 zones, unwrapped by the sensor"),
    ("cpu-estimate (fixture)", "cpu-estimate", DATA / "cpu", "/proc/stat fixture"),
    ("cpu-estimate (/proc/stat)", "cpu-estimate", Path("/"), "this machine's /proc/stat"),
    ("cpu-process", "cpu-process", Path("/"), "2 CPU-time clocks: process, reading thread"),
]


def python_read_us(sensor, n: int = 3000) -> float:
    """Median time of sensor.read() called from Python (includes pybind11 and NumPy arrays)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        sensor.read()
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times) / 1000.0


def sampler_run(sensor, rate_hz: float, seconds: float) -> Dict[str, float]:
    s = _core.Sampler(sensor, rate_hz=rate_hz)
    s.start()
    time.sleep(seconds)
    s.stop()
    st = s.stats()
    return {k: st[k] for k in ("achieved_rate_hz", "read_p50_us", "read_p99_us", "lateness_p50_us",
                               "lateness_p99_us", "missed_deadlines", "read_errors", "samples")}


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=0.5, help="sampling time per rate (default 0.5)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sensors.json"))
    args = ap.parse_args(argv)
    cases = list(CASES)
    fake = REPO / "build" / "dev" / "libfake_nvml_full.so"
    if fake.exists():
        os.environ["EDGEPOWER_NVML_LIBRARY"] = str(fake)
        cases.append(("nvml (fake library)", "nvml", Path("/"), "dlopen'd fake libnvidia-ml: call overhead only"))
    results = []
    print(f"edgepower sensor benchmark: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'sensor':<27} {'native read p50/p99 us':>23} {'py read us':>10} "
          f"{'1 kHz: achieved Hz':>19} {'10 kHz: achieved Hz':>20} {'missed@10k':>10}  notes")
    for label, spec, root, notes in cases:
        sensor = create_sensor(spec, root=str(root))
        py_us = python_read_us(sensor)
        r1 = sampler_run(sensor, 1000.0, args.seconds)
        r10 = sampler_run(sensor, 10000.0, args.seconds)
        results.append({"sensor": label, "spec": spec, "root": str(root.relative_to(REPO)) if REPO in root.parents else str(root),
                        "rails": list(sensor.info.rails), "python_read_us": py_us, "notes": notes,
                        "rate_1khz": r1, "rate_10khz": r10})
        print(f"{label:<27} {r10['read_p50_us']:>11.1f} / {r10['read_p99_us']:<9.1f} {py_us:>10.1f} "
              f"{r1['achieved_rate_hz']:>19.1f} {r10['achieved_rate_hz']:>20.1f} {r10['missed_deadlines']:>10d}  {notes}")
    out = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
           "seconds_per_rate": args.seconds,
           "note": "fixture files on an ordinary filesystem: edgepower's read path only, no I2C/MSR cost",
           "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
