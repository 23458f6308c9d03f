"""Loops that run one captured layer call repeatedly inside a measurement window.

Isolation mode measures a layer by calling it many times in a window. In a Python loop every
call pays the interpreter and ``nn.Module.__call__`` (a few microseconds here), which is a
large share of a layer that itself runs a few microseconds. Three loops:

``python``
    ``fn()`` in a Python ``while`` loop (the profiler's loop): works for everything.
``native-aoti`` / ``native-torchscript``
    The loop runs in C++ (``edgepower._torch``'s ``NativeRunner``, called with the GIL
    released) over an AOTInductor package of the layer (``torch.export`` +
    ``aoti_compile_and_package``, cached on disk) or a TorchScript module the user already
    has; every repeat is stamped on CLOCK_MONOTONIC. A layer that cannot be exported, or
    whose compiled outputs differ from the eager ones, falls back to ``python`` with the
    reason recorded. AOTInductor runs its own generated kernels: a compiled layer is what
    inductor makes of it, which for tiny layers is close to, not identical with, eager ATen.
``cuda-graph``
    On CUDA without ``edgepower._torch``: the calls are captured once in a CUDA graph of
    ``k`` calls and the graph is replayed, removing the per-call launch overhead.

:func:`choose_runner` picks native when the layer's latency is below a threshold derived
from the measured per-call overhead of the Python loop (:func:`python_overhead_s`), and says
which loop it chose and why. Package cache key: the layer's code (class source and repr),
input shapes, dtypes and devices, the torch version, and a digest of its weights: inductor
bakes weights into the package and may fold them (a Linear's bias disappears from the
package's updatable constants), so a package serves only the weights it was compiled with.
"""
from __future__ import annotations

import hashlib
import inspect
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

log = logging.getLogger("edgepower")

#: Native is chosen when the Python loop's per-call overhead exceeds this share of the layer.
DEFAULT_TOLERANCE = 0.02
ENV_CACHE = "EDGEPOWER_CACHE_DIR"

__all__ = ["CudaGraphLoop", "DEFAULT_TOLERANCE", "NativeLoop", "PythonLoop", "RunnerChoice", "aoti_package",
           "cache_dir", "choose_runner", "package_key", "python_overhead_s", "tensor_leaves"]


def cache_dir() -> str:
    """Where compiled packages are cached: ``$EDGEPOWER_CACHE_DIR/aoti`` or ``~/.cache/edgepower/aoti``."""
    root = os.environ.get(ENV_CACHE) or os.path.join(os.path.expanduser("~"), ".cache", "edgepower")
    return os.path.join(root, "aoti")


def tensor_leaves(args: Sequence[Any], kwargs: Dict[str, Any]) -> List[Any]:
    """The tensors of (args, kwargs) in pytree order: the flat inputs of an exported program."""
    import torch
    from torch.utils import _pytree as pytree

    return [x for x in pytree.tree_leaves((tuple(args), dict(kwargs))) if isinstance(x, torch.Tensor)]


# ---- loops --------------------------------------------------------------------------------------
@dataclass
class Window:
    """One measured window: first and last stamp, calls made, and per-repeat stamps when the
    loop takes them (native: ``stamps[0]`` before the first call, ``stamps[i]`` after call i)."""

    t0_ns: int
    t1_ns: int
    calls: int
    stamps: Optional[np.ndarray] = None


class PythonLoop:
    """``fn()`` in a Python loop, as the profiler's isolation windows call a layer."""

    name = "python"

    def __init__(self, fn: Callable[[], Any], sync: Optional[Callable[[], None]] = None):
        self.fn = fn
        self.sync = sync or (lambda: None)

    def window(self, target_ns: int, min_repeats: int = 1, max_repeats: Optional[int] = None,
               warmup: int = 0) -> Window:
        fn, clock = self.fn, time.monotonic_ns
        for _ in range(warmup):
            fn()
        cap = max_repeats if max_repeats is not None else 1 << 62
        self.sync()
        n = 0
        t0 = clock()
        deadline = t0 + target_ns
        while n < cap:
            fn()
            n += 1
            if n >= min_repeats and clock() >= deadline:
                break
        self.sync()
        return Window(t0, clock(), n)


class NativeLoop:
    """The loop in C++ over a compiled layer (``edgepower._torch``'s NativeRunner); the GIL is
    released while it runs."""

    def __init__(self, path: str, kind: str, inputs: Sequence[Any]):
        from .. import torch_native

        torch_native.require()
        import torch

        self.runner = torch.classes.edgepower.NativeRunner(path, kind)
        self.kind = kind
        self.name = "native-aoti" if kind == "aoti" else "native-torchscript"
        self.inputs = list(inputs)

    def run(self) -> List[Any]:
        return list(self.runner.run(self.inputs))

    def window(self, target_ns: int, min_repeats: int = 1, max_repeats: Optional[int] = None,
               warmup: int = 0) -> Window:
        cap = max_repeats if max_repeats is not None else max(min_repeats, 10_000_000)
        stamps = self.runner.window(self.inputs, int(warmup), int(min_repeats), int(cap), int(target_ns)).numpy()
        return Window(int(stamps[0]), int(stamps[-1]), int(stamps.shape[0] - 1), stamps)


class CudaGraphLoop:
    """CUDA graph replay of ``k`` calls of ``fn`` (CUDA tensors, no in-place inputs): one graph
    launch instead of ``k`` kernel launches per replay. The window synchronises after each
    replay to check the time, so ``k`` is sized to make a replay last ``replay_s``.

    Parameters
    ----------
    fn : callable
        One call of the layer, on CUDA tensors captured beforehand (static addresses).
    latency_s : float
        Measured latency of one call, to size ``k``.
    replay_s : float
        Target duration of one replay (default 1 ms).
    """

    name = "cuda-graph"

    def __init__(self, fn: Callable[[], Any], latency_s: float, replay_s: float = 1e-3, max_calls: int = 1000):
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("CUDA graph replay needs a CUDA device; torch sees none")
        if not (latency_s > 0 and math.isfinite(latency_s)):
            raise ValueError(f"latency_s must be a positive number of seconds, got {latency_s!r}")
        self.k = int(max(1, min(max_calls, math.ceil(replay_s / latency_s))))
        self.fn = fn
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up on a side stream, as graph capture requires
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            for _ in range(self.k):
                fn()
        torch.cuda.synchronize()

    def window(self, target_ns: int, min_repeats: int = 1, max_repeats: Optional[int] = None,
               warmup: int = 0) -> Window:
        import torch

        clock = time.monotonic_ns
        for _ in range(max(0, math.ceil(warmup / self.k))):
            self.graph.replay()
        cap = max_repeats if max_repeats is not None else 1 << 62
        torch.cuda.synchronize()
        n = 0
        t0 = clock()
        deadline = t0 + target_ns
        while n < cap:
            self.graph.replay()
            n += self.k
            torch.cuda.synchronize()  # replays last replay_s: the check costs little beside them
            if n >= min_repeats and clock() >= deadline:
                break
        return Window(t0, clock(), n)


# ---- compiling ----------------------------------------------------------------------------------
def _describe(x: Any) -> str:
    import torch

    if isinstance(x, torch.Tensor):
        return f"T{tuple(x.shape)}:{x.dtype}:{x.device.type}:{x.is_contiguous()}"
    if isinstance(x, (list, tuple)):
        return "(" + ",".join(_describe(v) for v in x) + ")"
    if isinstance(x, dict):
        return "{" + ",".join(f"{k}={_describe(v)}" for k, v in sorted(x.items())) + "}"
    return repr(x)


def _weights_digest(module: Any) -> str:
    import torch

    h = hashlib.sha256()
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        b = t.detach().contiguous().reshape(-1).view(torch.uint8).cpu().numpy()
        h.update(memoryview(b))
    return h.hexdigest()


def package_key(module: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> str:
    """Cache key of a layer call: class source and repr (the layer's code and configuration),
    input shapes/dtypes/devices, torch version, digest of the weights (baked into packages)."""
    import torch

    cls = type(module)
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        src = ""
    from .. import __version__

    h = hashlib.sha256()
    for part in (f"{cls.__module__}.{cls.__qualname__}", src, repr(module), _describe(tuple(args)),
                 _describe(dict(kwargs)), _weights_digest(module), torch.__version__, __version__, "aoti-1"):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def aoti_package(module: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                 directory: Optional[str] = None) -> Tuple[str, Dict[str, Any]]:
    """The AOTInductor package of ``module(*args, **kwargs)``: from the cache, or exported and
    compiled now. Returns (path, info: key, cached, export_s, compile_s). Raises whatever
    torch.export / inductor raise (the caller falls back and reports it)."""
    import torch

    directory = directory or cache_dir()
    key = package_key(module, args, kwargs)
    path = os.path.join(directory, f"{key}.pt2")
    info: Dict[str, Any] = {"key": key, "path": path, "cached": os.path.exists(path), "export_s": 0.0,
                            "compile_s": 0.0}
    if info["cached"]:
        return path, info
    os.makedirs(directory, exist_ok=True)
    t0 = time.perf_counter()
    with torch.no_grad():
        ep = torch.export.export(module, tuple(args), kwargs=dict(kwargs), strict=False)
    t1 = time.perf_counter()
    tmp = f"{path}.{os.getpid()}.tmp.pt2"
    torch._inductor.aoti_compile_and_package(ep, package_path=tmp)
    os.replace(tmp, path)  # atomic: a concurrent reader sees a whole package or none
    info.update(export_s=t1 - t0, compile_s=time.perf_counter() - t1)
    log.info("compiled %s with AOTInductor in %.1f s (export %.1f s): %s", type(module).__name__,
             info["compile_s"], info["export_s"], path)
    return path, info


# ---- overhead and choice ------------------------------------------------------------------------
_overhead: Dict[str, float] = {}


def python_overhead_s(repeats: int = 20000) -> float:
    """Per-call overhead of the Python loop calling a module: ``nn.Identity`` (no op at all) in
    the same loop as :class:`PythonLoop`, best of 5. Measured once per process."""
    if "python" not in _overhead:
        import torch

        ident = torch.nn.Identity()
        x = torch.zeros(1)
        loop = PythonLoop(lambda: ident(x))
        best = math.inf
        for _ in range(5):
            w = loop.window(0, repeats, repeats)
            best = min(best, (w.t1_ns - w.t0_ns) / w.calls * 1e-9)
        _overhead["python"] = best
    return _overhead["python"]


@dataclass
class RunnerChoice:
    """Which loop a layer uses and why; ``info`` holds compile details (key, cached,
    export_s, compile_s) when a package was made."""

    name: str
    why: str
    info: Dict[str, Any] = field(default_factory=dict)


def _per_call_s(w: Window) -> float:
    return (w.t1_ns - w.t0_ns) * 1e-9 / max(w.calls, 1)


def _outputs_match(native: List[Any], eager: Any) -> Tuple[bool, str]:
    import torch

    ref = [x for x in tensor_leaves((eager,), {})]
    if len(native) != len(ref):
        return False, f"{len(native)} outputs from the package, {len(ref)} from the eager layer"
    for a, b in zip(native, ref):
        if a.shape != b.shape or a.dtype != b.dtype:
            return False, f"output {tuple(a.shape)} {a.dtype} vs eager {tuple(b.shape)} {b.dtype}"
        if not torch.allclose(a, b, rtol=1e-4, atol=1e-5, equal_nan=True):
            return False, f"outputs differ from eager by up to {float((a - b).abs().max()):.3g}"
    return True, ""


def choose_runner(module: Any, args: Sequence[Any], kwargs: Dict[str, Any], latency_s: float, *,
                  native: str = "auto", inplace: bool = False, tolerance: float = DEFAULT_TOLERANCE,
                  directory: Optional[str] = None, compare_s: float = 0.02,
                  python_fn: Optional[Callable[[], Any]] = None) -> Tuple[Any, RunnerChoice]:
    """The loop for one layer call.

    Parameters
    ----------
    module, args, kwargs
        The layer and its captured inputs (the loops call ``module(*args, **kwargs)``).
    latency_s : float
        The layer's latency per call measured in a Python warm-up (NaN: unknown).
    native : {"auto", "always", "never"}
        ``auto``: native when ``edgepower._torch`` is available, the Python loop's per-call
        overhead exceeds ``tolerance`` x ``latency_s``, and the native loop's time per call,
        measured beside the Python loop's in windows of ``compare_s``, is lower; ``always``:
        native whenever it can be made; ``never``: the Python loop.
    inplace : bool
        The layer changes its inputs: the Python loop (which restores them) is used.
    python_fn : callable, optional
        What the Python loop calls (default ``module(*args, **kwargs)``), e.g. the bare
        function of a captured op rather than a module wrapping it.

    Returns
    -------
    (loop, RunnerChoice)
    """
    import torch

    if native not in ("auto", "always", "never"):
        raise ValueError(f"native must be 'auto', 'always' or 'never', got {native!r}")
    fn = python_fn or (lambda: module(*args, **kwargs))
    python = PythonLoop(fn)
    if native == "never":
        return python, RunnerChoice("python", "native=never")
    if inplace:
        return python, RunnerChoice("python", "changes its input in place: the Python loop restores it")
    from .. import torch_native

    st = torch_native.available()
    if not st:
        return python, RunnerChoice("python", f"edgepower._torch unavailable: {st.reason}")
    overhead = python_overhead_s()
    threshold = overhead / tolerance
    if native == "auto" and not (latency_s < threshold):
        return python, RunnerChoice("python", f"latency {latency_s * 1e6:.1f} us >= threshold {threshold * 1e6:.0f} us "
                                              f"(Python loop overhead {overhead * 1e6:.2f} us / {tolerance:.0%})")
    inputs = tensor_leaves(args, kwargs)
    compare_s_ns = int(compare_s * 1e9)
    try:
        if isinstance(module, torch.jit.ScriptModule):
            directory = directory or cache_dir()
            os.makedirs(directory, exist_ok=True)
            path = os.path.join(directory, f"script-{package_key(module, args, kwargs)}.pt")
            module.save(path)
            loop = NativeLoop(path, "torchscript", inputs)
            info: Dict[str, Any] = {"path": path}
        else:
            path, info = aoti_package(module, args, kwargs, directory)
            loop = NativeLoop(path, "aoti", inputs)
        with torch.inference_mode():
            ok, why = _outputs_match(loop.run(), fn())
            if not ok:
                return python, RunnerChoice("python", f"native outputs do not match eager ({why})", info)
            if native == "auto":
                # Native must actually cost less per call than the Python loop (an AOTInductor
                # call has its own fixed cost): a short window of each, best of three.
                per = {}
                for name, lp in (("python", python), ("native", loop)):
                    per[name] = min(_per_call_s(lp.window(compare_s_ns, 3)) for _ in range(3))
                info.update(python_per_call_s=per["python"], native_per_call_s=per["native"])
                if not per["native"] < per["python"]:
                    return python, RunnerChoice("python", f"native per call {per['native'] * 1e6:.2f} us is not below "
                                                          f"the Python loop's {per['python'] * 1e6:.2f} us", info)
    except Exception as exc:  # export or compile failed: the Python loop, saying why
        msg = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.info("%s: no native runner (%s); using the Python loop", type(module).__name__, msg)
        return python, RunnerChoice("python", f"cannot be compiled natively ({msg})")
    why = (f"latency {latency_s * 1e6:.1f} us < threshold {threshold * 1e6:.0f} us; native "
           f"{info['native_per_call_s'] * 1e6:.2f} us per call vs Python {info['python_per_call_s'] * 1e6:.2f} us"
           if native == "auto" else "native=always")
    if info.get("compile_s"):
        why += f"; compiled in {info['compile_s']:.1f} s"
    elif info.get("cached"):
        why += "; cached package"
    return loop, RunnerChoice(loop.name, why, info)
