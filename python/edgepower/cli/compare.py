"""``edgepower compare A.json B.json``: two profile reports side by side, layer by layer."""
from __future__ import annotations

import argparse
import os

DESCRIPTION = """\
Compare two profile reports (the report.json that edgepower profile writes) layer by layer:
latency, energy per inference (net above idle when both have an idle baseline) and average power,
with B - A deltas and whether each is beyond the combined 95% confidence intervals. Rows are
matched by label, e.g. an FP32 and a BF16 profile of the same model.
"""

EXAMPLES = """\
examples:
  edgepower profile distilbert --dtype float32 --out fp32 && edgepower profile distilbert --dtype bfloat16 --out bf16
  edgepower compare fp32/report.json bf16/report.json
  edgepower compare before.json after.json --labels before,after -o diff.csv --plot diff.png
"""


def add_parser(sub) -> None:
    """Adds the ``compare`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("compare", help="compare two profile reports layer by layer", description=DESCRIPTION,
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", metavar="A.json", help="the reference report (deltas are B - A)")
    p.add_argument("b", metavar="B.json", help="the report compared with it")
    p.add_argument("--labels", default=None, help="names of A and B, comma-separated (default: their dtypes when "
                                                  "they differ, else A,B)")
    p.add_argument("--layers-only", action="store_true",
                   help="call sites only (default: also module totals, (unattributed) and (model))")
    p.add_argument("-o", "--output", default=None, help="also write the comparison as CSV")
    p.add_argument("--plot", default=None, metavar="PNG", help="also write the chart (energy, latency, delta %%)")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    """Runs ``edgepower compare``."""
    from ..report import Report
    from .checks import output_file

    output_file(args.output, "-o/--output")
    output_file(args.plot, "--plot")
    for path in (args.a, args.b):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path!r} does not exist; pass the report.json files that `edgepower profile` wrote")
    labels = None
    if args.labels is not None:
        labels = [x.strip() for x in args.labels.split(",")]
        if len(labels) != 2 or not all(labels):
            raise ValueError(f"--labels takes two names separated by a comma, e.g. fp32,bf16; got {args.labels!r}")
    a, b = Report.from_json(args.a), Report.from_json(args.b)
    comp = a.compare(b, labels=labels, rows="layers" if args.layers_only else "all")
    print(comp.summary())
    if args.output:
        print(f"wrote {comp.to_csv(args.output)}")
    if args.plot:
        comp.plot().savefig(args.plot, dpi=100)
        print(f"wrote {args.plot}")
    return 0


__all__ = ["add_parser", "cmd_compare"]
