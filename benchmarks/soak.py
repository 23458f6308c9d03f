"""Soak: a long monitor at 10 kHz on a 4-rail jetson-hwmon tree, spooled, in constant memory.

A PowerMonitor samples the Orin fixture tree (tests/data/sensors/orin: 4 INA3221 rails, 8 files
a sample) at 10 kHz with ``memory_policy="rolling"`` and a small cap, spooling everything to disk
(fsync every second), and opens a 0.1 s window every second. Each minute it prints the process's
RSS, the achieved rate over that minute and the spool's size; at the end it reads the spool back
and checks that every sample is there. RSS must be flat after the cap fills (warm-up), the rate
must not drift, the spool must hold every sample.

Run from the repository root after building the core:
    PYTHONPATH=python nice -n 10 python benchmarks/soak.py [--minutes 10 | --quick] [--rate 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

from edgepower import PowerMonitor, read_spool  # noqa: E402

ORIN = REPO / "tests" / "data" / "sensors" / "orin"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def du_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)) / 1e6


def soak(minutes: float, rate_hz: float, max_memory_mb: float, minute_s: float, keep: bool) -> Dict[str, Any]:
    root = tempfile.mkdtemp(prefix="edgepower-soak-")
    tree = os.path.join(root, "sys-root")
    shutil.copytree(ORIN, tree)
    spool = os.path.join(root, "spool")
    mon = PowerMonitor("jetson-hwmon", rate_hz=rate_hz, root=tree, spool=spool, spool_sync_s=1.0,
                       max_memory_mb=max_memory_mb, memory_policy="rolling")
    rows: List[Dict[str, Any]] = []
    windows = 0
    print(f"soak: {minutes:g} min at {rate_hz:g} Hz, jetson-hwmon ({len(mon.rails)} rails), rolling cap "
          f"{max_memory_mb:g} MB, spool {spool}")
    print(f"{'t s':>6} {'RSS MB':>8} {'rate Hz':>9} {'samples':>10} {'in RAM':>9} {'dropped':>10} "
          f"{'spool MB':>9} {'synced':>10}")
    mon.start()
    t_start = time.monotonic()
    last_n, last_t = len(mon.sampler), t_start
    try:
        for minute in range(1, int(round(minutes * 60 / minute_s)) + 1):
            end = t_start + minute * minute_s
            while time.monotonic() < end:
                mon.begin_window(f"w{windows}")
                time.sleep(0.1)
                mon.end_window(f"w{windows}")
                windows += 1
                time.sleep(max(0.0, min(0.9, end - time.monotonic())))
            n, t = len(mon.sampler), time.monotonic()
            st = mon.stats()
            row = {"minute": minute, "t_s": minute * minute_s, "rss_mb": rss_mb(),
                   "rate_hz": (n - last_n) / (t - last_t), "samples": n, "in_ram": n - mon.sampler.first_index, "dropped": int(st["dropped_samples"]),
                   "spool_mb": du_mb(spool), "synced_samples": mon.spool.synced_samples}
            rows.append(row)
            last_n, last_t = n, t
            print(f"{minute * minute_s:>6.0f} {row['rss_mb']:>8.1f} {row['rate_hz']:>9.1f} {n:>10} {row['in_ram']:>9} "
                  f"{row['dropped']:>10} {row['spool_mb']:>9.1f} {row['synced_samples']:>10}", flush=True)
    finally:
        mon.stop()
    st = mon.stats()
    t0 = time.monotonic()
    sp = read_spool(spool)
    read_s = time.monotonic() - t0
    on_disk = len(sp.samples.t_ns)
    result = {
        "minutes": minutes, "requested_rate_hz": rate_hz, "rails": len(mon.rails), "max_memory_mb": max_memory_mb,
        "per_minute": rows, "samples": len(mon.sampler), "samples_on_disk": on_disk,
        "every_sample_on_disk": on_disk == len(mon.sampler),
        "timestamps_increasing": bool((sp.samples.t_ns[1:] > sp.samples.t_ns[:-1]).all()),
        "windows": windows, "windows_on_disk": len(sp.windows), "spool_mb": du_mb(spool),
        "spool_read_s": read_s, "achieved_rate_hz": st["achieved_rate_hz"], "read_errors": st["read_errors"],
        "missed_deadlines": st.get("missed_deadlines"), "realtime": st.get("realtime"),
        "lateness_p50_us": st.get("lateness_p50_us"), "lateness_p99_us": st.get("lateness_p99_us"),
        "lateness_max_us": st.get("lateness_max_us"), "bytes_per_sample": st.get("bytes_per_sample"),
        "sampler_cpu_s": st.get("cpu_s"), "wall_s": st.get("duration_s"),
        "loadavg": os.getloadavg(), "cpus": os.cpu_count(), "machine": platform.machine(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    warm = [r["rss_mb"] for r in rows if r["dropped"] > 0] or [rows[-1]["rss_mb"]]  # once the cap is full
    rates = [r["rate_hz"] for r in rows]
    print(f"RSS once the cap is full: {min(warm):.1f} to {max(warm):.1f} MB; rate per minute {min(rates):.1f} to "
          f"{max(rates):.1f} Hz; spool {result['spool_mb']:.1f} MB; {on_disk} of {len(mon.sampler)} samples on disk "
          f"(read back in {read_s:.1f} s); {len(sp.windows)} of {windows} windows; timestamps increasing: "
          f"{result['timestamps_increasing']}; lateness p50/p99/max {result['lateness_p50_us']}/"
          f"{result['lateness_p99_us']}/{result['lateness_max_us']} us; missed deadlines "
          f"{result['missed_deadlines']}; load average {result['loadavg'][0]:.2f} {result['loadavg'][1]:.2f} "
          f"{result['loadavg'][2]:.2f}")
    if not keep:
        shutil.rmtree(root)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long (default 10)")
    ap.add_argument("--quick", action="store_true", help="1 minute, reported every 10 s, with an 8 MB cap")
    ap.add_argument("--rate", type=float, default=10000.0, help="sampling rate in Hz (default 10000)")
    ap.add_argument("--max-memory-mb", type=float, default=None,
                    help="the rolling cap (default 32 MB, 8 MB with --quick: full in about 70 s / 17 s at 10 kHz "
                         "on 4 rails)")
    ap.add_argument("--keep", action="store_true", help="keep the spool folder")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "soak.json"))
    a = ap.parse_args()
    if not (a.minutes > 0):
        ap.error(f"--minutes must be positive, got {a.minutes}")
    minutes, minute_s = (1.0, 10.0) if a.quick else (a.minutes, 60.0)
    cap = a.max_memory_mb if a.max_memory_mb is not None else (8.0 if a.quick else 32.0)
    result = soak(minutes, a.rate, cap, minute_s, a.keep)
    result["interval_s"] = minute_s
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"wrote {a.out}")
    ok = result["every_sample_on_disk"] and result["timestamps_increasing"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
