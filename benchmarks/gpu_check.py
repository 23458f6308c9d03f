"""The NVML and CUDA paths on a real NVIDIA GPU, in one prepared run (issue 10, section 4).

Run from the repository root on a machine with an NVIDIA GPU (after ``./scripts/test.sh`` or
``pip install .`` in an environment with a CUDA build of torch)::

    python benchmarks/gpu_check.py                 # about 5 minutes; must finish in under 8
    python benchmarks/gpu_check.py --dry-run       # the same code paths on the CPU with a synthetic sensor

It prints, and writes to benchmarks/results/gpu_check.json:

1. ``edgepower sensors``: every kind, available or why not;
2. NVML sampled for 10 s at 1 kHz (idle, then a matmul load): sampler statistics (achieved rate,
   identical share, effective update interval of the instant field and the energy counter), the
   counter's energy against the integral of the instant field over the same windows;
3. VGG11 (batch 1, 224x224) and DistilBERT (batch 16, 128 tokens) profiled on CUDA with the nvml
   sensor, in isolation and in situ (CUDA events), with closure, unresolved rows and wall time.

Paste the printed Markdown block into benchmarks/README.md ("Real GPU"). Figures, not pass/fail.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Dict, List

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def _sensors(root: str) -> List[Dict[str, Any]]:
    import edgepower

    rows = edgepower.sensors(root=root)
    for r in rows:
        state = "yes" if r["available"] else "no "
        why = "" if r["available"] else f"  ({r['reason']})"
        print(f"  {r['kind']:<13} {state} {r['summary']}{why}")
    return [{k: r.get(k) for k in ("kind", "available", "reason", "rails", "update_interval_s")} for r in rows]


def _load(device: str, seconds: float) -> int:
    """A matmul load on ``device`` for ``seconds``; returns the matmuls run."""
    import torch

    a = torch.randn(2048, 2048, device=device)
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        a = torch.tanh(a @ a)
        n += 1
        if device.startswith("cuda") and n % 8 == 0:
            torch.cuda.synchronize()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n


def _sampling(sensor: str, device: str, seconds: float) -> Dict[str, Any]:
    """10 s at 1 kHz: half idle, half under load; per half, the counter's energy and the integral
    of the instant power."""
    import edgepower
    from edgepower.energy import plain_energy
    from edgepower.sensors import board_total

    mon = edgepower.PowerMonitor(sensor, rate_hz=1000)
    out: Dict[str, Any] = {"sensor": mon.info.kind, "description": mon.info.description}
    with mon:
        mon.begin_window("idle")
        time.sleep(seconds / 2)
        idle = mon.end_window("idle")
        mon.begin_window("load")
        n = _load(device, seconds / 2)
        load = mon.end_window("load")
    s = mon.samples()
    st = mon.stats()
    for name, m in (("idle", idle), ("load", load)):
        d: Dict[str, Any] = {"duration_s": m.duration_s, "energy_j": m.energy_j, "avg_power_w": m.avg_power_w,
                             "method": m.method, "num_samples": m.num_samples}
        if mon.info.has_power and s.t_ns.shape[0]:
            d["instant_integral_j"] = plain_energy(s.t_ns, board_total(mon.info, s.power_w), m.t0_ns, m.t1_ns)
        out[name] = d
    out["matmuls"] = n
    out["stats"] = {k: v for k, v in st.items() if isinstance(v, (int, float, str, bool))}
    print(f"  {out['sensor']}: {st['samples']} samples at {st['achieved_rate_hz']:.1f} Hz, identical share "
          f"{st['identical_share']:.2f}, effective update interval {st['effective_update_interval_s'] * 1e3:.1f} ms")
    for name in ("idle", "load"):
        d = out[name]
        print(f"  {name}: {d['energy_j']:.3f} J ({d['method']}), {d['avg_power_w']:.1f} W; integral of the instant "
              f"reading {d.get('instant_integral_j', math.nan):.3f} J")
    return out


def _profile(model_name: str, sensor: str, device: str, mode: str, quick: bool) -> Dict[str, Any]:
    import torch

    import edgepower
    from edgepower.cli.profile import build_model

    torch.manual_seed(0)
    batch = 16 if model_name == "distilbert" else 1
    model, args, kwargs, _, preset = build_model(model_name, 1 if quick else batch, 32 if quick else 224,
                                                 8 if quick else 128)
    model = model.to(device)
    args = tuple(a.to(device) for a in args)
    kwargs = {k: v.to(device) for k, v in kwargs.items()}
    t0 = time.monotonic()
    options: Dict[str, Any] = dict(sensor=sensor, layers=preset, mode=mode, rounds=3, idle_s=1.0)
    if quick:
        options.update(rounds=2, idle_s=0.1, min_window_s=0.02, k_updates=1.0, max_round_s=0.5)
    report = edgepower.profile_layers(model, *args, model_kwargs=kwargs, **options)
    wall = time.monotonic() - t0
    rows = report.rows
    unresolved = [r["layer"] for r in rows if r["status"] in ("not resolved", "below idle")]
    out = {"model": model_name, "mode": mode, "device": device, "wall_s": wall, "closure": report.closure,
           "closure_ci": report.closure_ci, "unresolved": unresolved,
           "model_row": {k: report.row("(model)")[k] for k in ("latency_ms", "energy_per_inference_mj",
                                                               "net_energy_per_inference_mj", "ci95_mj")},
           "sensor": report.sensor, "warnings": report.meta.get("warnings", [])}
    c = report.closure
    print(f"  {model_name} {mode} on {device}: {wall:.1f} s; closure net {c['net_energy']:.3f}, latency "
          f"{c['latency']:.3f}; {len(unresolved)} unresolved rows; whole model "
          f"{out['model_row']['net_energy_per_inference_mj']:.3f} mJ net per inference")
    return out


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dry-run", action="store_true",
                   help="CPU and a synthetic sensor, tiny inputs: checks the script, not a GPU")
    p.add_argument("--sensor", default=None, help="sensor spec (default nvml; dry run: constant:5,counter=1)")
    p.add_argument("--out", default=os.path.join(HERE, "results", "gpu_check.json"))
    args = p.parse_args(argv)
    t_start = time.monotonic()
    import torch

    if args.dry_run:
        device, sensor, seconds = "cpu", args.sensor or "constant:5,counter=1", 1.0
    else:
        if not torch.cuda.is_available():
            print("error: no CUDA device (torch.cuda.is_available() is False); use --dry-run to check the script "
                  "on a CPU", file=sys.stderr)
            return 2
        device, sensor, seconds = "cuda", args.sensor or "nvml", 10.0
    result: Dict[str, Any] = {"device": device, "torch": torch.__version__,
                              "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None}
    print("1. edgepower sensors")
    result["sensors"] = _sensors("/")
    print(f"2. {sensor} sampled for {seconds:g} s at 1 kHz (half idle, half a matmul load)")
    result["sampling"] = _sampling(sensor, device, seconds)
    print("3. profiles")
    result["profiles"] = [_profile(m, sensor, device, mode, args.dry_run)
                          for m in ("vgg11", "distilbert") for mode in ("isolation", "in-situ")]
    result["wall_s"] = time.monotonic() - t_start
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=str)
    print(f"\ntotal {result['wall_s']:.0f} s; wrote {args.out}")
    print("\n| model | mode | wall s | closure net | closure latency | unresolved rows |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in result["profiles"]:
        print(f"| {r['model']} | {r['mode']} | {r['wall_s']:.1f} | {r['closure']['net_energy']:.3f} | "
              f"{r['closure']['latency']:.3f} | {len(r['unresolved'])} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
