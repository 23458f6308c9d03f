"""``edgepower edgeprofiler ...``: EdgeProfiler interoperability from the command line."""
from __future__ import annotations

import sys
import warnings

__all__ = ["add_parser"]


def add_parser(sub) -> None:
    """Add the ``edgeprofiler`` command (with its ``map`` subcommand) to an argparse subparsers."""
    p = sub.add_parser("edgeprofiler", help="import EdgeProfiler raw data (fuzzylabs/edge-vision-power-estimation)",
                       description="EdgeProfiler interoperability. See docs/edgeprofiler.md.")
    ep_sub = p.add_subparsers(dest="edgeprofiler_command", metavar="ACTION")
    ep_sub.required = True
    m = ep_sub.add_parser(
        "map", help="map a power log onto TensorRT layer windows",
        description="Map RAW_DIR/<model>/<model>_power_log.log onto the layer windows of "
                    "RAW_DIR/<model>/trt_profiling/trt_layer_latency.json. --mode compat writes exactly "
                    "upstream's power_runtime_mapping_layerwise.csv; --mode corrected integrates energy per "
                    "window by trapezoid, shares samples between windows and keeps every row.")
    m.add_argument("raw_dir", metavar="RAW_DIR", help="EdgeProfiler raw_data folder (holds idling_power.json)")
    m.add_argument("--model", required=True, help="model folder inside RAW_DIR")
    m.add_argument("-o", "--output", required=True, help="CSV to write (upstream calls it "
                   "power_runtime_mapping_layerwise.csv)")
    m.add_argument("--mode", choices=("compat", "corrected"), default="compat",
                   help="compat: upstream's rule, byte-identical output (default); corrected: trapezoid energy")
    m.add_argument("--averages", metavar="CSV", help="also write per-layer averages over cycles")
    m.add_argument("--cask-only", action="store_true",
                   help="averages over Cask* layer types only, as upstream's feature step does")
    m.set_defaults(func=cmd_map)


def cmd_map(args) -> int:
    """Run ``edgepower edgeprofiler map``; returns the exit code."""
    from ..edgeprofiler import layer_averages, map_power_to_layers
    from .checks import output_file

    output_file(args.output, "-o/--output")
    output_file(args.averages, "--averages")

    with warnings.catch_warnings():
        # The table's attrs list every warning; print them once, below, not as Python warnings too.
        warnings.simplefilter("ignore")
        df = map_power_to_layers(args.raw_dir, args.model, mode=args.mode, output=args.output)
    d = df.attrs["diagnostics"]
    print(f"{args.mode} mapping of {args.model}: {d['layers']} layers x {d['cycles']} cycles, "
          f"{d['samples']} power samples, idle {d['idle_power_uw'] / 1e6:.4f} W")
    print(f"rows: {d['rows']} of {d['rows_expected']} written to {args.output}; "
          f"{d['rows_with_samples']} windows hold samples ({1 - d['empty_window_share']:.0%})")
    for note in df.attrs["warnings"]:
        print(f"warning: {note}", file=sys.stderr)
    if args.averages:
        avg = layer_averages(df, cask_only=args.cask_only)
        avg.to_csv(args.averages)
        print(f"per-layer averages of {len(avg)} layers written to {args.averages}")
    return 0

