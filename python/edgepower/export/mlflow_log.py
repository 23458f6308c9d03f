"""A report into an MLflow run: per-layer metrics, provenance as params and tags, files as artifacts.

What :func:`log_mlflow` records (units in the names):

- **Metrics**, per row (call sites, ``unattributed``, ``model``):
  ``layers/<label>/<column>`` for the columns in :data:`LAYER_METRICS` (latency, gross and net
  energy per inference with the CI, power, share, samples); labels made MLflow-safe
  (``(model)`` -> ``model``, ``relu#1`` -> ``relu_1``). Also, with the call sites in order as the
  step (a bar-like line chart in MLflow's UI): ``layer_net_energy_mj``, ``layer_energy_mj``,
  ``layer_latency_ms``. And ``model_*``, ``closure_*`` and ``idle_power_w``.
  Figures that are not numbers (NaN: a layer without data) are left out, not logged as 0.
- **Params**: the settings and the measurement set-up: model, inputs, sensor, rates, idle source,
  every ``meta["method"]`` setting (``method.<key>``) and the monitor's provenance
  (``monitor.<key>``); values cut to MLflow's 6000 characters.
- **Tags**: ``edgepower.version``, ``edgepower.sensor``, ``edgepower.estimated`` (``true`` for a
  model estimate rather than a measurement), ``edgepower.model``, the environment (torch,
  Python, platform, threads, CUDA devices).
- **Artifacts** under ``edgepower/``: ``layers.csv``, ``layers_distilbert.csv``, ``samples.csv``,
  ``report.json`` (the full provenance), the PNG charts and, with ``trace=True``, the
  Perfetto trace ``trace.json``.

mlflow is imported when used (``pip install mlflow``, or ``mlflow-skinny`` for logging alone).
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import time
from typing import Any, Dict, Iterable, List, Optional, Tuple

#: Report columns logged per row as ``layers/<label>/<column>``.
LAYER_METRICS = ("latency_ms", "latency_ci95_ms", "energy_per_inference_mj", "net_energy_per_inference_mj",
                 "ci95_mj", "avg_power_w", "net_power_w", "energy_pct", "num_samples")
ARTIFACT_PATH = "edgepower"
_MAX_PARAM = 6000
_BATCH = 100  # MLflow's limit of params/tags per batch (and well under its 1000 metrics)


def metric_label(label: str) -> str:
    """A row label as MLflow accepts it in a metric key: ``(model)`` -> ``model``,
    ``layer1.0.relu#1`` -> ``layer1.0.relu_1``."""
    s = label[1:-1] if label.startswith("(") and label.endswith(")") else label
    s = re.sub(r"[^\w.\- ]", "_", s).strip() or "_"
    return "_" + s if s.startswith(".") else s


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _flat(prefix: str, d: Any, out: Dict[str, str]) -> None:
    if isinstance(d, dict):
        for k, v in d.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif d is not None and d != "" and not (isinstance(d, float) and math.isnan(d)):
        out[re.sub(r"[^\w.\- /]", "_", prefix)] = str(d)[:_MAX_PARAM]


def metrics(report: Any) -> List[Tuple[str, float, int]]:
    """(key, value, step) of every metric :func:`log_mlflow` logs."""
    out: List[Tuple[str, float, int]] = []
    step = 0
    for r in report.records:
        name = metric_label(r.layer)
        for col in LAYER_METRICS:
            v = getattr(r, col)
            if _finite(v):
                out.append((f"layers/{name}/{col}", float(v), 0))
        if r.kind == "layer":
            for key, col in (("layer_net_energy_mj", "net_energy_per_inference_mj"),
                             ("layer_energy_mj", "energy_per_inference_mj"), ("layer_latency_ms", "latency_ms")):
                v = getattr(r, col)
                if _finite(v):
                    out.append((key, float(v), step))
            step += 1
        if r.kind == "model":
            for col in ("latency_ms", "energy_per_inference_mj", "net_energy_per_inference_mj", "avg_power_w"):
                v = getattr(r, col)
                if _finite(v):
                    out.append((f"model_{col}", float(v), 0))
    for k, v in report.closure.items():
        if _finite(v):
            out.append((f"closure_{k}", float(v), 0))
    idle = report.meta.get("idle_power_w")
    if _finite(idle):
        out.append(("idle_power_w", float(idle), 0))
    return out


def params(report: Any) -> Dict[str, str]:
    """The params :func:`log_mlflow` logs: set-up and settings, as strings."""
    meta = report.meta
    out: Dict[str, str] = {}
    for key in ("model", "model_module", "model_params", "inputs", "devices", "layers", "sensor", "estimated",
                "idle_power_w", "idle_source", "capture_s"):
        if key in meta:
            _flat(key, meta[key] if not isinstance(meta[key], list) else ", ".join(map(str, meta[key])), out)
    _flat("method", meta.get("method") or {}, out)
    monitor = dict(meta.get("monitor") or {})
    monitor.pop("sampler", None)  # statistics, not settings: they are in report.json
    _flat("monitor", {k: (", ".join(map(str, v)) if isinstance(v, list) else v) for k, v in monitor.items()}, out)
    return out


def tags(report: Any) -> Dict[str, str]:
    """The tags :func:`log_mlflow` sets."""
    meta = report.meta
    env = meta.get("environment") or {}
    out = {"edgepower.version": str(env.get("edgepower", "")), "edgepower.sensor": report.sensor,
           "edgepower.estimated": str(report.estimated).lower(), "edgepower.model": str(meta.get("model", "")),
           "edgepower.mode": str((meta.get("method") or {}).get("mode", ""))}
    for k, v in env.items():
        if k != "edgepower" and v not in (None, "", []):
            out[f"environment.{k}"] = (", ".join(map(str, v)) if isinstance(v, list) else str(v))[:_MAX_PARAM]
    if meta.get("sampler_error"):
        out["edgepower.sampler_error"] = str(meta["sampler_error"])[:_MAX_PARAM]
    return {k: v for k, v in out.items() if v != ""}


def _chunks(items: List[Any], n: int) -> Iterable[List[Any]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def log_mlflow(report: Any, run: Any = None, *, trace: bool = False, artifact_path: str = ARTIFACT_PATH) -> str:
    """Logs the report into an MLflow run (see the module docstring for what goes where).

    Parameters
    ----------
    report : Report
        The profile.
    run : None, str, mlflow Run or ActiveRun
        The run to log into: a run id or run object; None: the active run (``mlflow.start_run()``
        block), else a new run in the current experiment, ended before returning. The tracking
        server is MLflow's usual one (``MLFLOW_TRACKING_URI``, ``mlflow.set_tracking_uri``).
    trace : bool
        Also log the Perfetto trace (``trace.json``; megabytes for long runs).
    artifact_path : str
        Folder of the artifacts inside the run.

    Returns
    -------
    str
        The run id.
    """
    try:
        import mlflow
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ImportError(f"report.log_mlflow needs mlflow ({exc}); install it with `pip install mlflow` "
                          "(or mlflow-skinny)") from None
    started = False
    if run is None:
        active = mlflow.active_run()
        if active is None:
            active = mlflow.start_run(run_name=f"edgepower {report.meta.get('model', 'model')}")
            started = True
        run_id = active.info.run_id
    elif isinstance(run, str):
        run_id = run
    elif hasattr(run, "info") and hasattr(run.info, "run_id"):
        run_id = run.info.run_id
    else:
        raise TypeError(f"run must be None, a run id or an mlflow Run, got {type(run).__name__}")
    client = MlflowClient()
    status = "FINISHED"
    try:
        now_ms = int(time.time() * 1000)
        ms = [Metric(k, v, now_ms, step) for k, v, step in metrics(report)]
        ps = [Param(k, v) for k, v in params(report).items()]
        ts = [RunTag(k, v) for k, v in tags(report).items()]
        for chunk in _chunks(ms, 1000):
            client.log_batch(run_id, metrics=chunk)
        for chunk in _chunks(ps, _BATCH):
            client.log_batch(run_id, params=chunk)
        for chunk in _chunks(ts, _BATCH):
            client.log_batch(run_id, tags=chunk)
        with tempfile.TemporaryDirectory(prefix="edgepower-mlflow-") as tmp:
            report.write(tmp)
            if trace:
                report.to_perfetto(os.path.join(tmp, "trace.json"))
            client.log_artifacts(run_id, tmp, artifact_path=artifact_path)
    except BaseException:
        status = "FAILED"
        raise
    finally:
        if started:
            mlflow.end_run(status=status)
    return run_id


__all__ = ["ARTIFACT_PATH", "LAYER_METRICS", "log_mlflow", "metric_label", "metrics", "params", "tags"]
