"""Benchmarks of the layer profiler: hook capture overhead, wall time of a default VGG11 profile
(batch 1, 224x224) and energy closure on a synthetic sensor.

Run from the repository root::

    PYTHONPATH=python python benchmarks/bench_profiler.py [--sensor auto] [--quick]

Prints the figures and writes them to benchmarks/results/profiler.json. Figures, not pass/fail.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torchvision

import edgepower
from edgepower._native import core
from edgepower.profile.capture import capture
from edgepower.profile import LayerProfiler

HERE = os.path.dirname(os.path.abspath(__file__))

# Power per layer type for the region-following synthetic sensor (W); idle 3 W.
LEVELS_BY_TYPE = {"Conv2d": 12.0, "ReLU": 6.0, "MaxPool2d": 5.0, "AdaptiveAvgPool2d": 4.5, "Linear": 9.0,
                  "Dropout": 3.5}
IDLE_W = 3.0


def vgg11():
    torch.manual_seed(0)
    return torchvision.models.vgg11(weights=None).eval()


def capture_overhead(model, x, reps: int):
    """Median forward time plain vs with the profiler's capture hooks (pre-hooks that clone
    every layer's inputs)."""
    prof = LayerProfiler(model, sensor="constant:1")
    with torch.inference_mode():
        model(x)  # warm-up
    plain, hooked = [], []
    for _ in range(reps):
        t = time.perf_counter()
        with torch.inference_mode():
            model(x)
        plain.append(time.perf_counter() - t)
        sites, _, capture_s = capture(prof.model, prof.layer_names, (x,), {})
        hooked.append(capture_s)
    p, h = statistics.median(plain), statistics.median(hooked)
    return {"input": "x".join(map(str, x.shape)), "call_sites": len(sites), "plain_ms": p * 1e3,
            "with_capture_ms": h * 1e3, "overhead_ms": (h - p) * 1e3, "overhead_pct": (h / p - 1) * 100,
            "per_call_site_us": (h - p) / len(sites) * 1e6}


def default_profile(sensor: str, size: int):
    model = vgg11()
    x = torch.randn(1, 3, size, size)
    t = time.perf_counter()
    prof = LayerProfiler(model, sensor=sensor, layers="vgg")
    report = prof.profile(x)
    wall = time.perf_counter() - t
    return report, wall


def closure_profile(size: int):
    model = vgg11()
    timeline = core.Timeline()
    levels = {}
    for name, mod in model.named_modules():
        lv = LEVELS_BY_TYPE.get(type(mod).__name__)
        if lv is not None and name:
            levels[name] = lv
            levels[name + " (restore)"] = lv
    sensor = core.RegionSensor(timeline, levels, IDLE_W)
    t = time.perf_counter()
    report = LayerProfiler(model, sensor=sensor, layers="vgg", trace_model=True).profile(torch.randn(1, 3, size, size))
    return report, time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sensor", default="auto", help="sensor of the default profile (auto; falls back to "
                                                     "constant:5 where auto finds none)")
    ap.add_argument("--quick", action="store_true", help="64x64 inputs instead of 224x224 (a smoke run)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "profiler.json"))
    args = ap.parse_args()
    size = 64 if args.quick else 224
    out = {"machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                       "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                       "edgepower": edgepower.__version__, "python": sys.version.split()[0]}}
    print(f"machine: {out['machine']}")

    model = vgg11()
    out["capture_overhead"] = [capture_overhead(model, torch.randn(1, 3, s, s), 5) for s in (32, size)]
    for c in out["capture_overhead"]:
        print(f"capture overhead, VGG11 {c['input']}: plain {c['plain_ms']:.2f} ms, with capture hooks "
              f"{c['with_capture_ms']:.2f} ms -> +{c['overhead_ms']:.2f} ms ({c['overhead_pct']:+.1f}%), "
              f"{c['per_call_site_us']:.0f} us per call site ({c['call_sites']} call sites)")
    del model

    sensor = args.sensor
    try:
        edgepower.create_sensor(sensor)
    except edgepower.SensorUnavailable as exc:
        print(f"sensor {sensor!r} unavailable here ({str(exc)[:120]}...); the default profile uses constant:5")
        sensor = "constant:5"
    report, wall = default_profile(sensor, size)
    m = report.meta["method"]
    out["default_profile"] = {
        "model": "vgg11", "input": f"1x3x{size}x{size}", "sensor": report.sensor, "estimated": report.estimated,
        "wall_s": wall, "target_s": 60.0, "rounds": m["rounds"], "min_window_s": m["min_window_s"],
        "target_window_s": m["target_window_s"], "warmup": m["warmup"], "call_sites": len(report.layer_rows),
        "windows": len(report.windows), "retried_windows": sum(1 for w in report.windows if w["retries"]),
        "model_latency_ms": report.row("(model)")["latency_ms"],
        "model_latency_ci95_ms": report.row("(model)")["latency_ci95_ms"],
        "latency_closure": report.closure["latency"],
    }
    d = out["default_profile"]
    print(f"default VGG11 profile, batch 1, {size}x{size}, sensor {d['sensor']}: wall {wall:.1f} s (target <= 60 s); "
          f"{d['call_sites']} call sites + model, {d['rounds']} rounds, {d['windows']} windows of >= "
          f"{d['target_window_s']:.2f} s ({d['retried_windows']} re-measured for late edge samples); whole model "
          f"{d['model_latency_ms']:.1f} +- {d['model_latency_ci95_ms']:.1f} ms; latency closure {d['latency_closure']:.3f}")

    report, wall = closure_profile(size)
    c = report.closure
    model_row = report.row("(model)")
    out["closure_synthetic"] = {
        "sensor": "synthetic-regions (power follows the active layer region; idle 3 W)",
        "levels_by_type_w": LEVELS_BY_TYPE, "input": f"1x3x{size}x{size}", "wall_s": wall,
        "net_energy_closure": c["net_energy"], "gross_energy_closure": c["gross_energy"],
        "latency_closure": c["latency"],
        "model_net_mj": model_row["net_energy_per_inference_mj"],
        "layers_net_mj": sum(r["net_energy_per_inference_mj"] for r in report.layer_rows),
        "unattributed_net_mj": report.row("(unattributed)")["net_energy_per_inference_mj"],
    }
    s = out["closure_synthetic"]
    print(f"energy closure on the region-following synthetic sensor, VGG11 {size}x{size}: sum of layers / whole = "
          f"{s['net_energy_closure']:.3f} (net energy; layers {s['layers_net_mj']:.2f} mJ, whole "
          f"{s['model_net_mj']:.2f} mJ), {s['gross_energy_closure']:.3f} gross, {s['latency_closure']:.3f} latency")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
