"""Reading a 500k-row trace CSV: pandas' C parser (read_trace) against the line-by-line reader it
replaced (kept as the error path, ``_read_checked``). Figures, not pass/fail.

    PYTHONPATH=python python benchmarks/bench_trace.py [--rows N]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from edgepower import trace

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=500_000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.csv")
        t = 10**12 + np.arange(n, dtype=np.int64) * 1_000_000
        p = rng.uniform(0, 20, (n, 3))
        with open(path, "w") as f:
            f.write(f"{trace.MAGIC}\n# meta: {{}}\nt_ns,read_ns,power_w:a,power_w:b,power_w:c\n")
            np.savetxt(f, np.column_stack([t, rng.integers(100, 900, n), p]), fmt=["%d", "%d", "%.17g", "%.17g", "%.17g"],
                       delimiter=",")
        size = os.path.getsize(path)
        meta, header, skip = trace._head(path)
        res = {}
        for name, fn in (("line loop", lambda: trace._read_checked(path, meta, header, skip)),
                         ("pandas", lambda: trace.read_trace(path))):
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                tr = fn()
                best = min(best, time.perf_counter() - t0)
            assert tr.t_ns.shape == (n,) and np.array_equal(tr.power_w, p)
            res[name] = best
    print(f"read_trace, {n} rows x 3 rails ({size / 1e6:.1f} MB), best of 3 (load average {os.getloadavg()[0]:.1f}):")
    for k, v in res.items():
        print(f"  {k:<10} {v:7.3f} s")
    print(f"  speed-up  {res['line loop'] / res['pandas']:7.1f}x")
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "trace_read.json"), "w") as f:
        json.dump({"rows": n, "bytes": size, "seconds": res}, f, indent=1)


if __name__ == "__main__":
    main()
