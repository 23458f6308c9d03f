"""EdgeProfiler data as predictor input and output (fuzzylabs/edge-vision-power-estimation).

- Training: their per-type training CSVs (``convolutional.csv``, ``pooling.csv``, ``dense.csv``
  with their feature columns, ``power`` in microwatts excluding idle, ``runtime`` in ms), or
  their raw data (power log + TensorRT layer latencies, mapped here by trapezoid, joined with
  the TensorRT engine info).
- Features: their TensorRT engine-info JSON (``trt_engine_info.json``), read correctly
  (pooling windows from ``WindowSize``: their reader takes the input size), and their PyTorch
  ``model_summary.json``.
- Output: :func:`predict_engine_info` writes their ``inference.py`` CSV columns
  ``layer_name, layer_type, power_prediction, runtime_prediction`` (microwatts, ms).

TensorRT layers map to op groups as their recipe does: ``CaskConvolution`` -> convolution,
``CaskGemmConvolution`` -> dense (``Linear``), ``CaskPooling`` -> pooling; the layer type is the
backend key. Other layer types (reformats, shuffles, element-wise) are predicted by the generic
model when the training data has them.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
from typing import Any, Dict, List, Optional, Union

from .dataset import Dataset, layer_row
from .features import LayerFeatures, NetworkFeatures

log = logging.getLogger("edgepower.predict")

#: The device key of EdgeProfiler data: a TensorRT engine on a Jetson (name it with ``device=``).
DEFAULT_DEVICE = "Jetson (EdgeProfiler data)"
TRAINING_FILES = {"convolutional": "convolutional.csv", "pooling": "pooling.csv", "dense": "dense.csv"}


def device_key(device: str = DEFAULT_DEVICE, dtype: str = "float16", power_mode: str = "") -> Dict[str, Any]:
    """The device key of TensorRT measurements (compared like any other key)."""
    return {"kind": "tensorrt", "processor": device, "dtype": dtype, "threads": 0, "torch": "",
            "blas": "tensorrt", "power_mode": power_mode}


def _load(src: Union[str, Dict[str, Any]], what: str) -> Any:
    if isinstance(src, dict):
        return src
    try:
        with open(src, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"no {what} at {src}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} {src} is not valid JSON (line {exc.lineno}: {exc.msg})") from None


def _elem_bytes(fmt: str) -> int:
    f = fmt.lower()
    return 1 if "int8" in f else 2 if ("fp16" in f or "half" in f) else 4


def _prod(v: List[int]) -> int:
    return int(math.prod(v)) if v else 0


def _features(label: str, op: str, key: str, ins: List[int], outs: List[int], eb: int, **kw: Any) -> LayerFeatures:
    params = int(kw.pop("params", 0))
    f = LayerFeatures(label=label, module=label, call=0, op=op, batch=int(ins[0]) if ins else 1, in_shape=ins,
                      out_shape=outs, dtype={1: "int8", 2: "float16"}.get(eb, "float32"), elem_bytes=eb,
                      params=params, bytes_in=float(_prod(ins) * eb), bytes_params=float(params * eb),
                      bytes_out=float(_prod(outs) * eb), backend_key=key, **kw)
    f.flops = 2 * f.macs if op in ("Conv2d", "Linear") else f.macs
    return f


def engine_info_features(src: Union[str, Dict[str, Any]], device: str = DEFAULT_DEVICE,
                         power_mode: str = "") -> NetworkFeatures:
    """Features of every layer of a TensorRT engine-inspector JSON (``{"Layers": [...]}`` with
    ``ProfilingVerbosity.DETAILED``)."""
    doc = _load(src, "TensorRT engine info")
    layers = doc.get("Layers") if isinstance(doc, dict) else None
    if not isinstance(layers, list):
        raise ValueError("TensorRT engine info must be {\"Layers\": [{\"Name\", \"LayerType\", \"Inputs\", ...}]}; "
                         "build the engine with ProfilingVerbosity.DETAILED")
    out, skipped, dtype = [], [], "float16"
    for L in layers:
        if not isinstance(L, dict) or not isinstance(L.get("Name"), str):
            skipped.append(str(L)[:40])
            continue
        try:
            ins = [int(d) for d in L["Inputs"][0]["Dimensions"]]
            outs = [int(d) for d in L["Outputs"][0]["Dimensions"]]
            eb = _elem_bytes(L["Inputs"][0].get("Format/Datatype", ""))
        except (KeyError, IndexError, TypeError, ValueError):
            skipped.append(L["Name"])
            continue
        dtype = {1: "int8", 2: "float16"}.get(eb, "float32")
        t, name = str(L.get("LayerType", "Unknown")), L["Name"]
        weights = int((L.get("Weights") or {}).get("Count", 0)) + int((L.get("Bias") or {}).get("Count", 0))
        if t in ("CaskConvolution", "CaskGemmConvolution") and len(ins) == 4 and len(outs) == 4:
            k = [int(x) for x in L.get("Kernel", [1, 1])]
            groups = int(L.get("Groups", 1)) or 1
            macs = float(_prod(outs) * (ins[1] // groups) * _prod(k))
            if t == "CaskGemmConvolution":
                out.append(_features(name, "Linear", t, ins, outs, eb, params=weights, in_channels=ins[1],
                                     out_channels=outs[1], macs=macs))
                continue
            out.append(_features(name, "Conv2d", t, ins, outs, eb, params=weights, in_channels=ins[1],
                                 out_channels=outs[1], kernel=k, stride=[int(x) for x in L.get("Stride", [1, 1])],
                                 padding=[int(x) for x in L.get("PrePadding", [0, 0])],
                                 dilation=[int(x) for x in L.get("Dilation", [1, 1])], groups=groups, macs=macs))
        elif t == "CaskPooling" and len(ins) == 4:
            win = [int(x) for x in L.get("WindowSize") or ins[2:]]
            op = "AvgPool2d" if str(L.get("PoolingType", "MAX")).upper().startswith("AVG") else "MaxPool2d"
            out.append(_features(name, op, t, ins, outs, eb, kernel=win, in_channels=ins[1], out_channels=outs[1],
                                 stride=[int(x) for x in L.get("Stride", win)],
                                 padding=[int(x) for x in L.get("PrePadding", [0, 0])], macs=float(_prod(outs) * _prod(win))))
        else:
            out.append(_features(name, t, t, ins, outs, eb, params=weights, macs=float(max(_prod(ins), _prod(outs)))))
    if skipped:
        log.warning("%d TensorRT layer(s) without input/output dimensions were skipped, e.g. %s", len(skipped), skipped[0])
    return NetworkFeatures(model=os.path.basename(str(src)) if isinstance(src, str) else "engine", inputs="",
                           layers=out, module_calls=0, functional_ops=0, functional_bytes=0.0, functional_macs=0.0,
                           functional_counts={}, device=device_key(device, dtype, power_mode))


def model_summary_features(src: Union[str, Dict[str, Any]], device: str = DEFAULT_DEVICE, dtype: str = "float16",
                           power_mode: str = "") -> NetworkFeatures:
    """Features from EdgeProfiler's PyTorch ``model_summary.json`` (``{layer: {input_shape,
    output_shape, kernel_size, padding, stride, type}}``). Groups are not in their schema: a
    convolution is taken as dense (groups=1)."""
    doc = _load(src, "model summary")
    if not isinstance(doc, dict):
        raise ValueError("model_summary.json must map layer names to {input_shape, output_shape, type, ...}")
    eb = {"float16": 2, "int8": 1}.get(dtype, 4)
    layers = []
    for name, d in doc.items():
        try:
            ins, outs, t = [int(x) for x in d["input_shape"]], [int(x) for x in d["output_shape"]], str(d["type"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"model summary layer {name!r} needs input_shape, output_shape and type, got {d!r}") from None
        k = [int(x) for x in d.get("kernel_size", [])]
        if t.startswith("Conv") and len(ins) == 4:  # their fixtures say Conv1d for 2-D convolutions
            layers.append(_features(name, "Conv2d", "", ins, outs, eb, in_channels=ins[1], out_channels=outs[1],
                                    kernel=k, stride=[int(x) for x in d.get("stride", [1, 1])],
                                    padding=[int(x) // 2 for x in d.get("padding", [0, 0])],
                                    params=outs[1] * ins[1] * _prod(k) + outs[1],
                                    macs=float(_prod(outs) * ins[1] * _prod(k))))
        elif "Pool" in t and len(ins) == 4:
            layers.append(_features(name, t, "", ins, outs, eb, kernel=k or ins[2:], in_channels=ins[1],
                                    out_channels=outs[1], stride=[int(x) for x in d.get("stride", k or [1, 1])],
                                    macs=float(_prod(outs) * _prod(k or ins[2:]))))
        elif t == "Linear":
            layers.append(_features(name, "Linear", "", ins, outs, eb, in_channels=ins[-1], out_channels=outs[-1],
                                    params=ins[-1] * outs[-1] + outs[-1], macs=float(_prod(outs) * ins[-1])))
        else:
            layers.append(_features(name, t, "", ins, outs, eb, macs=float(max(_prod(ins), _prod(outs)))))
    return NetworkFeatures(model="model_summary", inputs="", layers=layers, module_calls=0, functional_ops=0,
                           functional_bytes=0.0, functional_macs=0.0, functional_counts={},
                           device=device_key(device, dtype, power_mode))


def _num(row: Dict[str, str], col: str, path: str) -> float:
    try:
        return float(row[col])
    except (KeyError, ValueError):
        raise ValueError(f"{path}: column {col!r} missing or not a number in row {row.get('layer_name', '?')!r}") from None


def training_dataset(model_dir: str, network: Optional[str] = None, family: Optional[str] = None,
                     device: str = DEFAULT_DEVICE, power_mode: str = "") -> Dataset:
    """A dataset from EdgeProfiler's training CSVs of one model (``MODEL_DIR/{convolutional,
    pooling,dense}.csv``). Power (their ``power``, microwatts, idle excluded) becomes
    ``net_power_w``; runtime (ms) ``latency_s``. A pooling row whose window equals its input
    size but whose output is larger than 1x1 was misread by their TensorRT reader: its window is
    re-derived from the shapes (and a warning says so)."""
    network = network or os.path.basename(os.path.normpath(model_dir))
    rows, misread = [], 0
    found = [t for t, f in TRAINING_FILES.items() if os.path.isfile(os.path.join(model_dir, f))]
    if not found:
        raise FileNotFoundError(f"no EdgeProfiler training CSV in {model_dir} (expected one of "
                                f"{', '.join(TRAINING_FILES.values())})")
    for t in found:
        path = os.path.join(model_dir, TRAINING_FILES[t])
        with open(path, newline="", encoding="utf-8") as f:
            for rec in csv.DictReader(f):
                g = {c: _num(rec, c, path) for c in rec if c not in ("layer_name",)}
                b = int(g["batch_size"])
                name = rec.get("layer_name") or f"{t}{len(rows)}"
                if t == "dense":
                    ins, outs = [b, int(g["input_size"]) // b], [b, int(g["output_size"]) // b]
                    feat = _features(name, "Linear", "", ins, outs, 2, in_channels=ins[1], out_channels=outs[1],
                                     params=ins[1] * outs[1], macs=float(b * ins[1] * outs[1]))
                else:
                    ins = [b] + [int(g[f"input_size_{i}"]) for i in range(3)]
                    outs = [b] + [int(g[f"output_size_{i}"]) for i in range(3)]
                    k = [int(g["kernel_0"]), int(g["kernel_1"])]
                    s = [int(g["stride_0"]), int(g["stride_1"])]
                    if t == "convolutional":
                        feat = _features(name, "Conv2d", "", ins, outs, 2, in_channels=ins[1], out_channels=outs[1],
                                         kernel=k, stride=s, padding=[int(g["padding_0"]) // 2, int(g["padding_1"]) // 2],
                                         params=ins[1] * outs[1] * _prod(k), macs=float(_prod(outs) * ins[1] * _prod(k)))
                    else:
                        if k == ins[2:] and outs[2:] != [1, 1]:
                            misread += 1
                            k = [max(1, math.ceil(i / o)) for i, o in zip(ins[2:], outs[2:])]
                        feat = _features(name, "MaxPool2d", "", ins, outs, 2, kernel=k, stride=s, in_channels=ins[1],
                                         out_channels=outs[1], macs=float(_prod(outs) * _prod(k)))
                rows.append(layer_row(feat, network, family or network, g["runtime"] * 1e-3,
                                      net_power_w=g["power"] * 1e-6))
    if misread:
        log.warning("%s: %d pooling row(s) had the input size as window (EdgeProfiler's TensorRT reader reads no "
                    "WindowSize); re-derived from the shapes", network, misread)
    return Dataset(rows, device_key(device, "float16", power_mode))


def raw_dataset(raw_dir: str, model: str, family: Optional[str] = None, device: str = DEFAULT_DEVICE,
                power_mode: str = "") -> Dataset:
    """A dataset from EdgeProfiler raw data: the power log mapped onto the TensorRT layer windows
    by trapezoid (:func:`edgepower.edgeprofiler.map_power_to_layers`, corrected mode), averaged
    per layer, joined with the engine info's features."""
    import warnings

    from ..edgeprofiler import layer_averages, map_power_to_layers
    from ..edgeprofiler.raw import read_idle_uw, raw_paths
    from pathlib import Path

    paths = raw_paths(Path(raw_dir), model)
    nf = engine_info_features(str(paths["engine"]), device, power_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = map_power_to_layers(raw_dir, model, mode="corrected")
    avg = layer_averages(df)
    idle_w = read_idle_uw(paths["idle"]) * 1e-6
    by = {f.label: f for f in nf.layers}
    rows = []
    for name, rec in avg.iterrows():
        if name not in by:
            continue
        net = float(rec["average_power"]) * 1e-6
        rows.append(layer_row(by[name], model, family or model, float(rec["average_run_time"]) * 1e-3,
                              power_w=net + idle_w if math.isfinite(net) else math.nan, net_power_w=net))
    if not rows:
        raise ValueError(f"no layer of {model}'s latency file is in its engine info: nothing to train on")
    return Dataset(rows, nf.device)


def predict_engine_info(src: Union[str, Dict[str, Any]], predictor: Any, output: Optional[str] = None,
                        device: str = DEFAULT_DEVICE, power_mode: str = "",
                        strict_device: bool = True) -> List[Dict[str, Any]]:
    """Predictions for a TensorRT engine as EdgeProfiler's ``inference.py`` writes them:
    ``layer_name, layer_type, power_prediction`` (microwatts, idle excluded: their training
    target), ``runtime_prediction`` (ms); written as CSV to ``output`` when given.

    The engine info does not say which board the engine runs on: ``device`` and ``power_mode``
    do, and must match the predictor's (a predictor trained on a CPU or on another board refuses,
    unless ``strict_device=False``)."""
    from .api import load_predictor

    p = load_predictor(predictor)
    nf = engine_info_features(src, device, power_mode)
    p.check_device(nf.device, strict=strict_device)
    rows = [layer_row(f, "engine", "") for f in nf.layers]
    pred = p.predict_rows(rows)
    power = pred.get("net_power_w", pred.get("power_w"))
    out = [{"layer_name": f.label, "layer_type": f.backend_key,
            "power_prediction": float(power[i]) * 1e6 if power is not None else math.nan,
            "runtime_prediction": float(pred["latency_s"][i]) * 1e3} for i, f in enumerate(nf.layers)]
    if output:
        with open(output, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=["layer_name", "layer_type", "power_prediction", "runtime_prediction"],
                               lineterminator="\n")
            w.writeheader()
            w.writerows(out)
    return out


__all__ = ["DEFAULT_DEVICE", "device_key", "engine_info_features", "model_summary_features", "predict_engine_info",
           "raw_dataset", "training_dataset"]
