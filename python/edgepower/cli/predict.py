"""``edgepower predictor fit|measure|validate`` and ``edgepower predict``: per-layer latency, power and
energy without the device (docs/predict.md)."""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Dict, List

__all__ = ["add_parsers"]

FIT_HELP = """\
INPUTS are any mix of:
  report.json          an edgepower report with layer features (edgepower predictor measure, or a
                       profile report passed through edgepower.predict.annotate)
  dataset.csv          a predictor dataset (edgepower predictor measure writes dataset.csv)
  MODEL_DIR            EdgeProfiler training CSVs (convolutional.csv, pooling.csv, dense.csv)
  RAW_DIR:MODEL        EdgeProfiler raw data (power log, TensorRT latencies and engine info)
"""


def add_parsers(sub) -> None:
    """Adds ``predictor`` (fit, measure, validate) and ``predict`` to the CLI's subparsers."""
    p = sub.add_parser("predictor", help="train and validate latency/power predictors",
                       description="Train, measure data for, and validate per-layer predictors. See docs/predict.md.")
    ps = p.add_subparsers(dest="predictor_command", metavar="ACTION")
    ps.required = True
    f = ps.add_parser("fit", help="fit a predictor on reports, datasets or EdgeProfiler data", epilog=FIT_HELP,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("inputs", nargs="+", metavar="INPUTS")
    f.add_argument("-o", "--output", required=True, help="predictor JSON to write")
    f.add_argument("--device", default=None, help="device name for EdgeProfiler data (default: Jetson (EdgeProfiler data))")
    f.set_defaults(func=cmd_fit)
    m = ps.add_parser("measure", help="measure layer latencies of the zoo (or named networks) on this CPU")
    m.add_argument("names", nargs="*", help="zoo networks (default: all; the list is in docs/predict.md, and an unknown name "
                   "is answered with it)")
    m.add_argument("-o", "--output", "--out", dest="out", required=True, help="folder for one report JSON per network and dataset.csv")
    m.add_argument("--rounds", type=int, default=15, help="rounds, each figure a median over them (>= 15)")
    m.add_argument("-k", type=int, default=3, help="timed forwards per round, fastest kept (default 3)")
    m.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    m.set_defaults(func=cmd_measure)
    v = ps.add_parser("validate", help="leave-one-network-out / family-out metrics beside the baselines",
                      epilog=FIT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("inputs", nargs="+", metavar="INPUTS")
    v.add_argument("--device", default=None, help=argparse.SUPPRESS)
    v.set_defaults(func=cmd_validate)

    q = sub.add_parser("predict", help="predicted latency, power and energy per layer (no device needed)",
                       description="Predict every layer of MODEL (vgg11, distilbert, a torchvision name such as "
                                   "resnet18, or module.path:factory) with a predictor, or every layer of a TensorRT "
                                   "engine (--engine-info) as EdgeProfiler's inference.py does.")
    q.add_argument("model", nargs="?", help="vgg11 | distilbert | torchvision name | module.path:factory")
    q.add_argument("--predictor", required=True, help="predictor JSON (edgepower predictor fit)")
    q.add_argument("--engine-info", help="TensorRT engine-info JSON instead of MODEL (EdgeProfiler's input)")
    q.add_argument("-o", "--output", help="CSV of the predictions (report rows; EdgeProfiler's columns with --engine-info)")
    q.add_argument("--out", help="folder for the report's JSON and CSV")
    q.add_argument("--batch-size", type=int, default=1, help="batch size (default 1)")
    q.add_argument("--image-size", type=int, default=224, help="image height and width (default 224)")
    q.add_argument("--seq-len", type=int, default=128, help="DistilBERT sequence length (default 128)")
    q.add_argument("--device", default=None, help="with --engine-info: the board the engine runs on, as the "
                   "predictor was trained (default: the predictor's EdgeProfiler default)")
    q.add_argument("--threads", type=int, default=None, help="torch threads (default: the predictor's)")
    q.add_argument("--no-strict-device", action="store_true",
                   help="predict even when this machine's device key differs from the predictor's (flagged)")
    q.set_defaults(func=cmd_predict)


def _dataset(inputs: List[str], device: Any):
    from ..predict import edgeprofiler as ep
    from ..predict.dataset import Dataset, from_reports
    from ..report import Report

    parts, reports = [], []
    kw = {"device": device} if device else {}
    for item in inputs:
        if os.path.isdir(item):
            parts.append(ep.training_dataset(item, **kw))
        elif ":" in item and os.path.isdir(item.rsplit(":", 1)[0]):
            raw, model = item.rsplit(":", 1)
            parts.append(ep.raw_dataset(raw, model, **kw))
        elif item.endswith(".csv"):
            parts.append(Dataset.from_csv(item))
        elif os.path.isfile(item):
            reports.append(Report.from_json(item))
        else:
            raise FileNotFoundError(f"input {item!r} is not a file, a folder or RAW_DIR:MODEL")
    if reports:
        parts.append(from_reports(reports))
    data = parts[0]
    for d in parts[1:]:
        data = data + d
    return data


def cmd_fit(args) -> int:
    from ..predict.predictor import Predictor
    from .checks import output_file

    output_file(args.output, "-o/--output")
    data = _dataset(args.inputs, args.device)
    p = Predictor().fit(data)
    p.save(args.output)
    dev = data.device
    print(f"trained on {len(data.networks)} network(s), {len(data.layers())} layers; device: "
          f"{dev.get('kind')} {dev.get('processor')} ({dev.get('threads')} threads, torch {dev.get('torch') or '-'}, "
          f"{dev.get('dtype')})")
    for target, groups in p.training["groups"].items():
        print(f"  {target}: " + ", ".join(f"{g} ({n})" for g, n in sorted(groups.items())))
    print(f"wrote {args.output}")
    return 0


def cmd_measure(args) -> int:
    import torch

    from ..predict.dataset import from_reports
    from ..predict.measure import measure_latency
    from ..predict.zoo import families, zoo
    from .checks import integer, output_dir

    integer(args.rounds, "--rounds", 15, what="each figure is a median over rounds")
    integer(args.k, "-k", 1)
    integer(args.threads, "--threads", 1)
    output_dir(args.out, "-o/--output")
    entries = zoo(args.names)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    nets = {e.name: e.make() for e in entries}
    print(f"measuring {len(nets)} network(s), {args.rounds} rounds of {args.k} forwards, {args.threads} thread(s)")
    reports = measure_latency(nets, rounds=args.rounds, k=args.k,
                              progress=lambda r, n: print(f"  round {r}/{n}", file=sys.stderr))
    for name, rep in reports.items():
        rep.to_json(os.path.join(args.out, f"{name}.json"))
        print(f"  {name:<22} {rep.record('(model)').latency_ms:9.3f} ms")
    data = from_reports(list(reports.values()), families(entries), names=list(reports))
    data.to_csv(os.path.join(args.out, "dataset.csv"))
    print(f"wrote {len(reports)} reports and dataset.csv to {args.out}")
    return 0


def cmd_validate(args) -> int:
    from ..predict.validate import METHODS, evaluate, table

    data = _dataset(args.inputs, args.device)
    methods = list(METHODS)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        methods.remove("edgeprofiler")
        print("note: scikit-learn is not installed: the EdgeProfiler baseline is left out", file=sys.stderr)
    print(table(evaluate(data, methods)))
    return 0


def _build(args) -> Any:
    from .models import build_model

    try:
        model, a, kw, _, _ = build_model(args.model, args.batch_size, args.image_size, args.seq_len)
        return model, a, kw
    except ValueError as exc:
        if not str(exc).startswith("unknown MODEL"):
            raise
    import torch
    import torchvision

    fn = getattr(torchvision.models, args.model, None)
    if not callable(fn):
        raise ValueError(f"unknown MODEL {args.model!r}: use vgg11, distilbert, a torchvision model name "
                         "(resnet18, mobilenet_v2, ...) or module.path:factory")
    return fn(weights=None), (torch.randn(args.batch_size, 3, args.image_size, args.image_size),), {}


def cmd_predict(args) -> int:
    from ..predict import edgeprofiler as ep
    from ..predict.api import predict
    from ..predict.predictor import Predictor
    from .checks import integer, output_dir, output_file

    integer(args.batch_size, "--batch-size", 1)
    integer(args.image_size, "--image-size", 1)
    integer(args.seq_len, "--seq-len", 1)
    if args.threads is not None:
        integer(args.threads, "--threads", 1)
    output_file(args.output, "-o/--output")
    output_dir(args.out, "--out")
    p = Predictor.load(args.predictor)
    if args.engine_info:
        rows = ep.predict_engine_info(args.engine_info, p, args.output, device=args.device or ep.DEFAULT_DEVICE,
                                      strict_device=not args.no_strict_device)
        for r in rows:
            print(f"{r['layer_name'][:60]:<60} {r['layer_type']:<20} {r['runtime_prediction']:10.4f} ms "
                  f"{r['power_prediction'] / 1e6:8.3f} W")
        if args.output:
            print(f"wrote {args.output}")
        return 0
    if not args.model:
        raise ValueError("give MODEL (e.g. vgg11) or --engine-info JSON")
    import torch

    threads = args.threads or int(p.device.get("threads") or 0) or torch.get_num_threads()
    torch.set_num_threads(threads)
    model, a, kw = _build(args)
    report = predict(model, *a, predictor=p, strict_device=not args.no_strict_device, name=args.model, **kw)
    _print(report)
    if args.output:
        report.to_csv(args.output)
        print(f"wrote {args.output}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        report.to_json(os.path.join(args.out, "report.json"))
        report.to_csv(os.path.join(args.out, "layers.csv"))
        print(f"wrote {args.out}/report.json and layers.csv")
    return 0


def _fmt(x: float, spec: str) -> str:
    return format(x, spec) if isinstance(x, float) and math.isfinite(x) else "n/a"


def _print(report) -> None:
    m = report.meta
    print(f"PREDICTED (not measured) for {m['model']} ({m['inputs']}) on {m['device'].get('processor')}, "
          f"{m['device'].get('threads')} thread(s); trained on {len(m['method']['trained_on'])} network(s)")
    w = max(len(r.layer) for r in report.records)
    print(f"  {'layer':<{w}}  {'type':<18} {'latency ms':>10} {'power W':>8} {'energy mJ':>10}  warnings")
    for r in report.records:
        n = r.note.count(";") if r.kind == "layer" else 0
        print(f"  {r.layer:<{w}}  {r.type[:18]:<18} {_fmt(r.latency_ms, '10.4f')} {_fmt(r.avg_power_w, '8.2f')} "
              f"{_fmt(r.energy_per_inference_mj, '10.4f')}  {n or ''}")
    if m["warnings"]:
        print(f"{len(m['warnings'])} extrapolation warning(s), e.g. {m['warnings'][0]}")
    if m["device_mismatch"]:
        print("WARNING: device differs from the predictor's: " + "; ".join(m["device_mismatch"]))
