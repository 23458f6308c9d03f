"""Row labels of a preset: the names other tools give a model's parts.

The DistilBERT preset labels its parts as DistilBERT energy harnesses do (``embeddings``,
``transformer_block_0`` .. ``transformer_block_5``, ``pre_classifier``, ``classifier``), so a
report's rows line up with theirs; the qualified module path stays in the ``module`` column.
Other selections keep the module paths as labels.

Labels are applied once the windows are measured (:func:`relabel`): the timeline regions (and a
``regions:`` sensor's spec) keep the module paths.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from .presets import distilbert_layers, is_distilbert


def preset_labels(model: Any, layers_spec: Any) -> Dict[str, str]:
    """Module path -> row label for the preset ``layers_spec`` (``{}``: keep the paths).

    Only the ``distilbert`` preset (or ``auto`` on a DistilBERT) renames: ``embeddings``,
    ``transformer_block_<i>`` and the head's modules by their own names.
    """
    if layers_spec not in ("distilbert", "auto") or not is_distilbert(model):
        return {}
    out = {}
    for name in distilbert_layers(model):
        tail = name.split("distilbert.", 1)[-1] if name.startswith("distilbert.") else name
        if tail.startswith("transformer.layer."):
            out[name] = "transformer_block_" + tail.rsplit(".", 1)[1]
        else:
            out[name] = tail
    return out


def _label(label: str, module: str, labels: Dict[str, str]) -> str:
    # `name#k` (k-th call of a module called several times) keeps its suffix.
    if module in labels:
        return labels[module] + label[len(module):] if label.startswith(module) else label
    return label


def relabel(rows: List[Any], windows: List[Any], cycles: Optional[Dict[str, Any]], labels: Dict[str, str]) -> None:
    """Renames, in place, the rows (:class:`LayerRow`), windows (:class:`Window`) and in-situ
    cycle labels of a profile by ``labels`` (module path -> label)."""
    if not labels:
        return
    for r in rows:
        r.layer = _label(r.layer, r.module, labels)
    for w in windows:
        w.label = _label(w.label, w.module, labels)
    if cycles is not None:
        cycles["labels"] = [_label(lab, mod, labels) for lab, mod in zip(cycles["labels"], cycles["modules"])]


__all__ = ["preset_labels", "relabel"]
