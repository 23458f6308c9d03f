"""Checks of command-line arguments, run at the top of a command before any work: before the
model is built, torchvision or transformers imported, or sampling started. Every failure is a
ValueError (an OSError for a path) whose message names the argument and says what is allowed;
``edgepower.cli.main`` prints it and exits with 2.
"""
from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import sys
from typing import Any, Optional

#: DistilBertConfig().max_position_embeddings: the longest --seq-len DistilBERT takes.
DISTILBERT_MAX_SEQ_LEN = 512
_VGG = re.compile(r"^vgg(11|13|16|19)(_bn)?$")
_DEVICE = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_SEED_LOW, _SEED_HIGH = -(2 ** 63), 2 ** 64 - 1  # torch.manual_seed's range


def number(value: Any, flag: str, *, low: Optional[float] = None, low_ok: bool = True,
           high: Optional[float] = None, unit: str = "") -> None:
    """A finite number within [low, high] (``low_ok=False``: above low), or a ValueError naming ``flag``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value >= low if low_ok else value > low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        what = ("a positive number" if low == 0 and not low_ok else
                f"a number >= {low:g}" if low is not None and high is None else
                f"a number from {low:g} to {high:g}" if low is not None else "a finite number")
        raise ValueError(f"{flag} must be {what}{' (' + unit + ')' if unit else ''}, got {value}")


def integer(value: Any, flag: str, low: int, high: Optional[int] = None, what: str = "") -> None:
    """An int within [low, high], or a ValueError naming ``flag``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{flag} must be an integer {bound}{' (' + what + ')' if what else ''}, got {value}")


def rate_arg(text: str) -> Any:
    """argparse type of ``--rate`` where ``refresh`` is allowed: the string ``"refresh"`` or a float
    (anything else is left as text for :func:`rate` to reject, naming the flag)."""
    if text.strip().lower() == "refresh":
        return "refresh"
    try:
        return float(text)
    except ValueError:
        return text


def rate(value: Any, flag: str = "--rate", refresh_ok: bool = False) -> None:
    """The sampler's own rule for the rate (native), with the flag named; ``refresh_ok``: the
    word ``refresh`` (read each sensor refresh just after it) is allowed too."""
    from .._native import core as _core

    if refresh_ok and value == "refresh":
        return
    if isinstance(value, str):
        raise ValueError(f"{flag} must be a number of Hz{' or refresh' if refresh_ok else ''}, got {value!r}")
    number(value, flag, low=0, low_ok=False, unit="Hz")
    try:
        _core.Sampler.check_rate_hz(float(value))
    except ValueError as exc:
        raise ValueError(f"{flag}: {exc}") from None


def output_file(path: Optional[str], flag: str, out_dir: Optional[str] = None) -> None:
    """A file that can be written: see :func:`edgepower.trace.check_output_path`. A file directly
    in ``out_dir`` (the command's output folder, checked by :func:`output_dir` and created before
    the file is written) may be in a folder that does not exist yet."""
    if path is None or path == "-":
        return
    from ..trace import check_output_path

    if out_dir and not os.path.isdir(out_dir) and \
            os.path.dirname(os.path.abspath(path)) == os.path.abspath(out_dir):
        if os.path.isdir(path):
            raise IsADirectoryError(f"{flag} {path!r} is a folder; give a file path")
        return
    check_output_path(path, flag)


def output_dir(path: Optional[str], flag: str) -> None:
    """A folder that exists or can be created: not a file, below a writable folder."""
    if path is None:
        return
    if not path:
        raise ValueError(f"{flag} must be a folder path, got an empty string")
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{flag} {path!r} is a file, not a folder; give a folder path (it is created if needed)")
    parent = os.path.abspath(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"{flag} {path!r} cannot be created: {parent!r} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"{flag} {path!r} cannot be written: folder {parent!r} is not writable")


def check_sensor(spec: str, root: str = "/"):
    """The sensor built from ``--sensor`` (once, before any work), errors naming ``--sensor``."""
    from ..sensors import SensorError, create_sensor

    try:
        return create_sensor(spec, root=root)
    except (ValueError, SensorError) as exc:
        raise type(exc)(f"--sensor {spec!r}: {exc}") from None


def model_spec(spec: str) -> str:
    """MODEL is vgg11..19[_bn], distilbert or module.path:factory (the module findable)."""
    name = spec.strip()
    if _VGG.match(name.lower()) or name.lower() == "distilbert":
        return name
    if ":" in name:
        mod_name, _, fn_name = name.partition(":")
        if not _MODULE.match(mod_name) or not fn_name.isidentifier():
            raise ValueError(f"MODEL {spec!r} is not module.path:factory (e.g. mymodels:make_resnet)")
        if os.getcwd() not in sys.path:  # as build_model: models next to the user are importable
            sys.path.insert(0, os.getcwd())
        try:
            found = importlib.util.find_spec(mod_name)
        except Exception as exc:  # a parent package that fails to import
            raise ValueError(f"MODEL {spec!r}: cannot import {mod_name!r} ({type(exc).__name__}: {exc})") from None
        if found is None:
            raise ValueError(f"MODEL {spec!r}: no module {mod_name!r} on the path; run from the folder that holds "
                             "it or add that folder to PYTHONPATH")
        return name
    raise ValueError(f"unknown MODEL {spec!r}: use vgg11 (or vgg13/16/19[_bn]), distilbert, or module.path:factory")


def device(text: str) -> None:
    """``--device`` is cpu, cuda, cuda:N, auto, or another device torch names (checked by torch)."""
    if _DEVICE.match(text.strip().lower()):
        return
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"--device must be cpu, cuda, cuda:N or auto, got {text!r}") from None


def layers_syntax(text: Optional[str], depth: Optional[int]) -> None:
    """``--layers`` is a preset or a comma-separated list; ``--depth`` >= 1 and not with --layers."""
    from ..profile.presets import PRESETS

    if depth is not None:
        integer(depth, "--depth", 1, what="1: the model's children")
        if text is not None:
            raise ValueError("--layers and --depth exclude each other: give one")
    if text is None or text.strip() in PRESETS:
        return
    names = [s.strip() for s in text.split(",")]
    if not any(names):
        raise ValueError(f"--layers must be a preset ({', '.join(PRESETS)}) or comma-separated module names, "
                         f"got {text!r}")


def parse_layers(text: Optional[str]) -> Any:
    """``--layers`` as LayerProfiler takes it: None, a preset name, or a list of module names."""
    from ..profile.presets import PRESETS

    if text is None:
        return None
    if text.strip() in PRESETS:
        return text.strip()
    return [s for s in (x.strip() for x in text.split(",")) if s]


def check_layers(spec: str, layers: Any, depth: Optional[int]) -> bool:
    """Checks ``--layers``/``--depth`` against a built-in model's module tree (its meta-device
    skeleton: no weights) before the model is built; returns whether it could (False for a
    factory, whose modules are known only once it has run: :func:`check_layers_of` then)."""
    if layers is None and depth is None:
        return True
    from .models import skeleton

    tree = skeleton(spec)
    if tree is None:
        return False
    check_layers_of(tree, layers, depth)
    return True


def check_layers_of(model: Any, layers: Any, depth: Optional[int]) -> None:
    """``--layers``/``--depth`` resolved on ``model`` (what LayerProfiler will do), errors naming them."""
    if layers is None and depth is None:
        return
    from ..profile.presets import select_layers

    try:
        select_layers(model, layers, depth)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{'--depth' if depth is not None else '--layers'}: {exc}") from None


def check_profile_args(args: Any) -> bool:
    """Every argument of ``edgepower profile``, in order of cost: plain values and paths, then the
    device (torch), then ``--layers``/``--depth`` on a built-in model's skeleton. Builds no model
    and starts no sampling. Returns whether the layers were checked (False for a factory: call
    :func:`check_layers_of` on the model it returns)."""
    model_spec(args.model)
    if args.batch_size is not None:
        integer(args.batch_size, "--batch-size", 1)
    if args.rate is not None:
        rate(args.rate)
    if args.rounds is not None:
        integer(args.rounds, "--rounds", 1)
    number(args.ci_target, "--ci-target", low=0, unit="% (0: exactly --rounds rounds)")
    if args.max_rounds is not None:
        integer(args.max_rounds, "--max-rounds", max(1, args.rounds or 1))
    if args.min_window is not None:
        number(args.min_window, "--min-window", low=0, low_ok=False, unit="seconds")
    integer(args.warmup, "--warmup", 0)
    number(args.idle, "--idle", low=0, unit="seconds (0: no idle baseline)")
    if args.idle_power is not None:
        number(args.idle_power, "--idle-power", low=0, unit="W")
    integer(args.seed, "--seed", _SEED_LOW, _SEED_HIGH)
    if args.max_round is not None:
        number(args.max_round, "--max-round", low=0, low_ok=False, unit="seconds")
    name = args.model.strip().lower()
    if _VGG.match(name):
        integer(args.image_size, "--image-size", 32, what="VGG has five 2x2 poolings")
    else:
        integer(args.image_size, "--image-size", 1)
    high = DISTILBERT_MAX_SEQ_LEN if name == "distilbert" else None
    integer(args.seq_len, "--seq-len", 1, high)
    device(args.device)
    layers_syntax(args.layers, args.depth)
    output_dir(args.out, "--output")
    output_dir(args.edgeprofiler_out, "--edgeprofiler-out")
    output_file(args.trace, "--trace", out_dir=args.out)  # e.g. -o OUT --trace OUT/trace.json
    from .models import check_device

    check_device(args.device, args.dtype)
    return check_layers(args.model, parse_layers(args.layers), args.depth)


def check_monitor_args(args: Any) -> None:
    """Every argument of ``edgepower monitor`` that can be checked before the sensor is used."""
    rate(args.rate, refresh_ok=True)
    if args.duration is not None:
        number(args.duration, "--duration", low=0, low_ok=False, unit="seconds")
    output_file(args.output, "-o/--output")
    output_file(args.json, "--json")
    if args.prometheus:
        from ..export.prometheus import parse_address

        parse_address(args.prometheus)
    command = list(args.command or [])
    command = command[1:] if command[:1] == ["--"] else command
    if command and shutil.which(command[0]) is None:
        raise ValueError(f"cannot run {command[0]!r} after --: no such program (not on PATH, or not executable)")


__all__ = [
    "check_layers",
    "check_layers_of",
    "check_monitor_args",
    "check_profile_args",
    "check_sensor",
    "device",
    "integer",
    "number",
    "output_dir",
    "output_file",
    "parse_layers",
    "rate",
]


def write_json(obj: Any, dest: str, note_to: Any) -> None:
    """``--json DEST`` of the CLI: ``-`` prints ``obj`` as JSON on stdout, else writes the file and
    says so on ``note_to`` (NaN is refused: JSON has none; ``jsonable`` turns it into null)."""
    import json

    from ..export.common import jsonable

    text = json.dumps(jsonable(obj), indent=1, allow_nan=False)
    if dest == "-":
        print(text)
        return
    with open(dest, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    print(f"wrote {dest}", file=note_to)
