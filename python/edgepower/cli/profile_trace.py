"""``edgepower profile-trace``: the per-layer report of a trace recorded elsewhere (edgepower-record
on a JetPack 4 board, or ``edgepower monitor -o``) and its marks; see docs/jetpack4.md."""
from __future__ import annotations

import argparse
import math

DESCRIPTION = """\
Turn a recorded trace and its marks into the same per-layer report as a live profile: each
marked window of a name is one round of that layer; energy per inference is the window's
energy over its calls; the idle baseline is the average power of the (idle) windows; (model)
windows give the whole-model row. Marks come from the trace's '# mark:' lines (edgepower-record
--marks) or from a marks CSV (t_ns,event,name[,calls][,type]).
"""

EXAMPLES = """\
examples:
  edgepower profile-trace trace.csv
  edgepower profile-trace trace.csv --out vgg11-nano --model vgg11
  edgepower profile-trace monitor-trace.csv marks.csv --idle-power 1.9
"""


def add_parser(sub) -> None:
    """Adds the ``profile-trace`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("profile-trace", help="per-layer report from a recorded trace and its marks",
                       description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("trace", help="trace CSV (edgepower-record -o, edgepower monitor -o)")
    p.add_argument("marks", nargs="?", default=None,
                   help="marks CSV (default: the trace's own '# mark:' lines)")
    p.add_argument("--idle-power", type=float, default=None,
                   help="known idle power in W (default: measured over the marked (idle) windows)")
    p.add_argument("--model", default="recorded model", help="model name for the report")
    p.add_argument("-o", "--output", "--out", dest="out", default=None, help="directory for the CSVs, PNGs and JSON (default: print only)")
    p.set_defaults(func=cmd_profile_trace)


def cmd_profile_trace(args) -> int:
    from ..profile.recorded import profile_trace
    from .checks import output_dir

    output_dir(args.out, "--output")

    if args.idle_power is not None and not (math.isfinite(args.idle_power) and args.idle_power >= 0):
        raise ValueError(f"--idle-power must be a power in W >= 0, got {args.idle_power}")
    report = profile_trace(args.trace, args.marks, idle_power_w=args.idle_power, model=args.model)
    print(report.summary())
    for note in report.meta["recorded"]["notes"]:
        print(f"note: {note}")
    if args.out:
        paths = report.write(args.out)
        print(f"wrote {', '.join(sorted(paths.values()))}")
    return 0
