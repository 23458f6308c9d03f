"""Cost of the torch.profiler ranges the in-situ hooks open (``edgepower::<label>``).

The hooks open a record_function range only when torch.profiler is recording as they are
attached; otherwise they are the plain marking hooks. This measures, per layer call, on a model
of 64 ``nn.Identity`` layers (a call costs next to nothing, so differences are the hooks),
median of ``reps`` forwards each:

- plain hooks (no profiler: what every in-situ run pays),
- ranged hooks without a profiler recording (what always opening ranges would cost),
- plain and ranged hooks while torch.profiler records (CPU activity), to compare with the
  profiler's own cost per op.

Run from the repository root::

    PYTHONPATH=python python benchmarks/bench_ranges.py [--reps N]

Prints the figures and writes benchmarks/results/ranges.json. Figures, not pass/fail.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile

from edgepower._native import core
from edgepower.profile.capture import capture
from edgepower.profile.hooks import Hooks

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = torch.nn.Sequential(*[torch.nn.Identity() for _ in range(64)]).eval()
    x = torch.zeros(1)
    names = [str(i) for i in range(64)]
    sites, _, _ = capture(model, names, (x,), {})
    timeline = core.Timeline()
    for s in sites:
        s.region = timeline.region(s.label)

    def median_forward() -> float:
        out = []
        with torch.inference_mode():
            for _ in range(args.reps):
                t = time.perf_counter_ns()
                model(x)
                out.append(time.perf_counter_ns() - t)
        return statistics.median(out) / 1e3

    def with_hooks(ranges: bool) -> float:
        hooks = Hooks(model, sites, timeline, ranges=ranges)
        hooks.attach()
        try:
            return median_forward()
        finally:
            hooks.remove()

    res = {}
    # Interleaved twice, best of the two, since the machine is shared.
    for _ in range(2):
        for key, fn in (("plain", median_forward), ("hooks", lambda: with_hooks(False)),
                        ("hooks_ranges", lambda: with_hooks(True))):
            res[key] = min(res.get(key, float("inf")), fn())
        with profile(activities=[ProfilerActivity.CPU]):
            for key, fn in (("prof_plain", median_forward), ("prof_hooks", lambda: with_hooks(False)),
                            ("prof_hooks_ranges", lambda: with_hooks(True))):
                res[key] = min(res.get(key, float("inf")), fn())
    n = len(sites)
    per = {
        "hooks_per_call_us": (res["hooks"] - res["plain"]) / n,
        "ranged_hooks_per_call_us_no_profiler": (res["hooks_ranges"] - res["plain"]) / n,
        "ranges_alone_per_call_us_no_profiler": (res["hooks_ranges"] - res["hooks"]) / n,
        "profiler_per_call_us_no_hooks": (res["prof_plain"] - res["plain"]) / n,
        "ranged_hooks_per_call_us_profiler": (res["prof_hooks_ranges"] - res["prof_plain"]) / n,
        "ranges_alone_per_call_us_profiler": (res["prof_hooks_ranges"] - res["prof_hooks"]) / n,
    }
    out = {"machine": f"{platform.node()} ({os.cpu_count()} CPUs)", "date": time.strftime("%Y-%m-%d %H:%M"),
           "torch": torch.__version__, "layers": n, "reps": args.reps, "median_forward_us": res, **per}
    print(f"in-situ hooks and torch.profiler ranges, {n} nn.Identity layers, median of {args.reps} forwards "
          f"(torch {torch.__version__}, load average {os.getloadavg()[0]:.1f})")
    for k, v in res.items():
        print(f"  forward {k:<18} {v:9.1f} us")
    for k, v in per.items():
        print(f"  {k:<42} {v:7.2f} us")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "ranges.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
