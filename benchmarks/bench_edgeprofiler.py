"""Benchmark: EdgeProfiler compat mapping of a 1-hour, 1 kHz power log (3.6 M lines) onto
100 layers x 1000 cycles, edgepower (native) against a straightforward pandas implementation of
the same rule. Targets: <= 5 s end to end, >= 20x faster than pandas.

Usage: PYTHONPATH=python python benchmarks/bench_edgeprofiler.py [--seconds 3600] [--repeat 3]
Writes benchmarks/results/edgeprofiler.json and prints the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from edgepower import edgeprofiler as E

FMT = "%Y%m%d-%H:%M:%S.%f"


def generate(raw: Path, model: str, seconds: float, layers: int, cycles: int, seed: int = 0) -> None:
    """A synthetic run written with edgepower's own exporter: 1 kHz samples with jitter, and one
    inference a cycle (layers back to back, 0.2-3 ms each) spread evenly over the hour."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 1000)
    t_ns = np.arange(n, dtype=np.int64) * 1_000_000 + rng.integers(0, 50_000, n)
    p_w = 5.0 + 0.8 * np.sin(np.arange(n) / 500.0) + rng.normal(0, 0.05, n)
    lat_ns = rng.integers(200_000, 3_000_000, (layers, cycles))
    period_ns = int(seconds * 1e9) // cycles
    windows = {}
    starts = np.arange(cycles, dtype=np.int64) * period_ns + 100_000_000
    offsets = np.vstack([np.zeros((1, cycles), dtype=np.int64), np.cumsum(lat_ns, axis=0)[:-1]])
    for i in range(layers):
        s = starts + offsets[i]
        windows[f"[CONVOLUTION]-[aten_ops.convolution.default]-[/layer{i}/conv/convolution]"] = \
            np.stack([s, s + lat_ns[i]], axis=1)
    E.write_raw_dir(raw, model, t_ns, p_w, 3.9, windows, epoch=datetime(2025, 1, 9, 12, 0, 0),
                    layer_types={name: "CaskConvolution" for name in windows})


def pandas_baseline(raw: Path, model: str, out: Path) -> None:
    """Upstream's compat rule written plainly with pandas and the standard library."""
    idle = json.loads((raw / "idling_power.json").read_text())["avg_idle_power"]
    prof = raw / model / "trt_profiling"
    latency = json.loads((prof / "trt_layer_latency.json").read_text())
    info = json.loads((prof / "trt_engine_info.json").read_text())
    types = {layer["Name"]: layer["LayerType"] for layer in info["Layers"]}
    log = pd.read_csv(raw / model / f"{model}_power_log.log", header=None, names=["ts", "mv", "ma"])
    t = pd.to_datetime(log["ts"], format=FMT).astype("datetime64[ns]").astype("int64").tolist()
    power = (log["mv"] * log["ma"]).tolist()
    names = list(latency)
    cycles = len(latency[names[0]])
    rows = []
    i, n = 0, len(t)
    done = False
    for c in range(cycles):
        for name in names:
            ms, stamp = latency[name][c]
            end_dt = datetime.strptime(stamp, FMT)
            start_dt = end_dt - timedelta(milliseconds=ms)
            start = pd.Timestamp(start_dt).value
            end = pd.Timestamp(end_dt).value
            while i < n and t[i] < start:
                i += 1
            taken = []
            while i < n and t[i] <= end:
                taken.append(power[i])
                i += 1
            mean = sum(taken) / len(taken) if taken else None
            rows.append({"cycle": c + 1, "layer_name": name, "layer_type": types.get(name, "Unknown"),
                         E.POWER_INCL: mean, E.POWER_EXCL: mean - idle if mean else None, "layer_run_time": ms})
            if i >= n:
                done = True
                break
        if done:
            break
    pd.DataFrame(rows).to_csv(out, index=False)


def timed(fn, repeat: int):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--layers", type=int, default=100)
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of edgepower (the baseline runs once)")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "edgeprofiler.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgepower_bench_") as tmp:
        raw = Path(tmp) / "raw_data"
        model = "bench"
        t0 = time.perf_counter()
        generate(raw, model, args.seconds, args.layers, args.cycles)
        gen_s = time.perf_counter() - t0
        log_path = raw / model / f"{model}_power_log.log"
        lines = sum(1 for _ in open(log_path, "rb"))
        size_mb = log_path.stat().st_size / 1e6
        print(f"generated {lines} log lines ({size_mb:.0f} MB), {args.layers} layers x {args.cycles} cycles "
              f"in {gen_s:.1f} s")
        ours_csv = Path(tmp) / "ours.csv"
        base_csv = Path(tmp) / "pandas.csv"

        def ours():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                E.map_power_to_layers(raw, model, output=ours_csv)

        ours_t = timed(ours, args.repeat)
        base_t = timed(lambda: pandas_baseline(raw, model, base_csv), 1)
        identical = ours_csv.read_bytes() == base_csv.read_bytes()
        rows = sum(1 for _ in open(ours_csv, "rb")) - 1

        def corrected():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                E.map_power_to_layers(raw, model, mode="corrected", output=Path(tmp) / "corrected.csv")

        corr_t = timed(corrected, args.repeat)
    best = min(ours_t)
    speedup = base_t[0] / best
    result = {
        "log_lines": lines, "log_mb": round(size_mb, 1), "layers": args.layers, "cycles": args.cycles,
        "rows_written": rows,
        "edgepower_compat_s": [round(x, 4) for x in ours_t], "edgepower_compat_best_s": round(best, 4),
        "edgepower_corrected_s": [round(x, 4) for x in corr_t],
        "pandas_baseline_s": round(base_t[0], 3), "speedup": round(speedup, 1),
        "outputs_identical": identical,
        "target_s": 5.0, "target_speedup": 20.0,
        "meets_time_target": best <= 5.0, "meets_speedup_target": speedup >= 20.0,
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_implementation()} "
                   f"{platform.python_version()}, pandas {pd.__version__}",
        "date": datetime.now().strftime("%Y-%m-%d %H:%M"),
    }
    print(f"edgepower compat:    {', '.join(f'{x:.3f}' for x in ours_t)} s (best {best:.3f} s, target <= 5 s)")
    print(f"edgepower corrected: {', '.join(f'{x:.3f}' for x in corr_t)} s")
    print(f"pandas baseline:     {base_t[0]:.2f} s")
    print(f"speedup:             {speedup:.1f}x (target >= 20x); outputs byte-identical: {identical}; rows {rows}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
