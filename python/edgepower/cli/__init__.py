"""Command line: ``edgepower monitor|sensors ...`` (also ``python -m edgepower``)."""
from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from typing import List, Optional

from ..sensors import SensorError
from . import accuracy as _accuracy
from . import edgeprofiler as _edgeprofiler
from . import profile as _profile

EPILOG = "Every timestamp is CLOCK_MONOTONIC; energies are trapezoid integrals of the samples."


def _fmt(x: float, unit: str, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f} {unit}"


def _add_monitor(sub) -> None:
    p = sub.add_parser("monitor", help="sample a sensor for a while and write the trace",
                       description="Sample one sensor at a fixed rate on a native thread and "
                                   "report energy, average power and sampler statistics.")
    p.add_argument("--sensor", default="auto", help="sensor spec (default: auto; see `edgepower sensors`)")
    p.add_argument("--rate", type=float, default=1000.0, help="sampling rate in Hz, 1-20000 (default 1000)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds to sample (default 10)")
    p.add_argument("-o", "--output", help="trace CSV to write (streamed while sampling)")
    p.add_argument("--no-realtime", action="store_true",
                   help="do not ask for SCHED_FIFO for the sampler thread")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_monitor)


def cmd_monitor(args) -> int:
    from ..monitor import PowerMonitor

    if not (args.duration > 0 and math.isfinite(args.duration)):
        print(f"error: --duration must be a positive number of seconds, got {args.duration}", file=sys.stderr)
        return 2
    mon = PowerMonitor(sensor=args.sensor, rate_hz=args.rate, log_path=args.output, root=args.root,
                       realtime=not args.no_realtime)
    info = mon.info
    print(f"sensor: {info.kind} ({info.description}); rails: {', '.join(mon.rails)}")
    if info.estimated:
        print("NOTE: no power sensor measured this: every figure below is an ESTIMATE from a model, "
              "not a measurement.")
    print(f"sampling at {args.rate:g} Hz for {args.duration:g} s" +
          (f", writing {args.output}" if args.output else "") + " (Ctrl-C stops early, keeping the data)")
    interrupted = False
    mon.start()
    mon.begin_window("monitor")
    try:
        time.sleep(args.duration)
    except KeyboardInterrupt:
        interrupted = True
    m = mon.end_window("monitor")
    failure = None
    try:
        mon.stop()
    except SensorError as exc:
        failure = exc
    st = mon.stats()
    tag = " (estimated)" if info.estimated else ""
    print(f"duration:        {_fmt(m.duration_s, 's')}{' (interrupted)' if interrupted else ''}")
    print(f"energy:          {_fmt(m.energy_j, 'J', 4)}{tag}")
    print(f"average power:   {_fmt(m.avg_power_w, 'W')}{tag}")
    for rail, e in m.energy_per_rail_j.items():
        print(f"  {rail:<14} {_fmt(e, 'J', 4)}")
    print(f"samples:         {st['samples']} at {_fmt(st['achieved_rate_hz'], 'Hz', 1)} "
          f"(requested {args.rate:g} Hz, {st['missed_deadlines']} missed deadlines)")
    print(f"lateness:        p50 {_fmt(st['lateness_p50_us'], 'us', 1)}, p99 {_fmt(st['lateness_p99_us'], 'us', 1)}, "
          f"max {_fmt(st['lateness_max_us'], 'us', 1)}")
    print(f"read time:       p50 {_fmt(st['read_p50_us'], 'us', 1)}, p99 {_fmt(st['read_p99_us'], 'us', 1)}")
    print(f"identical reads: {st['identical_share'] * 100:.1f}% -> effective sensor update interval "
          f"{_fmt(st['effective_update_interval_s'] * 1e3 if st['effective_update_interval_s'] == st['effective_update_interval_s'] else float('nan'), 'ms', 2)}")
    print(f"read errors:     {st['read_errors']}; sampler thread: "
          f"{'real-time (SCHED_FIFO)' if st['realtime'] else 'normal scheduling'}")
    if not m.ok:
        print(f"energy unavailable: {m.reason}")
    if args.output:
        print(f"wrote {st['samples']} samples to {args.output}")
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 130 if interrupted else 0


def _add_sensors(sub) -> None:
    p = sub.add_parser("sensors", help="list sensor kinds and whether each is available here")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_sensors)


def cmd_sensors(args) -> int:
    from ..sensors import sensors

    rows = sensors(root=args.root)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgepower", description=__doc__, epilog=EPILOG)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what edgepower decides")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_monitor(sub)
    _add_sensors(sub)
    _profile.add_parser(sub)
    _edgeprofiler.add_parser(sub)
    _accuracy.add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError, PermissionError, SensorError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
