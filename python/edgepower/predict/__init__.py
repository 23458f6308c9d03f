"""Predicting per-layer latency, power and energy without the device.

``edgepower.predict(model, *inputs, predictor="predictor.json")`` returns a
:class:`~edgepower.report.Report` of predicted figures (this module is callable: it forwards to
:func:`.api.predict`). The pieces, in the order data flows through them:

- :mod:`.features`: layer features from hooks on the leaf modules and one profiled forward
  (backend kernel key); :mod:`.device`: the device key.
- :mod:`.measure`: robust latency measurement of many networks (training data without a
  sensor); :mod:`.zoo`: torchvision and synthetic CNNs to measure.
- :mod:`.dataset`: rows from edgepower reports, CSV round trip; :mod:`.edgeprofiler`:
  EdgeProfiler's training CSVs, raw data, TensorRT engine info and ``model_summary.json``.
- :mod:`.models`: per-op-group log-linear models, ridge strength chosen by cross-validation
  over the training networks only; :mod:`.baselines`: training mean, MACs only, EdgeProfiler's
  recipe.
- :mod:`.predictor`: fit, save/load JSON with the device key; :mod:`.api`: ``predict``;
  :mod:`.validate`: leave-one-network-out and leave-one-family-out metrics.

See docs/predict.md.
"""
from __future__ import annotations

import sys
import types

from .api import predict, predict_features
from .dataset import Dataset, annotate, from_reports
from .device import device_key
from .features import LayerFeatures, NetworkFeatures, extract
from .measure import measure_latency
from .predictor import DeviceMismatch, Predictor


class _CallableModule(types.ModuleType):
    """``edgepower.predict`` is both this package and the function :func:`.api.predict`."""

    def __call__(self, *args, **kwargs):
        return predict(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["Dataset", "DeviceMismatch", "LayerFeatures", "NetworkFeatures", "Predictor", "annotate", "device_key",
           "extract", "from_reports", "measure_latency", "predict", "predict_features"]
