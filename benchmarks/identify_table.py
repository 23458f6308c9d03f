"""The identification table of docs/accuracy.md: the profiler's defaults on every INA3221 setting.

Every N in {1, 4, 16, 64, 128, 256, 512, 1024} x conversion time {140, 332, 1100} us x channels
{1, 3} (48 configurations): an emulated INA3221 writes its hwmon tree as the mainline driver does
(update_interval in whole ms), the LayerProfiler profiles a busy model (layers of 1, 2, 5, 10 ms)
with its defaults (it identifies the sensor's model itself, sizes its windows from it, and uses
the sensor-aware estimator), and each layer's net energy is scored against the exact truth, with
the plain estimator over the same windows beside it. The identification alone is repeated on a
tree written as the drivers before 2021 write it. Writes benchmarks/results/identify.json and
prints the table. CPU-heavy and long (tens of minutes): run it with nice on a quiet machine.

    python benchmarks/identify_table.py                 # the whole grid
    python benchmarks/identify_table.py --quick         # four configurations
    python benchmarks/identify_table.py --configs 512,140e-6,3 1024,1.1e-3,3
"""
import argparse
import json
import os
import sys
import time

from edgepower.testing import identification as I

QUICK = [I.Config(1, 1.1e-3, 3), I.Config(16, 1.1e-3, 1), I.Config(512, 140e-6, 3), I.Config(1024, 140e-6, 3)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="four configurations instead of the grid")
    p.add_argument("--configs", nargs="*", metavar="N,CONV_S,CHANNELS", help="these configurations only")
    p.add_argument("--json", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                  "identify.json"), help="where to write the results")
    args = p.parse_args(argv)
    if args.configs:
        try:
            configs = [I.Config(int(n), float(c), int(ch)) for n, c, ch in (x.split(",") for x in args.configs)]
        except ValueError:
            p.error("--configs takes N,CONV_S,CHANNELS, e.g. 512,140e-6,3")
    else:
        configs = QUICK if args.quick else I.grid()
    t0 = time.monotonic()
    res = I.run_grid(configs, progress=lambda name: print(f"... {name}", file=sys.stderr, flush=True))
    res["total_wall_s"] = time.monotonic() - t0
    res["load_average"] = os.getloadavg()
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1, default=lambda x: None)
    print(I.format_table(res))
    print(f"\ntotal {res['total_wall_s'] / 60:.1f} min; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
