"""``edgepower.predict(model, *inputs, predictor=PATH)``: a report of predicted latency, power and
energy per layer and for the whole network, without the device."""
from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Union

from ..report import LayerRow, Report
from .dataset import layer_row, network_row
from .features import NetworkFeatures, extract
from .predictor import Predictor

log = logging.getLogger("edgepower.predict")

NOTE = "PREDICTED (no measurement)"


def load_predictor(predictor: Union[str, Predictor]) -> Predictor:
    if isinstance(predictor, Predictor):
        return predictor
    if isinstance(predictor, str) or hasattr(predictor, "__fspath__"):
        return Predictor.load(str(predictor))
    raise TypeError(f"predictor must be a path to a predictor JSON or a Predictor, got {type(predictor).__name__}")


def _row(label: str, module: str, call: Optional[int], kind: str, type_: str, params: int, shapes: str,
         latency_s: float, power_w: float, net_power_w: float, note: str) -> LayerRow:
    nan = math.nan
    gross = power_w * latency_s if math.isfinite(power_w) else nan
    net = net_power_w * latency_s if math.isfinite(net_power_w) else nan
    return LayerRow(layer=label, module=module, call=call, kind=kind, type=type_, params=params, input_shapes=shapes,
                    rounds=0, repeats=0, window_s=nan, total_time_s=nan, energy_total_j=nan,
                    latency_ms=latency_s * 1e3, latency_ci95_ms=nan, energy_per_inference_mj=gross * 1e3,
                    net_energy_per_inference_mj=net * 1e3, ci95_mj=nan, ci95_pct=nan, net_energy_upper_mj=nan,
                    avg_power_w=power_w,
                    net_power_w=net_power_w, idle_power_w=nan, num_samples=0, energy_pct=nan, inplace=False,
                    status="ok", error="", note=note, sensor="predicted", estimated=True)


def predict_features(nf: NetworkFeatures, predictor: Union[str, Predictor], strict_device: bool = True,
                     name: Optional[str] = None) -> Report:
    """The predicted report of a network described by its features (see :func:`predict`)."""
    p = load_predictor(predictor)
    diff = p.check_device(nf.device, strict=strict_device)
    rows = [layer_row(f, name or nf.model, "") for f in nf.layers]
    pred = p.predict_rows(rows)
    warnings: List[str] = []
    records: List[LayerRow] = []
    for i, (f, r) in enumerate(zip(nf.layers, rows)):
        notes = pred["warnings"][i] + ([f"device differs: {'; '.join(diff)}"] if diff else [])
        warnings += [f"{f.label}: {w}" for w in pred["warnings"][i]]
        records.append(_row(f.label, f.module, f.call, "layer", f.op, f.params, "x".join(map(str, f.in_shape)),
                            float(pred["latency_s"][i]), _get(pred, "power_w", i), _get(pred, "net_power_w", i),
                            "; ".join([NOTE] + notes)))
    lat = [r.latency_ms * 1e-3 for r in records]
    glue_s = p.glue_s(network_row(nf, name or nf.model, "", "unattributed", math.nan), sum(lat))
    total_s = sum(lat) + glue_s
    # The whole network: its layers' energies add up; its power is their time-weighted mean.
    energy = {k: sum(getattr(r, k) for r in records) for k in ("energy_per_inference_mj", "net_energy_per_inference_mj")}
    mean_power = {k: sum(getattr(r, k) * r.latency_ms * 1e-3 for r in records) / sum(lat) if sum(lat) > 0 else math.nan
                  for k in ("avg_power_w", "net_power_w")}
    un = _row("(unattributed)", "", None, "unattributed", "", 0, "", glue_s, mean_power["avg_power_w"],
              mean_power["net_power_w"], f"{NOTE}: module-call overhead and functional ops outside modules "
              f"({nf.functional_ops} functional ops, {nf.module_calls} module calls)")
    model = _row("(model)", "", None, "model", nf.model, sum(f.params for f in nf.layers), nf.inputs, total_s,
                 mean_power["avg_power_w"], mean_power["net_power_w"], f"{NOTE}: sum of the layers + (unattributed)")
    if math.isfinite(energy["energy_per_inference_mj"]):
        model.energy_per_inference_mj = energy["energy_per_inference_mj"] + un.energy_per_inference_mj
        model.net_energy_per_inference_mj = energy["net_energy_per_inference_mj"] + un.net_energy_per_inference_mj
    records += [un, model]
    key = "net_energy_per_inference_mj" if math.isfinite(model.net_energy_per_inference_mj) else "latency_ms"
    for r in records:
        denom = getattr(model, key)
        r.energy_pct = getattr(r, key) / denom * 100 if denom and math.isfinite(denom) else math.nan
    if warnings:
        log.warning("%d layer prediction(s) extrapolate beyond the training data, e.g. %s", len(warnings), warnings[0])
    meta: Dict[str, Any] = {
        "model": name or nf.model, "inputs": nf.inputs, "sensor": "predicted", "estimated": True, "predicted": True,
        "method": {"mode": "predicted", "rounds": 0, "predictor_device": p.device,
                   "trained_on": p.training.get("networks", []), "targets": sorted(p.models)},
        "device": nf.device, "device_mismatch": diff, "warnings": warnings, "idle_power_w": p.idle_power_w,
        "idle_source": "predicted", "predict_features": nf.to_dict(),
    }
    return Report(rows=records, windows=[], meta=meta)


def _get(pred: Dict[str, Any], key: str, i: int) -> float:
    return float(pred[key][i]) if key in pred else math.nan


def predict(model: Any, *inputs: Any, predictor: Union[str, Predictor], strict_device: bool = True,
            name: Optional[str] = None, **kwargs: Any) -> Report:
    """Predicted latency, power and energy of every layer of ``model(*inputs, **kwargs)`` and of
    the whole network, from a predictor trained on the target device.

    One forward with hooks records each layer's shapes and settings, one profiled forward the
    backend kernel it runs (on this machine: run it where the model will run, or on the same
    kind of device). Nothing is measured: every row is flagged ``PREDICTED``, ``sensor``
    ``"predicted"``, ``estimated`` True; rows whose features fall outside the training data, or
    whose backend op or op type was never seen, carry a warning in ``note`` (all of them in
    ``meta["warnings"]``).

    Parameters
    ----------
    model : torch.nn.Module
    *inputs, **kwargs
        Its forward's inputs.
    predictor : str or Predictor
        Path of a predictor JSON (``edgepower predictor fit``) or a :class:`Predictor`.
    strict_device : bool
        Refuse (:class:`~edgepower.predict.predictor.DeviceMismatch`) when this machine's device key
        differs from the predictor's (default). False predicts anyway and notes the differences.
    name : str, optional
        Name of the network in the report.

    Returns
    -------
    Report
    """
    p = load_predictor(predictor)
    nf = extract(model, *inputs, **kwargs)
    return predict_features(nf, p, strict_device=strict_device, name=name)


__all__ = ["NOTE", "load_predictor", "predict", "predict_features"]
