"""Benchmarks of the LibTorch component edgepower._torch, each figure beside its baseline from
the same run:

Times are taken on both the wall clock and the thread's CPU clock (``time.thread_time_ns``; one
torch thread, so the work runs on the measuring thread): on a machine shared with other jobs the
CPU clock does not count the time the thread waits for a core.

1. op observer: cost per observed op (a TorchScript loop of ``aten::add`` on 1-element tensors,
   so no Python between the ops), observer on vs off, beside ``torch.profiler`` (CPU
   activities) on the same loop;
2. forward slow-down with the observer on: VGG11 (batch 1, 224x224) and DistilBERT
   (DistilBertConfig, random weights, batch 1, 128 random token ids), paired alternating
   measurements (on/off order alternates) because the machine is noisy;
3. isolated-layer loops: time per call of the Python loop vs the native loop (AOTInductor
   package; TorchScript trace) on ReLU (1k elements), Linear 64x64 and LayerNorm 768, the
   Python loop's overhead (nn.Identity) and the AOTInductor compile times;
4. ``--profiles``: resnet18 and DistilBERT profiled in situ and in isolation with the
   non-module ops as rows (edgepower.op_rows), the ``(unattributed)`` share of latency before
   and after.

Run from the repository root with edgepower installed (./scripts/test.sh does)::

    python benchmarks/bench_torch.py [--quick] [--profiles]

Prints the figures and writes benchmarks/results/torch.json. Figures, not pass/fail. One torch
thread throughout (the second core stays with the sampler and the rest of the machine).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

import numpy as np
import torch

import edgepower
from edgepower import torch_native
from edgepower.profile import op_capture, op_isolation, op_rows, runners

HERE = os.path.dirname(os.path.abspath(__file__))


def _median_iqr(v: List[float]) -> Dict[str, float]:
    a = np.asarray(v, dtype=np.float64)
    return {"median": float(np.median(a)), "p25": float(np.percentile(a, 25)), "p75": float(np.percentile(a, 75)),
            "n": int(a.size)}


# ---- 1. observer cost per op ----------------------------------------------------------------------
@torch.jit.script
def _add_loop(a: torch.Tensor, b: torch.Tensor, n: int) -> torch.Tensor:
    for _ in range(n):
        a = torch.add(a, b)
    return a


def observer_cost(pairs: int, n_ops: int) -> Dict[str, Any]:
    a, b = torch.zeros(1), torch.ones(1)
    with torch.inference_mode():
        for _ in range(3):
            _add_loop(a, b, n_ops)  # warm the TorchScript profiling executor

        def run(mode: str) -> float:
            obs = prof = None
            if mode == "observer":
                obs = torch_native.OpObserver(capacity_events=2 * n_ops + 64, max_depth=1).start()
            elif mode == "observer-all":
                obs = torch_native.OpObserver(capacity_events=4 * n_ops + 64, max_depth=-1).start()
            elif mode == "torch.profiler":
                prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])
                prof.__enter__()
            t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            _add_loop(a, b, n_ops)
            t, c = time.perf_counter_ns() - t0, time.thread_time_ns() - c0
            if obs is not None:
                obs.stop()
                st = obs.stamps()
                got = int(((st.kind == 1) & (st.depth == 0)).sum())
                assert got >= n_ops, (got, n_ops)
            if prof is not None:
                prof.__exit__(None, None, None)
            return float(t), float(c)

        out: Dict[str, Any] = {"ops_per_run": n_ops}
        per_mode = {}
        for mode in ("observer", "observer-all", "torch.profiler"):
            res: Dict[str, List[float]] = {"wall": [], "cpu": [], "wall_base": [], "cpu_base": []}
            for i in range(pairs):
                order = ("off", mode) if i % 2 == 0 else (mode, "off")
                t = {m: run(m) for m in order}
                for j, clk in enumerate(("wall", "cpu")):
                    res[clk].append((t[mode][j] - t["off"][j]) / n_ops)
                    res[clk + "_base"].append(t["off"][j] / n_ops)
            per_mode[mode] = {"extra_ns_per_op_wall": _median_iqr(res["wall"]),
                              "extra_ns_per_op_cpu": _median_iqr(res["cpu"]),
                              "op_alone_ns_wall": _median_iqr(res["wall_base"]),
                              "op_alone_ns_cpu": _median_iqr(res["cpu_base"])}
        out["modes"] = per_mode
    return out


# ---- 2. forward slow-down -----------------------------------------------------------------------
def _models(quick: bool):
    import torchvision
    import transformers as tf

    torch.manual_seed(0)
    vgg = torchvision.models.vgg11(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    cfg = tf.DistilBertConfig()
    bert = tf.DistilBertForSequenceClassification(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, 128))
    mask = torch.ones(1, 128, dtype=torch.long)
    return {"vgg11": (vgg, (x,), {}), "distilbert": (bert, (ids,), {"attention_mask": mask})}


def forward_slowdown(models: Dict[str, Any], pairs: int, forwards: int) -> Dict[str, Any]:
    out = {}
    for name, (model, args, kwargs) in models.items():
        with torch.inference_mode():
            for _ in range(2):
                model(*args, **kwargs)
            obs = torch_native.OpObserver(max_depth=-1)
            with obs:
                model(*args, **kwargs)
            st = obs.stamps()
            ops_outer = int(((st.kind == 1) & (st.depth == 0)).sum())
            ops_all = int((st.kind == 1).sum())

            def chunk(on: bool) -> float:
                o = torch_native.OpObserver(max_depth=-1) if on else None
                if o is not None:
                    o.start()
                t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                for _ in range(forwards):
                    model(*args, **kwargs)
                t, c = (time.perf_counter_ns() - t0) / forwards, (time.thread_time_ns() - c0) / forwards
                if o is not None:
                    o.stop()
                return float(t), float(c)

            r: Dict[str, List[float]] = {k: [] for k in ("wall", "cpu", "off_wall", "on_wall", "off_cpu", "on_cpu")}
            for i in range(pairs):
                if i % 2 == 0:
                    off, on = chunk(False), chunk(True)
                else:
                    on, off = chunk(True), chunk(False)
                for j, clk in enumerate(("wall", "cpu")):
                    r[clk].append(on[j] / off[j] - 1.0)
                    r["off_" + clk].append(off[j] / 1e6)
                    r["on_" + clk].append(on[j] / 1e6)
        out[name] = {"ops_per_forward_outermost": ops_outer, "ops_per_forward_all_depths": ops_all,
                     "slowdown_wall": _median_iqr(r["wall"]), "slowdown_cpu": _median_iqr(r["cpu"]),
                     "forward_ms_off_wall": _median_iqr(r["off_wall"]), "forward_ms_on_wall": _median_iqr(r["on_wall"]),
                     "forward_ms_off_cpu": _median_iqr(r["off_cpu"]), "forward_ms_on_cpu": _median_iqr(r["on_cpu"]),
                     "implied_ns_per_op_cpu": (statistics.median(r["on_cpu"]) - statistics.median(r["off_cpu"])) * 1e6
                     / ops_all}
    return out


# ---- 3. loops: Python vs native ------------------------------------------------------------------
def loop_overhead(windows: int, window_s: float, cache: str) -> Dict[str, Any]:
    torch.manual_seed(0)
    layers = {"relu_1k": (torch.nn.ReLU(), torch.randn(1000)),
              "linear_64x64": (torch.nn.Linear(64, 64), torch.randn(1, 64)),
              "layernorm_768": (torch.nn.LayerNorm(768), torch.randn(1, 768))}
    out: Dict[str, Any] = {"python_overhead_us": runners.python_overhead_s() * 1e6,
                           "tolerance": runners.DEFAULT_TOLERANCE}
    out["threshold_us"] = out["python_overhead_us"] / runners.DEFAULT_TOLERANCE
    target = int(window_s * 1e9)
    for name, (mod, x) in layers.items():
        mod.eval()
        loops: Dict[str, Any] = {"python": runners.PythonLoop(lambda mod=mod, x=x: mod(x))}
        info: Dict[str, Any] = {}
        try:
            path, pinfo = runners.aoti_package(mod, (x,), {}, cache)
            loops["native-aoti"] = runners.NativeLoop(path, "aoti", [x])
            info["aoti"] = {k: pinfo[k] for k in ("cached", "export_s", "compile_s")}
        except Exception as exc:  # report, do not stop the benchmark
            info["aoti_error"] = f"{type(exc).__name__}: {exc}"
        with torch.no_grad():
            traced = torch.jit.trace(mod, (x,))
        spath = os.path.join(cache, f"trace-{name}.pt")
        traced.save(spath)
        loops["native-torchscript"] = runners.NativeLoop(spath, "torchscript", [x])
        per: Dict[str, List[float]] = {k: [] for k in loops}
        cpu: Dict[str, List[float]] = {k: [] for k in loops}
        with torch.inference_mode():
            for lp in loops.values():
                lp.window(target // 4, 3)  # warm
            for i in range(windows):
                names = list(loops) if i % 2 == 0 else list(reversed(loops))
                for k in names:
                    c0 = time.thread_time_ns()
                    w = loops[k].window(target, 3)
                    cpu[k].append((time.thread_time_ns() - c0) / w.calls / 1e3)
                    per[k].append((w.t1_ns - w.t0_ns) / w.calls / 1e3)
        res = {k: _median_iqr(v) for k, v in per.items()}
        res_cpu = {k: _median_iqr(v) for k, v in cpu.items()}
        for k in loops:
            if k != "python":
                res[k]["saved_us_per_call"] = res["python"]["median"] - res[k]["median"]
                res_cpu[k]["saved_us_per_call"] = res_cpu["python"]["median"] - res_cpu[k]["median"]
        out[name] = dict(per_call_us=res, per_call_cpu_us=res_cpu, **info)
    return out


# ---- 4. profiles with op rows ---------------------------------------------------------------------
def _summary(rep: Any) -> Dict[str, Any]:
    rows = rep.rows
    model = next(r for r in rows if r["kind"] == "model")
    un = next(r for r in rows if r["kind"] == "unattributed")
    ops = [r for r in rows if r["kind"] == "op"]
    ops_sorted = sorted(ops, key=lambda r: -r["latency_ms"] if math.isfinite(r["latency_ms"]) else 0)
    return {"model_latency_ms": model["latency_ms"], "unattributed_latency_ms": un["latency_ms"],
            "unattributed_ci95_ms": un["latency_ci95_ms"], "model_ci95_ms": model["latency_ci95_ms"],
            "unattributed_share_before": rep.meta["ops"]["unattributed_latency_share_before"],
            "unattributed_share_after": rep.meta["ops"]["unattributed_latency_share"],
            "op_rows": len(ops), "op_latency_ms": sum(r["latency_ms"] for r in ops if math.isfinite(r["latency_ms"])),
            "top_ops": [{k: r[k] for k in ("layer", "module", "latency_ms", "energy_per_inference_mj", "runner", "status")}
                        for r in ops_sorted[:8]],
            "runners": rep.meta["ops"].get("runners"), "compile_s": rep.meta["ops"].get("compile_s"),
            "sensor": rep.meta.get("sensor"), "estimated": rep.meta.get("estimated")}


def profiles(quick: bool, cache: str, native: str = "auto", cache_context: str = "model") -> Dict[str, Any]:
    import torchvision
    import transformers as tf

    from edgepower.monitor import PowerMonitor
    from edgepower.profile import LayerProfiler, select_layers

    torch.manual_seed(0)
    cfg = tf.DistilBertConfig()
    specs = {
        "resnet18": (torchvision.models.resnet18(weights=None).eval(), (torch.randn(1, 3, 224, 224),), {}, None),
        "distilbert": (tf.DistilBertForSequenceClassification(cfg).eval(),
                       (torch.randint(0, cfg.vocab_size, (1, 128)),),
                       {"attention_mask": torch.ones(1, 128, dtype=torch.long)}, None),
    }
    os.environ[runners.ENV_CACHE] = os.path.dirname(cache)
    common = dict(rounds=2 if quick else 3, min_window_s=0.05 if quick else 0.2, idle_s=0.5)
    iso = dict(common, cache_context=cache_context)
    out: Dict[str, Any] = {}
    for name, (model, args, kwargs, layers) in specs.items():
        res: Dict[str, Any] = {}
        calls = op_capture.capture_op_calls(model, args, kwargs, select_layers(model, layers))
        # In situ, with the observer stamping the ops.
        prof = LayerProfiler(model, sensor="auto", rate_hz=1000, layers=layers, mode="in-situ",
                             max_round_s=2.0 if quick else 5.0, **common)
        t0 = time.time()
        with torch_native.OpObserver(max_depth=1) as obs:
            rep = prof.profile(*args, **kwargs)
        res["in-situ"] = _summary(op_rows.insitu_op_rows(rep, obs.stamps(), op_calls=calls))
        res["in-situ"]["wall_s"] = time.time() - t0
        # Isolation, then each op call alone.
        with PowerMonitor("auto", rate_hz=1000) as mon:
            prof = LayerProfiler(model, monitor=mon, layers=layers, **iso)
            t0 = time.time()
            rep = prof.profile(*args, **kwargs)
            rep2 = op_isolation.profile_ops_isolated(rep, model, args, kwargs, mon, prof.layer_names, native=native)
        res["isolation"] = _summary(rep2)
        res["isolation"].update(op_runner=native, cache_context=rep.meta["method"]["cache_context"]["why"])
        res["isolation"]["wall_s"] = time.time() - t0
        out[name] = res
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer pairs and windows")
    ap.add_argument("--profiles", action="store_true", help="also profile resnet18 and DistilBERT (slow)")
    ap.add_argument("--sections", default="observer,forward,loops",
                    help="comma-separated: observer, forward, loops, profiles (results of sections not run are "
                         "kept from the existing JSON)")
    ap.add_argument("--op-runner", choices=("auto", "never"), default="auto",
                    help="profiles: the isolated op calls' runner ('never': the Python loop, no AOTInductor compile)")
    ap.add_argument("--cache-context", choices=("model", "warm"), default="model",
                    help="profiles: the isolation layers' cache context (LayerProfiler cache_context)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "torch.json"))
    a = ap.parse_args()
    st = torch_native.available()
    if not st:
        print(f"edgepower._torch unavailable: {st.reason}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    cache = os.path.join(os.environ.get(runners.ENV_CACHE) or os.path.join(tempfile.gettempdir(), "edgepower-bench"),
                         "aoti")
    os.makedirs(cache, exist_ok=True)
    res: Dict[str, Any] = {"machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                                       "torch": torch.__version__, "edgepower": edgepower.__version__,
                                       "torch_threads": torch.get_num_threads(), "build": st.build,
                                       "date": time.strftime("%Y-%m-%d %H:%M"),
                                       "load_avg": os.getloadavg()}}
    print(f"edgepower._torch benchmarks on {platform.node()} ({os.cpu_count()} CPUs), torch {torch.__version__}, "
          f"1 torch thread, load average {os.getloadavg()[0]:.1f}, {res['machine']['date']}")
    sections = set(x.strip() for x in a.sections.split(",") if x.strip()) | ({"profiles"} if a.profiles else set())
    if "observer" in sections:
        oc = observer_cost(pairs=6 if a.quick else 15, n_ops=20000)
        res["observer_cost"] = oc
        print("op observer, cost per observed op (TorchScript loop of aten::add on 1-element tensors, "
              f"{oc['ops_per_run']} ops a run, median [IQR] of paired runs):")
        for mode, v in oc["modes"].items():
            e, b = v["extra_ns_per_op_cpu"], v["op_alone_ns_cpu"]
            ew, bw = v["extra_ns_per_op_wall"], v["op_alone_ns_wall"]
            print(f"  {mode:15s} CPU +{e['median']:6.0f} ns/op [{e['p25']:.0f}..{e['p75']:.0f}] beside the op alone "
                  f"{b['median']:5.0f} ns; wall +{ew['median']:6.0f} ns/op beside {bw['median']:5.0f} ns")
    if "forward" in sections:
        fs = forward_slowdown(_models(a.quick), pairs=6 if a.quick else 16, forwards=1 if a.quick else 2)
        res["forward_slowdown"] = fs
        print("forward slow-down with the observer on (all depths), paired alternating chunks, median [IQR] of the "
              "pairs' ratios; CPU = the thread's CPU time, robust to other load:")
        for name, v in fs.items():
            sc, sw = v["slowdown_cpu"], v["slowdown_wall"]
            print(f"  {name:10s} CPU {v['forward_ms_off_cpu']['median']:8.2f} ms off, {v['forward_ms_on_cpu']['median']:8.2f} "
                  f"ms on: {sc['median'] * 100:+5.2f} % [IQR {sc['p25'] * 100:+.2f}..{sc['p75'] * 100:+.2f}]; wall "
                  f"{sw['median'] * 100:+5.2f} % [IQR {sw['p25'] * 100:+.2f}..{sw['p75'] * 100:+.2f}] "
                  f"({v['ops_per_forward_all_depths']} ops/forward, {v['ops_per_forward_outermost']} outermost)")
    if "loops" in sections:
        lo = loop_overhead(windows=5 if a.quick else 11, window_s=0.05 if a.quick else 0.1, cache=cache)
        res["loops"] = lo
        print(f"isolated-layer loops, time per call (median of alternating windows); Python loop overhead "
              f"(nn.Identity) {lo['python_overhead_us']:.2f} us -> native threshold {lo['threshold_us']:.0f} us:")
        for name in ("relu_1k", "linear_64x64", "layernorm_768"):
            v = lo[name]
            parts = [f"{k} {p['median']:6.2f} us (CPU {v['per_call_cpu_us'][k]['median']:6.2f})"
                     for k, p in v["per_call_us"].items()]
            comp = v.get("aoti", {})
            extra = (f"; AOTInductor {'cached' if comp.get('cached') else 'compiled in %.1f s (export %.1f s)' % (comp.get('compile_s', 0), comp.get('export_s', 0))}"
                     if comp else f"; AOTInductor failed: {v.get('aoti_error')}")
            print(f"  {name:14s} " + ", ".join(parts) + extra)
    if "profiles" in sections:
        pr = profiles(a.quick, cache, a.op_runner, a.cache_context)
        res["profiles"] = pr
        print("profiles with non-module ops as rows ((unattributed) share of latency, before -> after):")
        for name, modes in pr.items():
            for mode, v in modes.items():
                top = ", ".join(f"{o['layer']} {o['latency_ms'] * 1e3:.0f} us" + (f" [{o['runner']}]" if o["runner"] else "")
                                for o in v["top_ops"][:4])
                print(f"  {name:10s} {mode:9s} model {v['model_latency_ms']:8.2f} ms, {v['op_rows']:3d} op rows "
                      f"({v['op_latency_ms']:.2f} ms), (unattributed) {v['unattributed_share_before'] * 100:5.1f} % -> "
                      f"{v['unattributed_share_after'] * 100:5.1f} % (95 % CI +-"
                      f"{v.get('unattributed_ci95_ms', math.nan) / v['model_latency_ms'] * 100:.1f} points); "
                      f"runners {v['runners']}; top: {top}")
    if os.path.exists(a.out):
        try:
            with open(a.out) as f:
                old = json.load(f)
            for k in ("observer_cost", "forward_slowdown", "loops", "profiles"):
                if k not in res and k in old:
                    res[k] = old[k]  # keep sections not rerun
        except (OSError, ValueError):
            pass
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, default=str)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
