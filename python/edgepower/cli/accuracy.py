"""``edgepower accuracy``: profile a synthetic model against emulated sensors and print the error
per layer (docs/accuracy.md)."""
from __future__ import annotations

import json
import math
import os
import sys

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    """Add the ``accuracy`` command to an argparse subparsers object."""
    p = sub.add_parser(
        "accuracy", help="error of the profiler against emulated sensors with ground truth",
        description="Profiles a model of busy-wait layers (50 us to 1 s, known power levels) against emulated "
                    "sensors (INA3221 through the real jetson-hwmon reader, NVML-like counter and 25/100 ms "
                    "instant power) and prints measured - true net energy per inference for each layer and "
                    "estimator. '*' marks a layer whose 95% CI misses the truth. See docs/accuracy.md.")
    p.add_argument("--full", action="store_true",
                   help="layers from 50 us to 1 s and every setting (several minutes); default: a quick run of "
                        "the default INA3221 setting on 300 us .. 30 ms layers")
    p.add_argument("--settings", help="comma-separated settings (default: all with --full, else ina3221-default)")
    p.add_argument("--rounds", type=int, default=3, help="profiler rounds per setting (default 3)")
    p.add_argument("--rate", type=float, default=1000.0, help="sampling rate, Hz (default 1000)")
    p.add_argument("--idle", type=float, default=1.0, help="idle baseline, s (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.set_defaults(func=cmd_accuracy)


def cmd_accuracy(args) -> int:
    from ..testing import accuracy as A
    from .checks import rate

    rate(args.rate)
    if args.json and os.path.isdir(args.json):  # its folder is created if needed
        raise ValueError(f"--json {args.json!r} is a folder; give a file path such as {args.json}/accuracy.json")
    if args.rounds < 2:
        print(f"error: --rounds must be >= 2 (a confidence interval needs two rounds), got {args.rounds}",
              file=sys.stderr)
        return 2
    if not (args.idle > 0 and math.isfinite(args.idle)):
        print(f"error: --idle must be a positive number of seconds, got {args.idle}", file=sys.stderr)
        return 2
    if args.settings:
        names = [s.strip() for s in args.settings.split(",") if s.strip()]
        unknown = [s for s in names if s not in A.SETTINGS]
        if unknown or not names:
            raise ValueError(f"--settings: unknown accuracy setting(s) {', '.join(unknown) or repr(args.settings)}; "
                             f"known: {', '.join(A.SETTINGS)}")
    else:
        names = list(A.SETTINGS) if args.full else ["ina3221-default"]
    layers = A.LAYERS_FULL if args.full else A.LAYERS_QUICK
    result = A.run(names, layers, rounds=args.rounds, rate_hz=args.rate, idle_s=args.idle, seed=args.seed,
                   progress=lambda n: print(f"profiling against {n} ...", file=sys.stderr, flush=True))
    print(A.format_table(result))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1, default=float)
        print(f"wrote {args.json}")
    return 0
