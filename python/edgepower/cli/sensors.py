"""``edgepower sensors``: every sensor kind, whether it is available here, and if not why."""
from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    """Adds the ``sensors`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("sensors", help="list sensor kinds and whether each is available here",
                       description="List every sensor kind: available here or why not (and how to fix it), "
                                   "rails, units, update interval, and a --sensor example.")
    p.add_argument("--json", metavar="PATH", nargs="?", const="-", default=None,
                   help="write the list as JSON to PATH, or to stdout without PATH (instead of the text)")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_sensors)


def cmd_sensors(args: Any) -> int:
    from ..sensors import sensors
    from .checks import output_file, write_json

    output_file(args.json, "--json")
    rows = sensors(root=args.root)
    if args.json is not None:
        write_json(rows, args.json, sys.stderr)
        return 0
    width = max(len(r["kind"]) for r in rows)
    for r in rows:
        avail = "yes" if r["available"] else "no "
        ui = r.get("update_interval_s")
        ui_s = f", updates every {ui * 1e3:.2f} ms" if isinstance(ui, float) and ui == ui else ""
        rails = ", ".join(r.get("rails") or []) or "-"
        est = " [ESTIMATE]" if r.get("estimated") else ""
        print(f"{r['kind']:<{width}}  {avail}  {r['summary']}{est}")
        if r["available"]:
            print(f"{'':<{width}}       rails: {rails} (total: {r.get('total_rail') or '-'}){ui_s}")
            print(f"{'':<{width}}       units: {r.get('units') or '-'}; e.g. --sensor {r['example']}")
            if r.get("estimated"):
                print(f"{'':<{width}}       NOTE: this is an estimate from a model, not a measurement")
        else:
            print(f"{'':<{width}}       why not: {r['reason']}")
    return 0


__all__ = ["add_parser", "cmd_sensors"]
