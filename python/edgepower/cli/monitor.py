"""``edgepower monitor``: sample a sensor for a while, or while a command runs, and report energy.

::

    edgepower monitor --duration 10 -o trace.csv            # ten seconds, trace streamed to CSV
    edgepower monitor -- python train.py --epochs 1         # the command's run; its exit code passed on
    edgepower monitor --prometheus 127.0.0.1:9464           # a Prometheus exporter until Ctrl-C
    edgepower monitor --json -- make test                   # the result as JSON on stdout
"""
from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Optional, TextIO

from ..sensors import SensorError

DESCRIPTION = """\
Sample one sensor at a fixed rate on a native thread and report energy, average power and
sampler statistics: for --duration seconds, or while COMMAND runs (after --; its exit code is
passed on, and the summary goes to stderr so the command's output stays its own). With
--prometheus HOST:PORT the power per rail and energy counters are served for Prometheus while
sampling (without --duration or a command, until Ctrl-C or SIGTERM).
"""

EXAMPLES = """\
examples:
  edgepower monitor --duration 10 -o trace.csv
  edgepower monitor -- python train.py --epochs 1
  edgepower monitor --prometheus 127.0.0.1:9464
  edgepower monitor --json result.json -- make test
"""


def _fmt(x: Any, unit: str, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f} {unit}"


def add_parser(sub: Any) -> None:
    """Adds the ``monitor`` subcommand to the CLI's subparsers."""
    from .checks import rate_arg

    p = sub.add_parser("monitor", help="sample a sensor for a while or while a command runs",
                       description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sensor", default="auto", help="sensor spec (default: auto; see: edgepower sensors)")
    p.add_argument("--rate", type=rate_arg, default=1000.0,
                   help="sampling rate in Hz, 1-20000 (default 1000), or 'refresh': read just after each sensor "
                        "refresh, learnt from the readings")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds to sample (default 10; with a command: while it runs; with --prometheus: "
                        "until Ctrl-C)")
    p.add_argument("-o", "--output", help="trace CSV to write (streamed while sampling)")
    p.add_argument("--prometheus", metavar="HOST:PORT", default=None,
                   help="serve power and energy for Prometheus at http://HOST:PORT/metrics while sampling")
    p.add_argument("--json", metavar="PATH", nargs="?", const="-", default=None,
                   help="write the result as JSON to PATH, or to stdout without PATH (instead of the text)")
    p.add_argument("--no-realtime", action="store_true", help="do not ask for SCHED_FIFO for the sampler thread")
    p.add_argument("--root", default="/", help=argparse.SUPPRESS)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND ...",
                   help="a command to run and measure (after --)")
    p.set_defaults(func=cmd_monitor)


def _wait(duration: Optional[float], proc: Optional[subprocess.Popen]) -> bool:
    """Waits for the command, the duration, or forever; returns whether it was interrupted
    (Ctrl-C, or SIGTERM turned into one while waiting)."""
    main = threading.current_thread() is threading.main_thread()
    old = None
    if main:
        def on_term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, on_term)
    try:
        if proc is not None:
            proc.wait()
        elif duration is not None:
            time.sleep(duration)
        else:
            while True:
                time.sleep(3600)
        return False
    except KeyboardInterrupt:
        if proc is not None:
            # The command got the terminal's Ctrl-C itself; pass it on where it did not (SIGTERM).
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return True
    finally:
        if main:
            signal.signal(signal.SIGTERM, old)


def cmd_monitor(args: Any) -> int:
    from ..monitor import PowerMonitor
    from .checks import check_monitor_args, check_sensor, write_json

    check_monitor_args(args)  # every argument, before the sensor is built or sampling starts
    command: List[str] = list(args.command or [])
    if command and command[0] == "--":
        command = command[1:]
    if args.command and not command:
        raise ValueError("nothing to run after --: give a command, e.g. edgepower monitor -- python train.py")
    if args.duration is not None and not (args.duration > 0 and math.isfinite(args.duration)):
        raise ValueError(f"--duration must be a positive number of seconds, got {args.duration}")
    if command and args.duration is not None:
        raise ValueError("--duration and a command exclude each other: the command's run is the duration")
    duration = args.duration
    if duration is None and not command and not args.prometheus:
        duration = 10.0
    address = None
    if args.prometheus:
        from ..export.prometheus import parse_address

        address = parse_address(args.prometheus)
    as_json = args.json is not None
    out: TextIO = sys.stderr if (command or args.json == "-") else sys.stdout

    mon = PowerMonitor(sensor=check_sensor(args.sensor, root=args.root), rate_hz=args.rate, log_path=args.output,
                       root=args.root, realtime=not args.no_realtime)
    info = mon.info
    if not as_json:
        print(f"sensor: {info.kind} ({info.description}); rails: {', '.join(mon.rails)}", file=out)
        if info.estimated:
            print("NOTE: no power sensor measured this: every figure below is an ESTIMATE from a model, "
                  "not a measurement.", file=out)
    what = (f"while `{' '.join(command)}` runs" if command else f"for {duration:g} s" if duration is not None
            else "until Ctrl-C")
    mon.start()
    exporter = None
    proc = None
    try:
        if address is not None:
            from ..export.prometheus import serve

            exporter = serve(mon, *address)
            print(f"serving Prometheus metrics at {exporter.url}", file=sys.stderr, flush=True)
        if not as_json:
            print(f"sampling at {args.rate if isinstance(args.rate, str) else f'{args.rate:g} Hz'} {what}" + (f", writing {args.output}" if args.output else "")
                  + " (Ctrl-C stops early, keeping the data)", file=out, flush=True)
        mon.begin_window("monitor")
        if command:
            try:
                proc = subprocess.Popen(command)
            except OSError as exc:
                mon.end_window("monitor")
                raise ValueError(f"cannot run {command[0]!r}: {exc}") from None
        interrupted = _wait(duration, proc)
        m = mon.end_window("monitor")
    finally:
        if exporter is not None:
            exporter.close()
        failure = None
        try:
            mon.stop()
        except SensorError as exc:
            failure = exc
    exit_code = None
    if proc is not None:
        rc = proc.returncode
        exit_code = 128 - rc if rc < 0 else rc  # killed by signal N: 128 + N, as a shell reports it
    st = mon.stats()
    result: Dict[str, Any] = {"sensor": info.kind, "estimated": bool(info.estimated), "rails": mon.rails,
                              "measurement": m.to_dict(), "stats": st, "interrupted": interrupted,
                              "command": command or None, "exit_code": exit_code, "trace_csv": args.output,
                              "sampler_error": str(failure) if failure is not None else None}
    if as_json:
        write_json(result, args.json, out)
    else:
        _print_summary(m, st, info, args, out, interrupted, exit_code)
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
    if exit_code is not None:
        return exit_code if exit_code != 0 or failure is None else 1
    if failure is not None:
        return 1
    return 130 if interrupted and duration is not None else 0


def _print_summary(m: Any, st: Dict[str, Any], info: Any, args: Any, out: TextIO, interrupted: bool,
                   exit_code: Optional[int]) -> None:
    tag = " (estimated)" if info.estimated else ""
    p = lambda text: print(text, file=out)  # noqa: E731
    if exit_code is not None:
        p(f"command exited with {exit_code}")
    p(f"duration:        {_fmt(m.duration_s, 's')}{' (interrupted)' if interrupted else ''}")
    p(f"energy:          {_fmt(m.energy_j, 'J', 4)}{tag}")
    p(f"average power:   {_fmt(m.avg_power_w, 'W')}{tag}")
    for rail, e in m.energy_per_rail_j.items():
        p(f"  {rail:<14} {_fmt(e, 'J', 4)}")
    p(f"samples:         {st['samples']} at {_fmt(st['achieved_rate_hz'], 'Hz', 1)} "
      f"(requested {args.rate if isinstance(args.rate, str) else f'{args.rate:g} Hz'}, "
      f"{st['missed_deadlines']} missed deadlines)")
    if st["mode"] == "refresh":
        p(f"refresh lock:    {st['refresh_state']}, period {_fmt(st['refresh_period_s'] * 1e3, 'ms', 4)}, "
          f"{_fmt(st['refresh_within_50us_share'] * 100, '%', 1)} of {st['refreshes']} refreshes read within 50 us "
          f"({st['refreshes_late']} late, {st['refresh_probes']} probes)"
          f"{'; ' + st['refresh_note'] if st['refresh_note'] else ''}")
    p(f"lateness:        p50 {_fmt(st['lateness_p50_us'], 'us', 1)}, p99 {_fmt(st['lateness_p99_us'], 'us', 1)}, "
      f"max {_fmt(st['lateness_max_us'], 'us', 1)}")
    p(f"read time:       p50 {_fmt(st['read_p50_us'], 'us', 1)}, p99 {_fmt(st['read_p99_us'], 'us', 1)}")
    eff = st["effective_update_interval_s"]
    p(f"identical reads: {st['identical_share'] * 100:.1f}% -> effective sensor update interval "
      f"{_fmt(eff * 1e3 if eff == eff else float('nan'), 'ms', 2)}")
    p(f"read errors:     {st['read_errors']}; sampler thread: "
      f"{'real-time (SCHED_FIFO)' if st['realtime'] else 'normal scheduling'}")
    if not m.ok:
        p(f"energy unavailable: {m.reason}")
    if args.output:
        p(f"wrote {st['samples']} samples to {args.output}")


__all__ = ["add_parser", "cmd_monitor"]
