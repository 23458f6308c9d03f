"""Benchmarks of the in-situ mode: hook overhead per layer call, and in-situ against isolation
per layer on the region-following synthetic sensor with a sample-and-hold refresh (6.6 ms, as a
Jetson INA3221 with default settings).

Run from the repository root::

    PYTHONPATH=python python benchmarks/bench_insitu.py [--quick]

Prints the figures and writes them to benchmarks/results/insitu.json. Figures, not pass/fail.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

import edgepower
from edgepower._native import core
from edgepower.profile.capture import capture
from edgepower.profile.hooks import Hooks
from edgepower.profile import MODEL_LABEL, LayerProfiler

HERE = os.path.dirname(os.path.abspath(__file__))
IDLE_W = 3.0
LEVELS_BY_TYPE = {"Conv2d": 12.0, "ReLU": 6.0, "MaxPool2d": 5.0, "Linear": 9.0, "Flatten": 4.0}


def small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    n = torch.nn
    return n.Sequential(n.Conv2d(3, 16, 3, padding=1), n.ReLU(), n.MaxPool2d(2), n.Conv2d(16, 32, 3, padding=1),
                        n.ReLU(), n.MaxPool2d(2), n.Conv2d(32, 64, 3, padding=1), n.ReLU(), n.Flatten(),
                        n.Linear(64 * 16 * 16, 10)).eval()


def hook_overhead(reps: int) -> dict:
    """Cost per layer call of the in-situ hooks, measured from Python.

    1. A model of 64 nn.Identity layers (a call costs next to nothing, so the difference is
       the hooks): forward with and without the hooks, median of ``reps`` forwards.
    2. The hook functions alone: a pre and a post hook called directly, per pair.
    """
    model = torch.nn.Sequential(*[torch.nn.Identity() for _ in range(64)]).eval()
    x = torch.zeros(1)
    timeline = core.Timeline()
    prof = LayerProfiler(model, sensor="constant:1", mode="in-situ")
    sites, _, _ = capture(prof.model, prof.layer_names, (x,), {})
    for s in sites:
        s.region = timeline.region(s.label)

    def median_forward() -> float:
        out = []
        with torch.inference_mode():
            for _ in range(reps):
                t = time.perf_counter_ns()
                model(x)
                out.append(time.perf_counter_ns() - t)
        return statistics.median(out)

    plain = median_forward()
    hooks = Hooks(model, sites, timeline)
    hooks.attach()
    try:
        hooked = median_forward()
    finally:
        hooks.remove()
    per_call_us = (hooked - plain) / len(sites) / 1e3
    # The hook pair alone.
    pre = model[0]._forward_pre_hooks
    hooks.attach()
    try:
        pre_fn = next(iter(model[0]._forward_pre_hooks.values()))
        post_fn = next(iter(model[0]._forward_hooks.values()))
        n = 200_000
        t = time.perf_counter_ns()
        for _ in range(n):
            pre_fn(None, None)
            post_fn(None, None, None)
        pair_us = (time.perf_counter_ns() - t) / n / 1e3
    finally:
        hooks.remove()
    del pre
    return {"layers": len(sites), "plain_forward_us": plain / 1e3, "hooked_forward_us": hooked / 1e3,
            "per_layer_call_us": per_call_us, "hook_pair_alone_us": pair_us, "target_us": 5.0,
            "marks_recorded": len(timeline)}


def compare(quick: bool, rate_hz: float) -> dict:
    model = small_cnn()
    x = torch.randn(1, 3, 64, 64)
    levels = {}
    for name, mod in model.named_modules():
        lv = LEVELS_BY_TYPE.get(type(mod).__name__)
        if lv is not None and name:
            levels[name] = lv
            levels[name + " (restore)"] = lv  # in-place layers' restore copies (none here)
    refresh_s = 0.0066
    out = {"model": "small CNN (3 conv + relu + pool, linear), 1x3x64x64", "sensor_refresh_s": refresh_s,
           "rate_hz": rate_hz,
           "idle_w": IDLE_W, "levels_w": levels}
    runs = {}
    for mode in ("isolation", "in-situ"):
        timeline = core.Timeline()
        sensor = core.RegionSensor(timeline, levels, IDLE_W, refresh_s=refresh_s)
        kw = dict(sensor=sensor, rate_hz=rate_hz, rounds=3, idle_s=0.2, mode=mode)
        if mode == "in-situ":
            kw["max_round_s"] = 2.0 if quick else 8.0
        else:
            kw["min_window_s"] = 0.1 if quick else 0.2
        t = time.perf_counter()
        report = LayerProfiler(model, **kw).profile(x)
        runs[mode] = (report, time.perf_counter() - t)
    iso, insitu = runs["isolation"][0], runs["in-situ"][0]
    rows = []
    for r in iso.layer_rows:
        label = r["layer"]
        s = insitu.row(label)
        level = levels[label]
        e_iso, e_in = r["net_energy_per_inference_mj"], s["net_energy_per_inference_mj"]
        rows.append({
            "layer": label, "type": r["type"], "level_w": level,
            "isolation_latency_ms": r["latency_ms"], "insitu_latency_ms": s["latency_ms"],
            "isolation_power_w": r["avg_power_w"], "insitu_power_w": s["avg_power_w"],
            "isolation_power_err_pct": (r["avg_power_w"] / level - 1) * 100,
            "insitu_power_err_pct": (s["avg_power_w"] / level - 1) * 100 if math.isfinite(s["avg_power_w"]) else None,
            "isolation_net_mj": e_iso, "insitu_net_mj": e_in,
            "insitu_minus_isolation_pct": (e_in / e_iso - 1) * 100 if e_iso and math.isfinite(e_in) else None,
            "insitu_ci95_pct": s["ci95_pct"], "insitu_readings": s["num_samples"], "insitu_note": s["note"],
        })
    out.update(rows=rows, isolation_wall_s=runs["isolation"][1], insitu_wall_s=runs["in-situ"][1],
               insitu_method={k: v for k, v in insitu.meta["method"].items()
                              if k.startswith(("attribution", "forwards", "plan", "max_", "cycles"))})
    return out


# ---- in-situ against isolation on the INA3221 emulator, scored against ground truth ----------------
def _site_levels(model: torch.nn.Module) -> dict:
    return {name: LEVELS_BY_TYPE[type(mod).__name__] for name, mod in model.named_modules()
            if name and type(mod).__name__ in LEVELS_BY_TYPE}


def _idle_window(timeline) -> tuple:
    w = timeline.windows()
    k = int(np.flatnonzero(w["region"] == timeline.region("(idle)"))[0])
    return int(w["t0_ns"][k]), int(w["t1_ns"][k])


def _insitu_net(report, ta: np.ndarray, idle_w: float) -> dict:
    """Per call site: net energy per inference (J) from the report's readings attributed at
    ``ta``, computed as the in-situ mode does (per round: (mean of the readings in the site's
    windows - idle) x run time / calls; mean over rounds)."""
    cyc = report.cycles
    t0, t1, rnd = np.asarray(cyc["t0_ns"]), np.asarray(cyc["t1_ns"]), np.asarray(cyc["round"])
    valid = t0 >= 0
    power = report.samples_power_w
    counts, sums, _ = core.assign_samples(np.asarray(ta, dtype=np.int64), power, np.where(valid, t0, 0).ravel(),
                                          np.where(valid, t1, 0).ravel())
    counts, sums = counts.reshape(t0.shape), sums.reshape(t0.shape)
    dur = np.where(valid, t1 - t0, 0) * 1e-9
    out = {}
    for i, label in enumerate(cyc["labels"]):
        per_round = []
        for r in sorted(set(rnd.tolist())):
            sel = rnd == r
            cnt, calls = counts[sel, i].sum(), valid[sel, i].sum()
            if cnt and calls:
                per_round.append((sums[sel, i].sum() / cnt - idle_w) * dur[sel, i].sum() / calls)
        out[label] = float(np.mean(per_round)) if per_round else math.nan
    return out


def _insitu_truth(report, source) -> dict:
    """Per call site: true net energy per inference (J) over the marked runs of the site."""
    cyc = report.cycles
    t0, t1, rnd = np.asarray(cyc["t0_ns"]), np.asarray(cyc["t1_ns"]), np.asarray(cyc["round"])
    out = {}
    for i, label in enumerate(cyc["labels"]):
        per_round = []
        for r in sorted(set(rnd.tolist())):
            rows = np.flatnonzero((rnd == r) & (t0[:, i] >= 0))
            if rows.shape[0]:
                e = sum(source.energy_j(t0[k, i], t1[k, i]) - source.idle_w * (t1[k, i] - t0[k, i]) * 1e-9
                        for k in rows.tolist())
                per_round.append(e / rows.shape[0])
        out[label] = float(np.mean(per_round)) if per_round else math.nan
    return out


def _isolation_scores(report, monitor, source, smodel) -> dict:
    """Per call site: (true net J, plain net J, lag net J) per inference, mean over rounds, for
    the windows the isolation run measured; idle power estimated by each estimator over the
    profiler's idle window."""
    from edgepower import methods as M

    st = monitor.samples()
    t, p = st.t_ns, monitor.total_power(st)
    i0, i1 = _idle_window(source.timeline)
    d_idle = (i1 - i0) * 1e-9
    idle = {"plain": M.plain_energy(t, p, i0, i1) / d_idle, "lag": M.lag_energy(t, p, i0, i1, smodel) / d_idle}
    out = {}
    for r in report.layer_rows:
        wins = [w for w in report.windows if w["label"] == r["layer"] and w["kind"] == "layer"]
        truth, plain, lag = [], [], []
        for w in wins:
            a, b, n = int(w["t0_ns"]), int(w["t1_ns"]), int(w["calls"])
            d = (b - a) * 1e-9
            truth.append((source.energy_j(a, b) - source.idle_w * d) / n)
            plain.append((M.plain_energy(t, p, a, b) - idle["plain"] * d) / n)
            lag.append((M.lag_energy(t, p, a, b, smodel) - idle["lag"] * d) / n)
        out[r["layer"]] = tuple(float(np.mean(v)) if v else math.nan for v in (truth, plain, lag))
    return out


def compare_ina3221(quick: bool, rate_hz: float) -> dict:
    """Isolation and in-situ runs of the small CNN against the INA3221 emulator (N=1, 1.1 ms
    conversions, 3 channels: a refresh every 6.6 ms) read through the real jetson-hwmon sensor,
    both scored against the emulator's ground truth."""
    from edgepower import methods as M
    from edgepower import testing as T
    from edgepower.energy import deconvolve_report, shift_to_observation
    from edgepower.sensors.model import SensorModel

    model = small_cnn()
    x = torch.randn(1, 3, 64, 64)
    levels = _site_levels(model)
    smodel = SensorModel.ina3221(1, 1.1e-3, 1.1e-3, 3)
    out = {"model": "small CNN (3 conv + relu + pool, linear), 1x3x64x64",
           "sensor": "INA3221 emulator (edgepower.testing.Ina3221, N=1, 1.1 ms + 1.1 ms, 3 channels, noise 0.05 W) "
                     "read by the jetson-hwmon sensor",
           "sensor_model": smodel.name, "refresh_s": smodel.refresh_s, "reading_lag_s": smodel.reading_lag_s,
           "rate_hz": rate_hz, "idle_w": IDLE_W, "levels_w": levels}
    runs = {}
    for mode in ("isolation", "in-situ"):
        source = T.RegionSource(levels, idle_w=IDLE_W)
        with T.Ina3221(source, averages=1, conversion_s=1.1e-3, seed=7) as emu:
            # plain PowerMonitor: the profiler's default figures; the lag-compensated and
            # shifted variants are recomputed below from the same readings
            mon = edgepower.PowerMonitor(emu.sensor(), rate_hz=rate_hz, timeline=source.timeline)
            kw = dict(monitor=mon, rounds=3, idle_s=0.5, mode=mode, seed=1)
            if mode == "in-situ":
                kw["max_round_s"] = 2.0 if quick else 6.0
            else:
                kw["min_window_s"] = 0.1 if quick else 0.2
            t = time.perf_counter()
            report = LayerProfiler(model, **kw).profile(x)
            runs[mode] = (report, time.perf_counter() - t, mon, source)
    iso, iso_wall, iso_mon, iso_src = runs["isolation"]
    ins, ins_wall, _, ins_src = runs["in-situ"]
    iso_scores = _isolation_scores(iso, iso_mon, iso_src, smodel)
    ins_truth = _insitu_truth(ins, ins_src)
    idle_ins = float(ins.row(MODEL_LABEL)["idle_power_w"])  # the baseline the in-situ report subtracted
    ta = ins.attribution_t_ns
    ins_refresh = _insitu_net(ins, ta, idle_ins)
    ta_shift, shift_info = shift_to_observation(ta, {"rule": ins.meta["method"]["attribution"]["rule"]},
                                                smodel)
    ins_shift = _insitu_net(ins, ta_shift, idle_ins)
    deconv = deconvolve_report(ins, smodel, bootstrap=100)  # issue 15: readings = A p through the kernel
    ins_deconv = dict(zip(deconv.labels, deconv.energy_per_call_j.tolist()))

    def pct(a, b):
        return (a / b - 1) * 100 if b and math.isfinite(a) and math.isfinite(b) else None

    rows = []
    for r in iso.layer_rows:
        label = r["layer"]
        s = ins.row(label)
        t_iso, e_plain, e_lag = iso_scores[label]
        t_ins = ins_truth[label]
        rows.append({
            "layer": label, "type": r["type"], "level_w": levels[label],
            "isolation_latency_ms": r["latency_ms"], "insitu_latency_ms": s["latency_ms"],
            "isolation_true_net_mj": t_iso * 1e3, "isolation_plain_net_mj": e_plain * 1e3,
            "isolation_lag_net_mj": e_lag * 1e3, "isolation_report_net_mj": r["net_energy_per_inference_mj"],
            "insitu_true_net_mj": t_ins * 1e3, "insitu_refresh_net_mj": ins_refresh[label] * 1e3,
            "insitu_shifted_net_mj": ins_shift[label] * 1e3, "insitu_report_net_mj": s["net_energy_per_inference_mj"],
            "isolation_plain_err_pct": pct(e_plain, t_iso), "isolation_lag_err_pct": pct(e_lag, t_iso),
            "insitu_refresh_err_pct": pct(ins_refresh[label], t_ins),
            "insitu_shifted_err_pct": pct(ins_shift[label], t_ins),
            "insitu_deconv_err_pct": pct(ins_deconv[label], t_ins),
            "insitu_report_err_pct": pct(s["net_energy_per_inference_mj"] * 1e-3, t_ins),
            "insitu_minus_isolation_pct": pct(s["net_energy_per_inference_mj"], r["net_energy_per_inference_mj"]),
            "true_insitu_minus_isolation_pct": pct(t_ins, t_iso),
            "insitu_ci95_pct": s["ci95_pct"], "insitu_readings": s["num_samples"],
        })

    def summary(key):
        e = np.abs([r[key] for r in rows if r[key] is not None])
        return {"median_abs_err_pct": float(np.median(e)) if e.size else None,
                "max_abs_err_pct": float(e.max()) if e.size else None}
    out.update(rows=rows, isolation_wall_s=iso_wall, insitu_wall_s=ins_wall, idle_measured_w=idle_ins,
               summary={k: summary(k) for k in ("isolation_plain_err_pct", "isolation_lag_err_pct",
                                                 "insitu_refresh_err_pct", "insitu_shifted_err_pct",
                                                 "insitu_deconv_err_pct", "insitu_report_err_pct")},
               shift=shift_info,
               insitu_method={k: v for k, v in ins.meta["method"].items()
                              if k.startswith(("attribution", "forwards", "plan", "max_", "cycles"))},
               sampler={k: v for k, v in iso_mon.stats().items() if isinstance(v, (int, float, str, bool))})
    return out


def print_ina3221(c: dict) -> None:
    m = c["insitu_method"]
    print(f"\nin-situ vs isolation against ground truth: {c['model']}, {c['sensor']}, sampled at {c['rate_hz']:g} Hz, "
          f"idle {IDLE_W} W (wall: isolation {c['isolation_wall_s']:.1f} s, in-situ {c['insitu_wall_s']:.1f} s; "
          f"{m.get('forwards_per_round')} forwards per round; attribution: {m.get('attribution', {}).get('rule')}, "
          f"phase interval {m.get('attribution', {}).get('phase_interval_us', float('nan')):.1f} us; shift "
          f"{c['shift']['reading_lag_us']:.0f} us)")
    print("  net energy per inference, mJ; err % vs the truth of the same run; iso: isolation (plain = the default "
          "report, lag = methods.lag_energy); in-situ: readings assigned at the fitted refresh, or shifted by the reading "
          "lag; deconv = deconvolve_report; report = the in-situ report's own rows (the default attribution)")
    print(f"  {'layer':<5} {'type':<9} | {'iso ms':>7} {'true':>8} {'plain':>7} {'lag':>7} | {'in-situ ms':>10} {'true':>8} "
          f"{'refresh':>7} {'shifted':>7} {'deconv':>7} {'report':>7} | {'in-situ-iso':>11} {'true diff':>9} {'CI %':>6}")

    def f(x, spec):
        return format(x, spec) if isinstance(x, (int, float)) and x is not None and math.isfinite(x) else "n/a"
    for r in c["rows"]:
        print(f"  {r['layer']:<5} {r['type']:<9} | {f(r['isolation_latency_ms'], '7.4f')} "
              f"{f(r['isolation_true_net_mj'], '8.5f')} {f(r['isolation_plain_err_pct'], '+7.2f')} "
              f"{f(r['isolation_lag_err_pct'], '+7.2f')} | {f(r['insitu_latency_ms'], '10.4f')} "
              f"{f(r['insitu_true_net_mj'], '8.5f')} {f(r['insitu_refresh_err_pct'], '+7.2f')} "
              f"{f(r['insitu_shifted_err_pct'], '+7.2f')} {f(r['insitu_deconv_err_pct'], '+7.2f')} "
              f"{f(r['insitu_report_err_pct'], '+7.2f')} | "
              f"{f(r['insitu_minus_isolation_pct'], '+10.1f')}% "
              f"{f(r['true_insitu_minus_isolation_pct'], '+8.1f')}% {f(r['insitu_ci95_pct'], '6.1f')}")
    s = c["summary"]
    print("  |err| median/max %: " + ", ".join(
        f"{k.replace('_err_pct', '')} {f(v['median_abs_err_pct'], '.2f')}/{f(v['max_abs_err_pct'], '.2f')}"
        for k, v in s.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter rounds (a smoke run)")
    ap.add_argument("--rate", type=float, default=1990.0,
                    help="sampling rate (default 1990 Hz. At 2000 Hz the synthetic refresh of 6.6 ms is 13.2 periods, so "
                         "sample phases repeat every 5 refreshes and pin the refresh phase to 100 us only; a real "
                         "sensor runs on its own clock, so its phase drifts against the sampler as at 1990 Hz)")
    ap.add_argument("--sensor", choices=("region", "ina3221", "all"), default="region",
                    help="region: the region-following synthetic sensor with a 6.6 ms sample-and-hold refresh "
                         "(default); ina3221: the INA3221 emulator through the jetson-hwmon sensor, scored against "
                         "its ground truth; all: both")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "insitu.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)  # leave a core to the sampler thread on the 2-core dev machine
    res = {"machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                       "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                       "edgepower": edgepower.__version__, "python": sys.version.split()[0]}}
    print(f"machine: {res['machine']}")
    h = hook_overhead(200 if args.quick else 1000)
    res["hook_overhead"] = h
    print(f"hook overhead: {h['layers']} nn.Identity layers, forward {h['plain_forward_us']:.1f} us plain, "
          f"{h['hooked_forward_us']:.1f} us with the in-situ hooks -> {h['per_layer_call_us']:.2f} us per layer call "
          f"(target <= {h['target_us']:.0f} us); the pre+post hook pair alone {h['hook_pair_alone_us']:.2f} us")
    if args.sensor in ("region", "all"):
        c = compare(args.quick, args.rate)
        res["comparison"] = c
        m = c["insitu_method"]
        print(f"\nin-situ vs isolation, {c['model']}, region sensor with a {c['sensor_refresh_s'] * 1e3:.1f} ms "
              f"sample-and-hold refresh, sampled at {c['rate_hz']:g} Hz, idle {IDLE_W} W (wall: isolation {c['isolation_wall_s']:.1f} s, in-situ "
              f"{c['insitu_wall_s']:.1f} s; {m.get('forwards_per_round')} forwards per round; attribution: "
              f"{m.get('attribution', {}).get('rule')}, phase interval {m.get('attribution', {}).get('phase_interval_us', float('nan')):.1f} us)")
        print(f"  {'layer':<4} {'type':<10} {'level W':>7} | {'iso W':>7} {'in-situ W':>9} | {'iso ms':>7} {'in-situ ms':>10} | "
              f"{'iso net mJ':>10} {'in-situ mJ':>10} {'diff %':>7} {'CI %':>6} {'readings':>8}")

        def f(x, spec):
            return format(x, spec) if isinstance(x, (int, float)) and x is not None and math.isfinite(x) else "n/a"
        for r in c["rows"]:
            print(f"  {r['layer']:<4} {r['type']:<10} {r['level_w']:>7.1f} | {f(r['isolation_power_w'], '7.3f'):>7} "
                  f"{f(r['insitu_power_w'], '9.3f'):>9} | {f(r['isolation_latency_ms'], '7.4f'):>7} "
                  f"{f(r['insitu_latency_ms'], '10.4f'):>10} | {f(r['isolation_net_mj'], '10.5f'):>10} "
                  f"{f(r['insitu_net_mj'], '10.5f'):>10} {f(r['insitu_minus_isolation_pct'], '+7.1f'):>7} "
                  f"{f(r['insitu_ci95_pct'], '6.1f'):>6} {r['insitu_readings']:>8}")
    if args.sensor in ("ina3221", "all"):
        c = compare_ina3221(args.quick, args.rate)
        res["comparison_ina3221"] = c
        print_ina3221(c)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(res, fh, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
