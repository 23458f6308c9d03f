"""``edgepower profile``: energy per layer of VGG11, DistilBERT or a model from a factory.

Models are built with random weights: nothing is downloaded (the tool works offline), and the
energy of a layer depends on its shapes and kernels far more than on its weight values.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .resume import Session, add_arguments as add_resume_arguments
from .checks import check_layers_of, check_profile_args, check_sensor, parse_layers
from .threads import passive_waits
from ..dtype_names import dtype_name
from .models import build_model, need, prepare_model  # noqa: F401 (build_model: re-exported)

DESCRIPTION = """\
Profile the energy and latency of each layer of a model: capture each layer's inputs in one
forward, run each layer alone in repeated windows while a sensor is sampled, subtract the idle
baseline, and write CSVs, charts and a JSON report with full provenance.

MODEL is one of:
  vgg11 (also vgg13, vgg16, vgg19, vgg11_bn, ...)  torchvision VGG, input BATCHx3xSIZExSIZE
  distilbert                                       Hugging Face DistilBERT for sequence
                                                   classification, random token ids and an
                                                   attention_mask of ones
  module.path:factory                              your own: factory() (or factory(batch_size=N))
                                                   returns (model, inputs) where inputs is a
                                                   tensor, a tuple of args or a dict of kwargs,
                                                   or (model, args, kwargs)

Models are built with random weights: nothing is downloaded.
"""

EXAMPLES = """\
examples:
  edgepower profile vgg11 -o vgg11-profile --trace vgg11-trace.json
  edgepower profile distilbert --batch-size 16 --repeats 100 --sensor jetson-hwmon
  edgepower profile mymodels:make_resnet --sensor nvml --device cuda
  edgepower profile distilbert --dtype bfloat16 --out distilbert-bf16
  edgepower profile --resume vgg11-profile     # finish a profile cut short (Ctrl-C writes partial-*)
"""


def _repeats(text: str):
    if text == "auto":
        return "auto"
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--repeats must be 'auto' or a positive integer, got {text!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"--repeats must be a positive number of calls per window, got {n}")
    return n


def _dtype(text: str) -> str:
    try:
        return dtype_name(text)  # by name: parsing imports no torch (threads.py needs it later)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--dtype: {exc}") from None


def add_parser(sub) -> None:
    """Adds the ``profile`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("profile", help="energy and latency per layer of a model (random weights)",
                       description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default=None, help="vgg11 | distilbert | module.path:factory (not needed "
                   "with --resume)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: 1 for VGG, 16 for DistilBERT)")
    p.add_argument("--repeats", type=_repeats, default="auto",
                   help="calls per window: 'auto' (adaptive, the default) or a fixed N, e.g. 100")
    p.add_argument("--sensor", default="auto", help="sensor spec (default: auto; see: edgepower sensors)")
    p.add_argument("--estimator", choices=("auto", "plain"), default="auto",
                   help="window energy: auto (default) = the sensor-aware estimator of docs/accuracy.md wherever "
                        "the sensor's model is known or identified (an INA3221's filter is identified once per "
                        "board and configuration by a short busy step, then cached; counter periods are "
                        "measured), else plain; plain = trapezoid of the readings / counter difference")
    p.add_argument("--rate", type=float, default=None,
                   help="sampling rate in Hz (default 1000; 5000 in-situ on an INA3221 averaging several conversions "
                        "per reading, as NVIDIA's N=512)")
    p.add_argument("-o", "--output", "--out", dest="out", default="edgepower-profile",
                   help="directory for the CSVs, PNGs and JSON (default: ./edgepower-profile; --out is the old "
                        "spelling)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds in shuffled order (default 3; 16 on the CPU estimate)")
    p.add_argument("--ci-target", type=float, default=10.0, metavar="PCT",
                   help="measure the layers whose net energy's 95%% CI is wider than PCT %% of it in extra rounds, "
                        "up to --max-rounds and half the planned rounds' time (default 10; 0: exactly --rounds)")
    p.add_argument("--max-rounds", type=int, default=None,
                   help="most rounds a layer is measured in for --ci-target (default 4 x --rounds)")
    p.add_argument("--min-window", type=float, default=None,
                   help="shortest adaptive window in s (default 0.2; 0.05 on the CPU estimate)")
    p.add_argument("--warmup", type=int, default=2, help="calls before each window (default 2)")
    p.add_argument("--idle", type=float, default=1.0, help="seconds of idle baseline before profiling (default 1)")
    p.add_argument("--idle-power", type=float, default=None, help="known idle power in W (skips the baseline)")
    p.add_argument("--image-size", type=int, default=224, help="VGG input height and width (default 224)")
    p.add_argument("--seq-len", type=int, default=128, help="DistilBERT sequence length (default 128)")
    p.add_argument("--layers", default=None,
                   help="comma-separated module names, or a preset: auto, leaves, vgg, distilbert "
                        "(default: the model's preset, leaf modules for factories)")
    p.add_argument("--depth", type=int, default=None, help="profile the modules this many levels down instead")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto (default cpu)")
    p.add_argument("--dtype", type=_dtype, default="float32",
                   help="precision of the model and its floating-point inputs: float32 (default), float16, bfloat16, "
                        "or int8 (dynamic quantization of the Linear layers, CPU only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs, weights and order (default 0)")
    p.add_argument("--mode", choices=("isolation", "in-situ"), default="isolation",
                   help="isolation: each layer alone in repeated windows (default); in-situ: the whole model "
                        "repeatedly, samples attributed to the layer running")
    p.add_argument("--sync-layers", action="store_true",
                   help="in-situ on CUDA: synchronise the device at every layer edge (default: CUDA events)")
    p.add_argument("--max-round", type=float, default=None,
                   help="in-situ: longest round in s (default 5; 15 where --rate defaults to 5000)")
    p.add_argument("--attribution", choices=("auto", "assignment"), default="auto",
                   help="in-situ: 'auto' deconvolves the readings of an integrating sensor (INA3221) and assigns "
                        "the others to the layer running; 'assignment' always assigns (default auto)")
    p.add_argument("--cache-context", choices=("model", "warm"), default="model",
                   help="isolation: 'model' runs each layer with its weights and output as cold in cache as in the "
                        "model's forward (when the model outgrows the last-level cache); 'warm' keeps them cached "
                        "(faster, lower figures than in the model; default model)")
    p.add_argument("--allocator", choices=("steady", "as-is"), default="steady",
                   help="'steady' sets glibc malloc's mmap and trim thresholds to the maxima of its own adjustment, "
                        "so freed activations are reused instead of page-faulted in again at random in layer "
                        "windows; 'as-is' leaves the allocator alone (default steady)")
    p.add_argument("--edgeprofiler-out", metavar="DIR", default=None,
                   help="also write the measurements in EdgeProfiler's raw layout into DIR")
    p.add_argument("--trace", metavar="PATH", default=None,
                   help="also write the windows and power as Chrome trace-event JSON (Perfetto, chrome://tracing)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_resume_arguments(p)
    p.set_defaults(func=cmd_profile)


class _Bar:
    """A tqdm bar over the measured windows, labelled with the layer being measured."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar = None

    def __call__(self, p) -> None:
        if not self.enabled:
            return
        if p.stage == "identify" and p.done == 0:
            print("identifying the sensor's model (a short busy step; cached per board and configuration)...",
                  file=sys.stderr)
        if p.stage == "idle" and p.done == 0:
            print("measuring the idle baseline (keep the device idle)...", file=sys.stderr)
        if p.stage != "measure":
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=p.total, unit="layer", file=sys.stderr, dynamic_ncols=True)
        if self.bar.total != p.total:  # extra rounds for a CI target (profile/precision.py)
            self.bar.total = p.total
        self.bar.n = p.done
        if p.label:
            self.bar.set_description(f"round {p.round + 1}/{p.rounds} {p.label}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def cmd_profile(args) -> int:
    """Runs ``edgepower profile``. Every argument is checked before the model is built."""
    session = Session(args)
    session.prepare()  # --resume fills args from the spool (refusing options that differ)
    sensor = check_sensor(args.sensor)  # built once; an unavailable sensor fails before the model is built
    # Before torch is imported (edgepower.profile and the device and --layers checks import it):
    # libgomp reads the wait policy once, at torch's import.
    wait_policy = passive_waits(sensor.info.kind)
    from ..profile import InSituOptions, LayerProfiler, ProfileInterrupted, ProfileOptions
    from ..profile.sampling import sampling_defaults, window_defaults

    layers_checked = check_profile_args(args)  # every argument, before the model is built or sampling starts
    batch = args.batch_size if args.batch_size is not None else (16 if args.model.lower() == "distilbert" else 1)
    args.rate, args.max_round, sampling_why = sampling_defaults(sensor.info, args.mode, args.attribution, args.rate,
                                                     args.max_round)
    args.rounds, args.min_window, k_updates, window_why = window_defaults(sensor.info, args.mode, args.rounds,
                                                                           args.min_window)
    sampling_why += "; " + window_why
    options = ProfileOptions(mode=args.mode, repeats=args.repeats, min_window_s=args.min_window, rounds=args.rounds,
                             k_updates=k_updates,
                             warmup=args.warmup, idle_s=args.idle, idle_power_w=args.idle_power, seed=args.seed,
                             in_situ=InSituOptions(sync_layers=args.sync_layers, max_round_s=args.max_round,
                                                   attribution=args.attribution),
                             estimator=args.estimator, cache_context=args.cache_context,
                             ci_target_pct=args.ci_target or None, max_rounds=args.max_rounds,
                             allocator=args.allocator)
    torch = need("torch", "edgepower profile (install the torch build for your device: see the README)")
    torch.manual_seed(args.seed)
    from .models import build_model as build  # looked up per call: tests spy on models.build_model

    model, margs, mkwargs, what, preset = build(args.model, batch, args.image_size, args.seq_len)
    if not layers_checked:  # a factory's modules are known only once it has run
        check_layers_of(model, parse_layers(args.layers), args.depth)
    model, margs, mkwargs, device = prepare_model(model, margs, mkwargs, args.device, args.dtype)
    layers = parse_layers(args.layers)
    if layers is None and args.depth is None:
        layers = preset
    print(f"model: {what}, built with RANDOM weights (nothing is downloaded; per-layer energy depends on "
          f"shapes, not weight values); batch {batch}, device {device}, dtype {args.dtype}")
    bar = _Bar(not args.no_progress)
    prof = LayerProfiler(model, sensor=sensor, rate_hz=args.rate, layers=layers, depth=args.depth, options=options,
                         progress=bar, monitor=session.make_monitor(sensor))
    prof.sampling_why = sampling_why  # what the command line left out was defaulted above, not given
    session.attach(prof, model, margs, mkwargs)
    info = sensor.info
    print(f"sensor: {info.kind} ({info.description})")
    if info.estimated:
        print("NOTE: no power sensor is available: every figure will be an ESTIMATE from a model of the device, "
              "not a measurement.")
    if wait_policy:
        print(f"threads: {wait_policy}")
    try:
        report = prof.profile(*margs, **mkwargs)
    except ProfileInterrupted as exc:
        bar.close()
        return session.interrupted(exc)
    except KeyboardInterrupt:
        bar.close()
        print("interrupted: nothing written (hooks removed, model modes restored)", file=sys.stderr)
        return 130
    except Exception:
        session.failed()  # e.g. the model raised: no empty output folder left behind
        raise
    finally:
        bar.close()
    session.annotate(report)
    if wait_policy:
        report.meta["method"]["omp_wait_policy"] = wait_policy
    _write_outputs(report, args)
    session.finished(os.path.join(args.out, "report.json"))
    return 0


def _write_outputs(report: Any, args: Any) -> None:
    paths = report.write(args.out)
    print(report.summary())
    print()
    print(f"wrote to {args.out}:")
    for key in ("layers_csv", "distilbert_csv", "samples_csv", "energy_png", "energy_latency_png", "json"):
        print(f"  {os.path.basename(paths[key])}")
    if args.trace:
        report.to_perfetto(args.trace)
        print(f"wrote the trace {args.trace} (open it in ui.perfetto.dev or chrome://tracing)")
    if args.edgeprofiler_out:
        import warnings

        from ..edgeprofiler import EdgeProfilerWarning

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", EdgeProfilerWarning)
            ep = report.to_edgeprofiler(args.edgeprofiler_out)
        print(f"wrote EdgeProfiler raw data to {args.edgeprofiler_out} (model folder {ep['model']}, {ep['cycles']} "
              f"cycles, one a {ep['kind']}); map it with `edgepower edgeprofiler map {args.edgeprofiler_out} "
              f"--model {ep['model']}`")
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)


__all__ = ["add_parser", "build_model", "cmd_profile"]
