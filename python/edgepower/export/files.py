"""Every output of a report into one folder."""
from __future__ import annotations

import os
from typing import Any, Dict

def write(report, out_dir: str, prefix: str = "") -> Dict[str, str]:
    """Writes every output into ``out_dir``: ``layers.csv``, ``layers_distilbert.csv``,
    ``samples.csv``, ``report.json`` and the PNG charts. Returns name -> path."""
    os.makedirs(out_dir, exist_ok=True)
    j = lambda name: os.path.join(out_dir, prefix + name)  # noqa: E731
    paths = {
        "layers_csv": report.to_csv(j("layers.csv")),
        "distilbert_csv": report.to_distilbert_csv(j("layers_distilbert.csv")),
        "samples_csv": report.samples_to_csv(j("samples.csv")),
        "json": j("report.json"),
    }
    report.to_json(paths["json"])
    energy_png, latency_png = report.plot(out_dir, prefix)
    paths["energy_png"], paths["energy_latency_png"] = energy_png, latency_png
    return paths


__all__ = ["write"]
