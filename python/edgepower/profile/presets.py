"""Which layers to profile: leaf modules, a depth, explicit names, or a model preset.

Every selector returns qualified module names as :meth:`torch.nn.Module.named_modules` spells
them (``features.0``, ``distilbert.transformer.layer.3``). Selections are disjoint (no selected
module contains another), so the layers' energies can be summed and compared with the whole
model's.

Presets
-------
``vgg``
    torchvision VGG: ``features[i]`` for every i, ``avgpool``, ``classifier[i]`` for every i.
``distilbert``
    Hugging Face DistilBERT: ``embeddings``, ``transformer.layer[0..n-1]`` and the head's own
    modules (``pre_classifier`` and ``classifier`` for sequence classification); dropout is
    left to ``(unattributed)``.
``leaves``
    Every module without children (the default).
``auto``
    ``vgg`` or ``distilbert`` when the model looks like one, else ``leaves``.

This module needs no torch import of its own: it only walks ``named_modules()``.
"""
from __future__ import annotations

import difflib
import re
from typing import Any, Dict, List, Optional, Sequence, Union

PRESETS = ("auto", "leaves", "vgg", "distilbert")

_BRACKETS = re.compile(r"\[(\d+)\]")


def normalize_name(name: str) -> str:
    """``features[3]`` -> ``features.3`` (the bracket form the presets are described in)."""
    return _BRACKETS.sub(r".\1", name.strip())


def _modules(model: Any) -> Dict[str, Any]:
    return {n: m for n, m in model.named_modules() if n}


def leaf_layers(model: Any) -> List[str]:
    """Qualified names of every module without children, in registration order."""
    return [n for n, m in _modules(model).items() if not any(True for _ in m.children())]


def depth_layers(model: Any, depth: int) -> List[str]:
    """Modules ``depth`` levels below the model (1: its children), plus shallower leaves so that
    nothing the model computes in a module is left out."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an int >= 1 (1: the model's children), got {depth!r}")
    out = []
    for name, mod in _modules(model).items():
        level = name.count(".") + 1
        if level == depth or (level < depth and not any(True for _ in mod.children())):
            out.append(name)
    return out


def is_vgg(model: Any) -> bool:
    """True for a torchvision-style VGG: ``features`` and ``classifier`` Sequentials and an
    ``avgpool``."""
    feats, cls = getattr(model, "features", None), getattr(model, "classifier", None)
    return (type(feats).__name__ == "Sequential" and type(cls).__name__ == "Sequential"
            and hasattr(model, "avgpool"))


def vgg_layers(model: Any) -> List[str]:
    """``features.i`` for every i, ``avgpool``, ``classifier.i`` for every i."""
    if not is_vgg(model):
        raise ValueError(f"preset 'vgg' needs a torchvision VGG (features and classifier Sequentials and "
                         f"an avgpool); {type(model).__name__} is not one. Use layers=None (leaf modules) "
                         "or depth=N instead.")
    return ([f"features.{i}" for i in range(len(model.features))] + ["avgpool"] +
            [f"classifier.{i}" for i in range(len(model.classifier))])


def _distilbert_base(model: Any) -> Optional[str]:
    """Prefix of the DistilBERT body inside ``model`` ('' for DistilBertModel itself)."""
    def body(m: Any) -> bool:
        tr = getattr(m, "transformer", None)
        return hasattr(m, "embeddings") and tr is not None and hasattr(tr, "layer")
    if body(model):
        return ""
    if body(getattr(model, "distilbert", None)):
        return "distilbert."
    return None


def is_distilbert(model: Any) -> bool:
    """True for a Hugging Face DistilBertModel or a DistilBERT model with a head."""
    return _distilbert_base(model) is not None


def distilbert_layers(model: Any) -> List[str]:
    """``embeddings``, ``transformer.layer.0..n-1`` and the head's top-level modules (for
    sequence classification ``pre_classifier`` and ``classifier``), dropout left out."""
    base = _distilbert_base(model)
    if base is None:
        raise ValueError(f"preset 'distilbert' needs a Hugging Face DistilBERT (embeddings and transformer.layer); "
                         f"{type(model).__name__} is not one. Use layers=None (leaf modules) or depth=N instead.")
    body = model.distilbert if base else model
    names = [base + "embeddings"] + [f"{base}transformer.layer.{i}" for i in range(len(body.transformer.layer))]
    if base:
        for name, child in model.named_children():
            if name != "distilbert" and "Dropout" not in type(child).__name__:
                names.append(name)
    return names


def preset_layers(model: Any, preset: str) -> List[str]:
    """Layers of a named preset (see the module docstring)."""
    if preset == "leaves":
        return leaf_layers(model)
    if preset == "vgg":
        return vgg_layers(model)
    if preset == "distilbert":
        return distilbert_layers(model)
    if preset == "auto":
        if is_vgg(model):
            return vgg_layers(model)
        if is_distilbert(model):
            return distilbert_layers(model)
        return leaf_layers(model)
    close = difflib.get_close_matches(str(preset), PRESETS, n=2)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown layer preset {preset!r}.{hint} Presets: {', '.join(PRESETS)}; or pass a list "
                     "of module names.")


def explicit_layers(model: Any, names: Sequence[str]) -> List[str]:
    """Checks explicit module names; an unknown name is a ValueError listing close matches."""
    known = _modules(model)
    out: List[str] = []
    for raw in names:
        if not isinstance(raw, str):
            raise TypeError(f"layer names must be strings, got {raw!r} ({type(raw).__name__})")
        name = normalize_name(raw)
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=5, cutoff=0.5)
            hint = f" Close matches: {', '.join(close)}." if close else ""
            raise ValueError(f"{type(model).__name__} has no module named {raw!r}.{hint} "
                             "Names are those of model.named_modules(), e.g. 'features.0' or 'features[0]'.")
        if name in out:
            raise ValueError(f"layer {raw!r} is listed twice")
        out.append(name)
    if not out:
        raise ValueError("the list of layers is empty; pass module names, or layers=None for every leaf module")
    return out


def check_disjoint(names: Sequence[str]) -> None:
    """Raises ValueError if one selected module contains another (their energies would be
    counted twice in the sum of layers)."""
    ordered = sorted(names)
    for a, b in zip(ordered, ordered[1:]):
        if b.startswith(a + "."):
            raise ValueError(f"layer {a!r} contains layer {b!r}: the layers must not nest, or the sum of layers "
                             "would count it twice. Drop one of them, or use depth=N.")


def select_layers(model: Any, layers: Union[None, str, Sequence[str]] = None,
                  depth: Optional[int] = None) -> List[str]:
    """Resolves a layer selection to qualified module names.

    Parameters
    ----------
    model : torch.nn.Module
    layers : None, str or sequence of str
        None: leaf modules. A str: a preset (``auto``, ``leaves``, ``vgg``, ``distilbert``).
        A sequence: explicit module names (``features.0`` or ``features[0]``).
    depth : int, optional
        Modules this many levels down (and shallower leaves); excludes ``layers``.
    """
    if depth is not None and layers is not None:
        raise ValueError("pass either layers= or depth=, not both")
    if depth is not None:
        names = depth_layers(model, depth)
    elif layers is None:
        names = leaf_layers(model)
    elif isinstance(layers, str):
        names = preset_layers(model, layers)
    else:
        names = explicit_layers(model, list(layers))
    if not names:
        raise ValueError(f"{type(model).__name__} has no submodules to profile; measure it whole with "
                         "edgepower.PowerMonitor instead")
    check_disjoint(names)
    return names


__all__ = ["PRESETS", "check_disjoint", "depth_layers", "distilbert_layers", "explicit_layers", "is_distilbert",
           "is_vgg", "leaf_layers", "normalize_name", "preset_layers", "select_layers", "vgg_layers"]
