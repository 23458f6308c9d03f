"""VGG11 default profile on a sensorless machine, alone and beside a busy neighbour.

Runs ``edgepower profile vgg11`` (the default settings: sensor=auto, which picks the
``cpu-process`` estimate where no power sensor exists) in alternating pairs: once with nothing of
ours beside it ("unloaded"), once beside one ``while True: pass`` process per core ("loaded"),
and compares the conv and linear layers: net energy > 0, 95 % CI, loaded vs unloaded.

    PYTHONPATH=python python benchmarks/bench_cpu_neighbour.py --pairs 2 --out /tmp/neighbour
    PYTHONPATH=python python benchmarks/bench_cpu_neighbour.py --pairs 1 -- --sensor cpu-estimate

Arguments after ``--`` go to ``edgepower profile``. ``--nice -5`` (the default; needs root or
CAP_SYS_NICE, else it runs at the normal priority and says so) keeps other tenants of a shared
machine from starving the profile.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

Rows = Dict[str, dict]


def load_avg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def run_profile(out: Path, nice: int, extra: List[str], loaded: bool) -> Tuple[dict, float]:
    """One profile into ``out``; returns its report.json and the wall time in s."""
    neighbours = []
    if loaded:
        neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
        time.sleep(0.5)
    cmd = [sys.executable, "-m", "edgepower", "profile", "vgg11", "--out", str(out), "--no-progress", *extra]
    prefix = ["nice", "-n", str(nice)] if nice else []
    t0 = time.monotonic()
    try:
        with open(str(out) + ".txt", "w") as log:
            subprocess.run(prefix + cmd, stdout=log, stderr=subprocess.STDOUT, check=True)
    finally:
        for p in neighbours:
            p.kill()
            p.wait()
    return json.loads((out / "report.json").read_text()), time.monotonic() - t0


def conv_linear(rows: Rows) -> List[str]:
    return [n for n, r in rows.items() if r["kind"] == "layer" and r["type"] in ("Conv2d", "Linear")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=1, help="unloaded/loaded pairs (default 1)")
    ap.add_argument("--out", default="benchmarks/results/cpu_neighbour", help="folder for the profiles")
    ap.add_argument("--nice", type=int, default=-5, help="nice value of the profiles (default -5; 0: none)")
    ap.add_argument("extra", nargs="*", help="arguments for `edgepower profile` (after --)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    nice = args.nice
    if nice < 0 and subprocess.run(["nice", "-n", str(nice), "true"], capture_output=True).stderr:
        print(f"cannot raise the priority (nice {nice} needs root or CAP_SYS_NICE): running at normal priority")
        nice = 0
    runs: Dict[str, List[Rows]] = {"unloaded": [], "loaded": []}
    for i in range(1, args.pairs + 1):
        for mode in ("unloaded", "loaded"):
            before = load_avg()
            report, wall = run_profile(out / f"{mode}-{i}", nice, args.extra, mode == "loaded")
            rows = {r["layer"]: r for r in report["rows"]}
            runs[mode].append(rows)
            names = conv_linear(rows)
            # A CI is null (NaN) where the net figure is not material: count those apart.
            cis = [rows[n]["ci95_pct"] for n in names if isinstance(rows[n]["ci95_pct"], (int, float))]
            cis = [c for c in cis if c == c] or [float("nan")]
            negative = [r["layer"] for r in rows.values() if r["kind"] == "layer" and not r["net_energy_per_inference_mj"] > 0]
            print(f"{mode} {i}: {wall:.0f} s, load average {before} before; idle {report['meta']['idle_power_w']:.3f} W; "
                  f"conv/linear CI median {statistics.median(cis):.1f} % max {max(cis):.1f} %; "
                  f"closure {report['closure']['net_energy']:.3f}; layers with net <= 0: {negative or 'none'}", flush=True)
    names = conv_linear(runs["unloaded"][0])
    mean = {m: {n: statistics.mean(r[n]["net_energy_per_inference_mj"] for r in runs[m]) for n in names} for m in runs}
    print(f"\nconv and linear layers, net mJ per inference (mean of {args.pairs} profile(s) each):")
    print(f"  {'layer':14s} {'unloaded':>10s} {'loaded':>10s} {'loaded/unloaded - 1':>20s}")
    devs = []
    for n in names:
        d = (mean["loaded"][n] / mean["unloaded"][n] - 1) * 100
        devs.append(abs(d))
        print(f"  {n:14s} {mean['unloaded'][n]:10.1f} {mean['loaded'][n]:10.1f} {d:+19.1f} %")
    print(f"  |loaded/unloaded - 1|: median {statistics.median(devs):.1f} %, max {max(devs):.1f} %, "
          f"within 10 %: {sum(d <= 10 for d in devs)}/{len(devs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
