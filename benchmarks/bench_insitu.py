"""Benchmarks of the in-situ mode: hook overhead per layer call, and in-situ against isolation
per layer on the region-following synthetic sensor with a sample-and-hold refresh (6.6 ms, as a
Jetson INA3221 with default settings).

Run from the repository root::

    PYTHONPATH=python python benchmarks/bench_insitu.py [--quick]

Prints the figures and writes them to benchmarks/results/insitu.json. Figures, not pass/fail.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import torch

import edgepower
from edgepower._native import core
from edgepower.insitu import _Hooks
from edgepower.profiler import LayerProfiler

HERE = os.path.dirname(os.path.abspath(__file__))
IDLE_W = 3.0
LEVELS_BY_TYPE = {"Conv2d": 12.0, "ReLU": 6.0, "MaxPool2d": 5.0, "Linear": 9.0, "Flatten": 4.0}


def small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    n = torch.nn
    return n.Sequential(n.Conv2d(3, 16, 3, padding=1), n.ReLU(), n.MaxPool2d(2), n.Conv2d(16, 32, 3, padding=1),
                        n.ReLU(), n.MaxPool2d(2), n.Conv2d(32, 64, 3, padding=1), n.ReLU(), n.Flatten(),
                        n.Linear(64 * 16 * 16, 10)).eval()


def hook_overhead(reps: int) -> dict:
    """Cost per layer call of the in-situ hooks, measured from Python.

    1. A model of 64 nn.Identity layers (a call costs next to nothing, so the difference is
       the hooks): forward with and without the hooks, median of ``reps`` forwards.
    2. The hook functions alone: a pre and a post hook called directly, per pair.
    """
    model = torch.nn.Sequential(*[torch.nn.Identity() for _ in range(64)]).eval()
    x = torch.zeros(1)
    timeline = core.Timeline()
    prof = LayerProfiler(model, sensor="constant:1", mode="in-situ")
    sites, _, _ = prof._capture((x,), {})
    for s in sites:
        s.region = timeline.region(s.label)

    def median_forward() -> float:
        out = []
        with torch.inference_mode():
            for _ in range(reps):
                t = time.perf_counter_ns()
                model(x)
                out.append(time.perf_counter_ns() - t)
        return statistics.median(out)

    plain = median_forward()
    hooks = _Hooks(model, sites, timeline)
    hooks.attach()
    try:
        hooked = median_forward()
    finally:
        hooks.remove()
    per_call_us = (hooked - plain) / len(sites) / 1e3
    # The hook pair alone.
    pre = model[0]._forward_pre_hooks
    hooks.attach()
    try:
        pre_fn = next(iter(model[0]._forward_pre_hooks.values()))
        post_fn = next(iter(model[0]._forward_hooks.values()))
        n = 200_000
        t = time.perf_counter_ns()
        for _ in range(n):
            pre_fn(None, None)
            post_fn(None, None, None)
        pair_us = (time.perf_counter_ns() - t) / n / 1e3
    finally:
        hooks.remove()
    del pre
    return {"layers": len(sites), "plain_forward_us": plain / 1e3, "hooked_forward_us": hooked / 1e3,
            "per_layer_call_us": per_call_us, "hook_pair_alone_us": pair_us, "target_us": 5.0,
            "marks_recorded": len(timeline)}


def compare(quick: bool, rate_hz: float) -> dict:
    model = small_cnn()
    x = torch.randn(1, 3, 64, 64)
    levels = {}
    for name, mod in model.named_modules():
        lv = LEVELS_BY_TYPE.get(type(mod).__name__)
        if lv is not None and name:
            levels[name] = lv
            levels[name + " (restore)"] = lv  # in-place layers' restore copies (none here)
    refresh_s = 0.0066
    out = {"model": "small CNN (3 conv + relu + pool, linear), 1x3x64x64", "sensor_refresh_s": refresh_s,
           "rate_hz": rate_hz,
           "idle_w": IDLE_W, "levels_w": levels}
    runs = {}
    for mode in ("isolation", "in-situ"):
        timeline = core.Timeline()
        sensor = core.RegionSensor(timeline, levels, IDLE_W, refresh_s=refresh_s)
        kw = dict(sensor=sensor, rate_hz=rate_hz, rounds=3, idle_s=0.2, mode=mode)
        if mode == "in-situ":
            kw["max_round_s"] = 2.0 if quick else 8.0
        else:
            kw["min_window_s"] = 0.1 if quick else 0.2
        t = time.perf_counter()
        report = LayerProfiler(model, **kw).profile(x)
        runs[mode] = (report, time.perf_counter() - t)
    iso, insitu = runs["isolation"][0], runs["in-situ"][0]
    rows = []
    for r in iso.layer_rows:
        label = r["layer"]
        s = insitu.row(label)
        level = levels[label]
        e_iso, e_in = r["net_energy_per_inference_mj"], s["net_energy_per_inference_mj"]
        rows.append({
            "layer": label, "type": r["type"], "level_w": level,
            "isolation_latency_ms": r["latency_ms"], "insitu_latency_ms": s["latency_ms"],
            "isolation_power_w": r["avg_power_w"], "insitu_power_w": s["avg_power_w"],
            "isolation_power_err_pct": (r["avg_power_w"] / level - 1) * 100,
            "insitu_power_err_pct": (s["avg_power_w"] / level - 1) * 100 if math.isfinite(s["avg_power_w"]) else None,
            "isolation_net_mj": e_iso, "insitu_net_mj": e_in,
            "insitu_minus_isolation_pct": (e_in / e_iso - 1) * 100 if e_iso and math.isfinite(e_in) else None,
            "insitu_ci95_pct": s["ci95_pct"], "insitu_readings": s["num_samples"], "insitu_note": s["note"],
        })
    out.update(rows=rows, isolation_wall_s=runs["isolation"][1], insitu_wall_s=runs["in-situ"][1],
               insitu_method={k: v for k, v in insitu.meta["method"].items()
                              if k.startswith(("attribution", "forwards", "plan", "max_", "cycles"))})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter rounds (a smoke run)")
    ap.add_argument("--rate", type=float, default=1990.0,
                    help="sampling rate (default 1990 Hz. At 2000 Hz the synthetic refresh of 6.6 ms is 13.2 periods, so "
                         "sample phases repeat every 5 refreshes and pin the refresh phase to 100 us only; a real "
                         "sensor runs on its own clock, so its phase drifts against the sampler as at 1990 Hz)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "insitu.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)  # leave a core to the sampler thread on the 2-core dev machine
    res = {"machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                       "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                       "edgepower": edgepower.__version__, "python": sys.version.split()[0]}}
    print(f"machine: {res['machine']}")
    h = hook_overhead(200 if args.quick else 1000)
    res["hook_overhead"] = h
    print(f"hook overhead: {h['layers']} nn.Identity layers, forward {h['plain_forward_us']:.1f} us plain, "
          f"{h['hooked_forward_us']:.1f} us with the in-situ hooks -> {h['per_layer_call_us']:.2f} us per layer call "
          f"(target <= {h['target_us']:.0f} us); the pre+post hook pair alone {h['hook_pair_alone_us']:.2f} us")
    c = compare(args.quick, args.rate)
    res["comparison"] = c
    m = c["insitu_method"]
    print(f"\nin-situ vs isolation, {c['model']}, region sensor with a {c['sensor_refresh_s'] * 1e3:.1f} ms "
          f"sample-and-hold refresh, sampled at {c['rate_hz']:g} Hz, idle {IDLE_W} W (wall: isolation {c['isolation_wall_s']:.1f} s, in-situ "
          f"{c['insitu_wall_s']:.1f} s; {m.get('forwards_per_round')} forwards per round; attribution: "
          f"{m.get('attribution_attribution')}, phase interval {m.get('attribution_phase_interval_us', float('nan')):.1f} us)")
    print(f"  {'layer':<4} {'type':<10} {'level W':>7} | {'iso W':>7} {'in-situ W':>9} | {'iso ms':>7} {'in-situ ms':>10} | "
          f"{'iso net mJ':>10} {'in-situ mJ':>10} {'diff %':>7} {'CI %':>6} {'readings':>8}")

    def f(x, spec):
        return format(x, spec) if isinstance(x, (int, float)) and x is not None and math.isfinite(x) else "n/a"
    for r in c["rows"]:
        print(f"  {r['layer']:<4} {r['type']:<10} {r['level_w']:>7.1f} | {f(r['isolation_power_w'], '7.3f'):>7} "
              f"{f(r['insitu_power_w'], '9.3f'):>9} | {f(r['isolation_latency_ms'], '7.4f'):>7} "
              f"{f(r['insitu_latency_ms'], '10.4f'):>10} | {f(r['isolation_net_mj'], '10.5f'):>10} "
              f"{f(r['insitu_net_mj'], '10.5f'):>10} {f(r['insitu_minus_isolation_pct'], '+7.1f'):>7} "
              f"{f(r['insitu_ci95_pct'], '6.1f'):>6} {r['insitu_readings']:>8}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
