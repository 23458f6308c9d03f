"""Benchmarks of the native core (issue 2): sampler timing under load, mark() cost, energy
integration and window attribution, each beside a baseline measured in the same run.

    python benchmarks/bench_core.py [--quick] [--out benchmarks/results/core.json]

Baselines: a plain Python thread reading the same sensor with time.sleep deadlines (sampler);
list.append((time.monotonic_ns(), id)) (mark); NumPy (integration, attribution).
Figures are ratios within one run: the machine is shared and noisy.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time

import numpy as np

from edgepower import _core


# ---------------------------------------------------------------- loads
class Load:
    """Runs a workload in the calling thread for `seconds`; returns iterations per second."""

    def __init__(self, kind: str):
        self.kind = kind
        if kind == "idle":
            return
        import torch
        if kind == "matmul":
            torch.set_num_threads(2)
            self.a = torch.randn(384, 384)
            self.b = torch.randn(384, 384)
            self.step = lambda: torch.mm(self.a, self.b)
        elif kind == "python":
            torch.set_num_threads(1)
            layers = []
            for _ in range(20):
                layers += [torch.nn.Linear(32, 32)]
            self.model = torch.nn.Sequential(*layers).eval()
            self.x = torch.randn(1, 32)

            def step():
                with torch.no_grad():
                    self.model(self.x)
            self.step = step
        else:
            raise ValueError(kind)

    def run(self, seconds: float) -> float:
        if self.kind == "idle":
            time.sleep(seconds)
            return float("nan")
        n = 0
        end = time.perf_counter() + seconds
        t0 = time.perf_counter()
        while time.perf_counter() < end:
            self.step()
            n += 1
        return n / (time.perf_counter() - t0)


# ---------------------------------------------------------------- samplers
def native_sampler(sensor, rate_hz, run, realtime_priority=0):
    s = _core.Sampler(sensor, rate_hz, realtime_priority=realtime_priority)
    s.start()
    time.sleep(0.02)  # let it settle before the measured part
    first = len(s)
    ips = run()
    s.stop()
    d = s.samples(first)
    return ips, d["t_ns"], d["lateness_ns"].astype(np.float64), s.stats()["cpu_s"]


def python_sampler(sensor, rate_hz, run):
    period = 1e9 / rate_hz
    stop = threading.Event()
    lateness, stamps, cpu = [], [], []

    def loop():
        c0 = time.thread_time()
        nxt = time.monotonic_ns()
        while not stop.is_set():
            now = time.monotonic_ns()
            if now < nxt:
                time.sleep((nxt - now) / 1e9)
            wake = time.monotonic_ns()
            sensor.read()
            stamps.append(time.monotonic_ns())
            lateness.append(wake - nxt)
            nxt += period
            if time.monotonic_ns() >= nxt + period:  # skip, do not burst (same policy)
                nxt += ((time.monotonic_ns() - nxt) // period) * period
        cpu.append(time.thread_time() - c0)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    time.sleep(0.02)
    first = len(stamps)
    ips = run()
    stop.set()
    th.join()
    return ips, np.array(stamps[first:], np.int64), np.array(lateness[first:], np.float64), cpu[0]


def bench_sampler(seconds: float, pairs: int = 10):
    """Lateness and achieved rate of each sampler under each load, and how much it slows the
    load: `pairs` alternating chunks without / with the sampler (seconds / pairs each), compared
    by their medians, so drift and other tenants of the machine hit both sides alike."""
    sensor = _core.ConstantSensor([5.0])
    rows = []
    chunk = seconds / pairs
    for load_kind in ("idle", "matmul", "python"):
        load = Load(load_kind)
        load.run(0.3)  # warm up
        for rate in (1000, 10000):
            for name, fn in (("native", native_sampler),
                             ("native-rt", lambda *a: native_sampler(*a, realtime_priority=1)),
                             ("python-thread", python_sampler)):
                base, loaded, ts, lates, cpu, wall = [], [], [], [], [], []
                for _ in range(pairs):
                    base.append(load.run(chunk))
                    w0 = time.perf_counter()
                    ips, t, late, cpu_s = fn(sensor, rate, lambda: load.run(chunk))
                    wall.append(time.perf_counter() - w0)
                    loaded.append(ips)
                    ts.append(t)
                    lates.append(late)
                    cpu.append(cpu_s)
                # rate and lateness per chunk, pooled
                late = np.concatenate(lates)
                rate_hz = float(np.median([(len(t) - 1) / ((t[-1] - t[0]) * 1e-9) for t in ts if len(t) > 1]))
                r = {"load": load_kind, "rate_hz": rate, "sampler": name, "achieved_rate_hz": rate_hz,
                     "lateness_p50_us": float(np.percentile(late, 50) / 1e3),
                     "lateness_p99_us": float(np.percentile(late, 99) / 1e3),
                     "lateness_max_us": float(np.max(late) / 1e3),
                     # CPU the sampling thread itself used, as a share of one core
                     "sampler_cpu_pct": 100.0 * sum(cpu) / sum(wall)}
                if load_kind != "idle":
                    r["loop_slowdown_pct"] = 100.0 * (1 - np.median(loaded) / np.median(base))
                rows.append(r)
                print(f"  {load_kind:<7} {rate:>6} Hz {name:<14} rate {r['achieved_rate_hz']:8.1f} Hz  "
                      f"lateness p50 {r['lateness_p50_us']:7.1f} p99 {r['lateness_p99_us']:7.1f} "
                      f"max {r['lateness_max_us']:8.1f} us  cpu {r['sampler_cpu_pct']:4.1f}%"
                      + (f"  loop slowed {r['loop_slowdown_pct']:+5.1f}%" if "loop_slowdown_pct" in r else ""),
                      flush=True)
    return rows


def bench_refresh(seconds: float, pairs: int = 4):
    """Refresh-locked sampling ("refresh", and "refresh-rt" at SCHED_FIFO priority 1 as PowerMonitor
    asks for by default) beside fixed-rate polling (1 and 10 kHz) on the INA3221
    emulator read in process (_core.Ina3221RegisterSensor: the registers are computed for the
    instant of each read, so the refresh instants are the chip's exact schedule and no writer
    thread's wake-up stands between; default N=1 at 1.1 ms: a channel refreshes every 2.2 ms;
    Jetson's N=512 at 140 us: every 280 us): CPU of the sampling thread (its thread CPU clock),
    how soon each refresh was read, and the slowdown of a 2-thread matmul (alternating chunks
    without / with the sampler, medians)."""
    from edgepower.testing import Ina3221
    rows = []
    load = Load("matmul")
    load.run(0.3)
    chunk = seconds / pairs
    for label, kw in (("N=1 1.1ms", dict(averages=1, conversion_s=1.1e-3)),
                      ("N=512 140us", dict(averages=512, conversion_s=140e-6))):
        # A load that changes (3 W / 8 W, 50 ms square): under N=512 a constant one never moves
        # the register by an LSB, and then there is nothing to lock to (it falls back, rightly).
        with Ina3221(_core.SquareSensor(3.0, 8.0, 0.05), noise_w=0.05, start=False, **kw) as emu:
            sensor = _core.Ina3221RegisterSensor(emu.emulator)
            # "refresh-rt": the same at SCHED_FIFO priority 1, as PowerMonitor asks for by default
            # (granted where the process may: root or CAP_SYS_NICE; stats()["realtime"] says).
            for mode in (1000, 10000, "refresh", "refresh-rt"):
                base, loaded, cpu, wall, lat, err, reads, st = [], [], [], [], [], [], [], None
                refresh = isinstance(mode, str)  # "refresh" or "refresh-rt"; else a fixed rate in Hz
                for _ in range(pairs):
                    base.append(load.run(chunk))
                    s = (_core.Sampler(sensor, 1000.0, refresh=True, realtime_priority=int(mode == "refresh-rt"))
                         if refresh else _core.Sampler(sensor, float(mode)))
                    ips, w, st, d, t_from = run_beside(s, load, chunk)
                    loaded.append(ips)
                    wall.append(w)
                    cpu.append(st["cpu_s"])
                    lat.append(emu.register_read_latency_ns(t_from, int(d["t_ns"][-1])).astype(np.float64))
                    # Energy of the board total over the measured part, samples (trapezoid) vs truth.
                    k = d["t_ns"] >= t_from
                    tt, pp = d["t_ns"][k], d["power_w"][k, 0]
                    true_j = emu.true_energy_j(int(tt[0]), int(tt[-1]))
                    err.append(100.0 * (np.trapezoid(pp, tt * 1e-9) - true_j) / true_j)
                    reads.append(int(k.sum()))
                lat_all = np.concatenate(lat)
                r = {"sensor": label, "sampler": mode if refresh else f"{mode} Hz",
                     "realtime": bool(st["realtime"]),
                     "sampler_cpu_pct": 100.0 * sum(cpu) / sum(wall),
                     "achieved_rate_hz": st["achieved_rate_hz"],
                     "refreshes": int(lat_all.size),
                     # reads in the measured part per register refresh (any channel) written then
                     "reads_per_refresh": sum(reads) / max(1, int(lat_all.size)),
                     "refresh_read_within_50us_pct": 100.0 * float(np.mean(lat_all <= 50_000)),
                     "refresh_read_p50_us": float(np.percentile(lat_all, 50) / 1e3),
                     "refresh_read_p99_us": float(np.percentile(lat_all, 99) / 1e3),
                     "matmul_slowdown_pct": 100.0 * (1 - np.median(loaded) / np.median(base)),
                     "energy_error_pct_median": float(np.median(err)),
                     "energy_error_pct_max_abs": float(np.max(np.abs(err)))}
                if refresh:
                    r.update({k: st[k] for k in ("refresh_state", "refresh_period_s", "refresh_within_50us_share",
                                                 "refresh_learns", "refresh_fallbacks", "refresh_note")})
                rows.append(r)
                print(f"  {label:<12} {r['sampler']:<9} cpu {r['sampler_cpu_pct']:5.2f}%  rate "
                      f"{r['achieved_rate_hz']:7.1f} Hz ({r['reads_per_refresh']:.2f} reads/refresh)  refreshes read within 50 us "
                      f"{r['refresh_read_within_50us_pct']:5.1f}% (p50 {r['refresh_read_p50_us']:6.1f}, p99 "
                      f"{r['refresh_read_p99_us']:7.1f} us, {r['refreshes']})  matmul slowed "
                      f"{r['matmul_slowdown_pct']:+5.1f}%  energy err median {r['energy_error_pct_median']:+.2f}% "
                      f"(max |{r['energy_error_pct_max_abs']:.2f}|%)"
                      + (f"  [{st['refresh_state']}, period {st['refresh_period_s'] * 1e3:.4f} ms, self-reported "
                         f"{100 * st['refresh_within_50us_share']:.1f}% within 50 us"
                         f"{'; ' + st['refresh_note'] if st['refresh_note'] else ''}]" if refresh else "")
                      + (" [SCHED_FIFO not granted]" if mode == "refresh-rt" and not st["realtime"] else ""),
                      flush=True)
            if kw["averages"] == 1:
                t0 = time.monotonic_ns()
                rows += wake_floor(len(emu.emulator.refresh_instants(t0, t0 + 10**9)), load, chunk, pairs)
    return rows


def run_beside(s, load, chunk: float):
    """Starts sampler ``s``, lets it settle 0.5 s (a refresh lock learns then), runs the load for
    ``chunk`` s beside it and stops it: (load rate, wall s from start to stop, stats, samples,
    CLOCK_MONOTONIC ns at which the measured part began)."""
    w0 = time.perf_counter()
    s.start()
    time.sleep(0.5)
    t_from = time.monotonic_ns()
    ips = load.run(chunk)
    s.stop()
    return ips, time.perf_counter() - w0, s.stats(), s.samples(0), t_from


def wake_floor(refresh_hz: int, load, chunk: float, pairs: int):
    """What waking alone costs on this machine: the sampler at SCHED_FIFO 1 reading a sensor that
    costs nothing (ConstantSensor), at one and at two fixed-rate wakes per refresh (refresh mode
    wakes twice per read, see wake.hpp: a sleep of milliseconds ends 20-90 us late, so it sleeps
    to shortly before the instant, then briefly again). CPU and matmul slowdown as above; and the
    share of the one-wake sampler's wakes within 45 us of their deadline (a design that slept
    once to 5 us after each refresh would read this share within 50 us)."""
    rows = []
    for per_refresh in (1, 2):
        base, loaded, cpu, wall, late = [], [], [], [], []
        for _ in range(pairs):
            base.append(load.run(chunk))
            s = _core.Sampler(_core.ConstantSensor([1.0]), float(per_refresh * refresh_hz), realtime_priority=1)
            ips, w, st, d, t_from = run_beside(s, load, chunk)
            loaded.append(ips)
            wall.append(w)
            cpu.append(st["cpu_s"])
            late.append(d["lateness_ns"][d["t_ns"] >= t_from].astype(np.float64))
        lat = np.concatenate(late)
        r = {"sensor": "none (wake floor)", "sampler": f"{per_refresh} wake/refresh ({per_refresh * refresh_hz} Hz)",
             "realtime": bool(st["realtime"]), "sampler_cpu_pct": 100.0 * sum(cpu) / sum(wall),
             "matmul_slowdown_pct": 100.0 * (1 - np.median(loaded) / np.median(base)),
             "wake_within_45us_pct": 100.0 * float(np.mean(lat <= 45_000)),
             "wake_lateness_p99_us": float(np.percentile(lat, 99) / 1e3)}
        rows.append(r)
        print(f"  wake floor   {per_refresh} wake/refresh ({per_refresh * refresh_hz} Hz) cpu {r['sampler_cpu_pct']:5.2f}%  "
              f"wakes within 45 us {r['wake_within_45us_pct']:5.1f}% (p99 {r['wake_lateness_p99_us']:6.1f} us)  "
              f"matmul slowed {r['matmul_slowdown_pct']:+5.1f}%" + ("" if st["realtime"] else " [SCHED_FIFO not granted]"),
              flush=True)
    return rows


def bench_mark(n=1_000_000):
    tl = _core.Timeline()
    rid = tl.region("layer")
    begin = tl.begin
    t0 = time.perf_counter_ns()
    for _ in range(n):
        begin(rid)
    mark_ns = (time.perf_counter_ns() - t0) / n
    lst = []
    app = lst.append
    mono = time.monotonic_ns
    t0 = time.perf_counter_ns()
    for _ in range(n):
        app((mono(), rid))
    append_ns = (time.perf_counter_ns() - t0) / n
    # The loop itself, to report the call alone as well.
    t0 = time.perf_counter_ns()
    for _ in range(n):
        pass
    loop_ns = (time.perf_counter_ns() - t0) / n
    print(f"  mark() from Python: {mark_ns:.0f} ns/call (loop included; loop alone {loop_ns:.0f} ns); "
          f"list.append((time.monotonic_ns(), id)): {append_ns:.0f} ns")
    return {"mark_ns": mark_ns, "list_append_ns": append_ns, "empty_loop_ns": loop_ns}


def numpy_trapezoid_window(t, p, t0, t1):
    """What a careful NumPy user writes: interpolated edges plus np.trapezoid inside."""
    i0 = np.searchsorted(t, t0, side="right")
    i1 = np.searchsorted(t, t1, side="left")
    p0 = np.interp(t0, t, p)
    p1 = np.interp(t1, t, p)
    tt = np.concatenate(([t0], t[i0:i1], [t1])).astype(np.float64) * 1e-9
    pp = np.concatenate(([p0], p[i0:i1], [p1]))
    return np.trapezoid(pp, tt)


def best_of(fn, repeats=5):
    """(min seconds, result) over repeats: the least disturbed run on a shared machine."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_energy(n=10_000_000, windows=10_000):
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.integers(90_000, 110_000, n)).astype(np.int64)
    p = rng.uniform(1, 10, n)
    a, b = int(t[0]), int(t[-1])
    # whole-recording integration
    np_s, e_np = best_of(lambda: numpy_trapezoid_window(t, p, a, b))
    c_s, e_c = best_of(lambda: _core.integrate_power(t, p, a, b)["energy_j"])
    assert abs(e_np - e_c) <= 1e-9 * abs(e_np)
    # attribution of many windows
    w0 = rng.integers(a, b - 10**8, windows).astype(np.int64)
    w1 = w0 + rng.integers(10**5, 10**8, windows)
    def numpy_attribute():
        cum = np.concatenate(([0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(t) * 1e-9)))

        def F(x):  # cumulative energy at x, linear in power between samples
            k = np.searchsorted(t, x, side="right") - 1
            px = p[k] + (p[k + 1] - p[k]) * (x - t[k]) / (t[k + 1] - t[k])
            return cum[k] + 0.5 * (p[k] + px) * (x - t[k]) * 1e-9
        return F(w1) - F(w0)
    np_w_s, e_np_w = best_of(numpy_attribute, 3)
    c_w_s, (e_c_w, _, _) = best_of(lambda: _core.attribute_windows(t, p, w0, w1))
    np.testing.assert_allclose(e_c_w, e_np_w, rtol=1e-8)
    r = {
        "samples": n, "windows": windows,
        "integrate_numpy_s": np_s, "integrate_native_s": c_s,
        "integrate_native_samples_per_s": n / c_s, "integrate_speedup": np_s / c_s,
        "attribute_numpy_s": np_w_s, "attribute_native_s": c_w_s, "attribute_speedup": np_w_s / c_w_s,
    }
    print("  (best of several runs each)")
    print(f"  trapezoid over {n / 1e6:.0f}M samples: native {c_s * 1e3:.1f} ms ({n / c_s / 1e6:.0f}M samples/s), "
          f"NumPy {np_s * 1e3:.1f} ms -> {np_s / c_s:.1f}x")
    print(f"  attribution of {windows} windows over {n / 1e6:.0f}M samples: native {c_w_s * 1e3:.1f} ms, "
          f"NumPy (cumulative + searchsorted) {np_w_s * 1e3:.1f} ms -> {np_w_s / c_w_s:.1f}x")
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (less precise)")
    ap.add_argument("--only-refresh", action="store_true", help="only the refresh-locked sampling comparison")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "core.json"))
    args = ap.parse_args()
    seconds = 1.5 if args.quick else 4.0
    print(f"edgepower core benchmarks on {platform.node()} ({os.cpu_count()} CPUs), {time.strftime('%Y-%m-%d %H:%M')}")
    if args.only_refresh:
        print("refresh-locked sampling vs fixed-rate polling (INA3221 emulator read in process, exact refresh instants):")
        refresh = bench_refresh(2 * seconds)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out.replace(".json", "_refresh.json"), "w") as f:
            json.dump({"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
                       "refresh": refresh}, f, indent=2)
        return
    print("sampler (native thread vs a Python thread with time.sleep deadlines, same sensor):")
    sampler = bench_sampler(seconds)
    print("refresh-locked sampling vs fixed-rate polling (INA3221 emulator read in process, exact refresh instants):")
    refresh = bench_refresh(2 * seconds)
    print("marks:")
    mark = bench_mark()
    print("energy:")
    energy = bench_energy()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()} {os.cpu_count()} CPUs",
                   "sampler": sampler, "refresh": refresh, "mark": mark, "energy": energy}, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
