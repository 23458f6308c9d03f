"""The LibTorch component ``edgepower._torch`` from Python: availability, the op observer.

``edgepower._torch`` is a torch op library (``libedgepower_torch.so``, built from csrc/torch/
when torch is importable at build time: ``EDGEPOWER_WITH_TORCH=AUTO``), not a Python
extension: it is loaded with :func:`torch.ops.load_library` and used through
``torch.classes.edgepower`` and ``torch.ops.edgepower``. It records the torch version, CUDA
version and C++ ABI it was built against in ``libedgepower_torch.json`` beside it; this module
compares them with the running torch *before* loading the library, and on a mismatch warns
once and leaves it unloaded, so every caller falls back to the pure-Python paths.
:func:`available` says whether it is usable and, if not, why.

Environment: ``EDGEPOWER_TORCH_NATIVE=0`` disables it (the pure-Python paths run);
``EDGEPOWER_TORCH_LIBRARY=/path/libedgepower_torch.so`` loads that file instead of the one
installed with edgepower.

Op observer
-----------
:class:`OpObserver` stamps the begin and end of every ATen op run on the calling thread
(RecordFunction callbacks, FUNCTION scope, no inputs) on CLOCK_MONOTONIC, the clock of
edgepower's samples and marks, into a preallocated buffer. Nested ops carry their depth
below the outermost observed op; :meth:`OpStamps.windows` pairs begins and ends into per-op
windows, :meth:`OpStamps.merge_into` appends them to an edgepower timeline. On CUDA the stamps
are the host times of the ops' dispatch, i.e. kernel *launch* times, not GPU execution:
``OpStamps.launch_times`` says so and readers label their rows accordingly.

Examples
--------
>>> from edgepower import torch_native
>>> if torch_native.available():                              # doctest: +SKIP
...     with torch_native.OpObserver() as obs:
...         model(x)
...     st = obs.stamps()
...     w = st.windows()                 # outermost ops: op, name, t0_ns, t1_ns
"""
from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

log = logging.getLogger("edgepower")

LIBRARY_NAME = "libedgepower_torch.so"
BUILD_INFO_NAME = "libedgepower_torch.json"
ENV_SWITCH = "EDGEPOWER_TORCH_NATIVE"
ENV_LIBRARY = "EDGEPOWER_TORCH_LIBRARY"
#: Events preallocated by default (an op is 2 events; 16 bytes each: 32 MB).
DEFAULT_CAPACITY = 2_000_000

__all__ = ["BUILD_INFO_NAME", "DEFAULT_CAPACITY", "LIBRARY_NAME", "NativeStatus", "OpObserver", "OpStamps",
           "TorchNativeUnavailable", "available", "build_info", "library_path", "require", "runtime_facts"]


class TorchNativeUnavailable(RuntimeError):
    """``edgepower._torch`` cannot be used here; the message says why and how to get it."""


@dataclass(frozen=True)
class NativeStatus:
    """Whether ``edgepower._torch`` is loaded and usable; truthy when it is.

    Attributes
    ----------
    available : bool
    reason : str
        Why not (empty when available).
    library : str or None
        The library file found (or tried).
    build : dict
        What it was built against (``torch_version``, ``cuda_version``, ``cxx11_abi``,
        ``compiler``), from its JSON; empty when none was found.
    runtime : dict
        The running torch: the same keys.
    """

    available: bool
    reason: str = ""
    library: Optional[str] = None
    build: Dict[str, Any] = field(default_factory=dict)
    runtime: Dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return self.available


_lock = threading.Lock()
_status: Optional[NativeStatus] = None

_BUILD_HINT = ("build it with torch visible to the build: `./scripts/test.sh` does, or "
               "`pip install --no-build-isolation -C cmake.define.EDGEPOWER_WITH_TORCH=ON .` "
               "(after `pip install scikit-build-core pybind11 ninja`)")


def runtime_facts() -> Dict[str, Any]:
    """The running torch: version, CUDA version ('none' for a CPU build), C++11 ABI flag."""
    import torch

    return {"torch_version": torch.__version__, "cuda_version": torch.version.cuda or "none",
            "cxx11_abi": int(bool(torch._C._GLIBCXX_USE_CXX11_ABI))}


def library_path() -> Optional[str]:
    """The ``libedgepower_torch.so`` to load: ``$EDGEPOWER_TORCH_LIBRARY``, else the one beside
    the installed ``edgepower._core`` (editable installs keep it there), else beside this file.
    None when there is none."""
    env = os.environ.get(ENV_LIBRARY)
    if env:
        return env
    dirs = []
    try:
        from ._native import core

        dirs.append(os.path.dirname(os.path.abspath(core.__file__)))
    except Exception:  # pragma: no cover - the core is always there when edgepower imports
        pass
    dirs.append(os.path.dirname(os.path.abspath(__file__)))
    for d in dirs:
        p = os.path.join(d, LIBRARY_NAME)
        if os.path.exists(p):
            return p
    return None


def _mismatch(build: Dict[str, Any], runtime: Dict[str, Any]) -> str:
    diffs = [f"{k} {build.get(k)!r} (built) vs {runtime[k]!r} (running)"
             for k in ("torch_version", "cuda_version", "cxx11_abi") if str(build.get(k)) != str(runtime[k])]
    return "; ".join(diffs)


def _probe() -> NativeStatus:
    switch = os.environ.get(ENV_SWITCH, "").strip().lower()
    if switch in ("0", "off", "false", "no"):
        return NativeStatus(False, f"disabled by {ENV_SWITCH}={os.environ[ENV_SWITCH]}")
    try:
        import torch
    except ImportError as exc:
        return NativeStatus(False, f"torch is not importable ({exc}); install the torch build that matches "
                                   "your device")
    runtime = runtime_facts()
    path = library_path()
    if path is None:
        return NativeStatus(False, f"{LIBRARY_NAME} is not installed with edgepower (it is built only when torch "
                                   f"is importable at build time); {_BUILD_HINT}", None, {}, runtime)
    if not os.path.exists(path):
        return NativeStatus(False, f"{ENV_LIBRARY}={path} does not exist", path, {}, runtime)
    info_path = os.path.splitext(path)[0] + ".json"
    try:
        with open(info_path) as f:
            build = json.load(f)
    except (OSError, ValueError) as exc:
        return NativeStatus(False, f"cannot read the build record {info_path} ({exc}); rebuild edgepower",
                            path, {}, runtime)
    diff = _mismatch(build, runtime)
    if diff:
        reason = (f"{LIBRARY_NAME} was built against another torch: {diff}. The pure-Python paths are used; "
                  f"rebuild edgepower against this torch ({_BUILD_HINT})")
        warnings.warn(f"edgepower: {reason}", RuntimeWarning, stacklevel=3)
        return NativeStatus(False, reason, path, build, runtime)
    try:
        torch.ops.load_library(path)
        got = list(torch.ops.edgepower.build_info())
    except Exception as exc:  # a broken or foreign file
        reason = f"loading {path} failed: {type(exc).__name__}: {exc}; rebuild edgepower ({_BUILD_HINT})"
        warnings.warn(f"edgepower: {reason}", RuntimeWarning, stacklevel=3)
        return NativeStatus(False, reason, path, build, runtime)
    if got[0] != build.get("torch_version") or got[1] != str(build.get("cuda_version")):
        return NativeStatus(False, f"{path} reports torch {got[0]} / CUDA {got[1]} but its build record says "
                                   f"{build.get('torch_version')} / {build.get('cuda_version')}: a stale file; "
                                   "rebuild edgepower", path, build, runtime)
    return NativeStatus(True, "", path, build, runtime)


def available() -> NativeStatus:
    """Whether ``edgepower._torch`` is loaded and usable here, and why not (truthy when it is).

    The first call looks for the library, checks its build record against the running torch
    and loads it; a mismatch warns once (RuntimeWarning) and returns a status saying what
    differs.
    """
    global _status
    with _lock:
        if _status is None:
            _status = _probe()
            if not _status.available:
                log.info("edgepower._torch unavailable: %s", _status.reason)
        return _status


def require() -> None:
    """Raises :class:`TorchNativeUnavailable` with the reason when :func:`available` is false."""
    st = available()
    if not st:
        raise TorchNativeUnavailable(f"edgepower._torch is unavailable: {st.reason}")


def build_info() -> Dict[str, Any]:
    """What the loaded library was built against (from the library itself)."""
    require()
    import torch

    v = list(torch.ops.edgepower.build_info())
    return {"torch_version": v[0], "cuda_version": v[1], "cxx11_abi": int(v[2]), "compiler": v[3]}


# ---- op observer --------------------------------------------------------------------------------
@dataclass
class OpStamps:
    """Op events of one observer, in recording order (one thread, so in time order).

    Attributes
    ----------
    t_ns : int64 array
        CLOCK_MONOTONIC ns.
    op : int32 array
        Index into ``names``.
    kind : uint8 array
        1 = begin, 0 = end (the encoding of timeline marks).
    depth : int16 array
        0 = outermost observed op, 1 = called by it, ...
    names : list of str
        Op names (``aten::add``).
    dropped : int
        Events lost to a full buffer (0 normally).
    launch_times : bool
        The ops ran on CUDA: stamps are kernel launch (dispatch) times, not GPU execution.
    """

    t_ns: np.ndarray
    op: np.ndarray
    kind: np.ndarray
    depth: np.ndarray
    names: List[str]
    dropped: int = 0
    launch_times: bool = False

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    @property
    def clock(self) -> str:
        """What a stamp is: ``"host (op execution)"`` or ``"host (CUDA kernel launch)"``."""
        return "host (CUDA kernel launch)" if self.launch_times else "host (op execution)"

    def windows(self, depth: int = 0) -> Dict[str, Any]:
        """Begin/end pairs of the ops at ``depth`` (0: outermost), sorted by begin.

        Returns
        -------
        dict with ``op`` (int32), ``t0_ns``, ``t1_ns`` (int64) arrays and ``names``. A begin
        without its end (the observer stopped inside the op) is left out.
        """
        sel = self.depth == depth
        t, op, kind = self.t_ns[sel], self.op[sel], self.kind[sel]
        # At one depth ops do not nest: each begin is closed by the next event, an end of the
        # same op (a begin followed by a begin lost its end).
        b = np.flatnonzero(kind[:-1] == 1) if t.shape[0] else np.zeros(0, dtype=np.int64)
        ok = b[(kind[b + 1] == 0) & (op[b + 1] == op[b])] if b.shape[0] else b
        return {"op": op[ok].astype(np.int32), "t0_ns": t[ok].astype(np.int64), "t1_ns": t[ok + 1].astype(np.int64),
                "names": list(self.names)}

    def merge_into(self, timeline: Any, prefix: str = "", depth: Optional[int] = 0) -> Dict[int, int]:
        """Appends these events to an edgepower timeline (``Timeline.merge``), one region per op
        name (``prefix + name``). ``depth``: only ops at this depth (None: all). Returns
        {op id: region id}. Begins whose end is missing are left out, so regions stay matched."""
        if depth is None:
            sel = np.ones(len(self), dtype=bool)
            t, op, kind = self.t_ns, self.op, self.kind
        else:
            w = self.windows(depth)
            n = w["op"].shape[0]
            t = np.empty(2 * n, dtype=np.int64)
            t[0::2], t[1::2] = w["t0_ns"], w["t1_ns"]
            op = np.repeat(w["op"], 2)
            kind = np.tile(np.array([1, 0], dtype=np.uint8), n)
            sel = np.ones(2 * n, dtype=bool)
        ids = {int(i): int(timeline.region(prefix + self.names[int(i)])) for i in np.unique(op[sel])}
        lut = np.full(len(self.names) + 1, -1, dtype=np.int32)
        for k, v in ids.items():
            lut[k] = v
        timeline.merge(t[sel].astype(np.int64), lut[op[sel]], kind[sel].astype(np.uint8))
        return ids


class OpObserver:
    """Stamps every ATen op run on this thread while active (a context manager).

    Parameters
    ----------
    capacity_events : int
        Events preallocated (an op is two); further events are dropped and counted.
    max_depth : int
        Record only ops nested less deep than this (1: the outermost only, the cheapest
        buffer use); -1: all.
    launch_times : bool, optional
        Label the stamps as CUDA launch times; default: when CUDA is initialised in this
        process.

    Raises
    ------
    TorchNativeUnavailable
        ``edgepower._torch`` is not usable here (the message says why).
    """

    def __init__(self, capacity_events: int = DEFAULT_CAPACITY, max_depth: int = -1,
                 launch_times: Optional[bool] = None):
        require()
        import torch

        if isinstance(capacity_events, bool) or not isinstance(capacity_events, int) or capacity_events < 2:
            raise ValueError(f"capacity_events must be an int >= 2 (an op is a begin and an end), got {capacity_events!r}")
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or not (max_depth == -1 or max_depth >= 1):
            raise ValueError(f"max_depth must be -1 (all ops) or >= 1 (1: outermost only), got {max_depth!r}")
        self._obs = torch.classes.edgepower.OpObserver(capacity_events, max_depth)
        self._launch = launch_times

    def start(self) -> "OpObserver":
        """Starts observing the calling thread (RuntimeError if another observer is active on it)."""
        self._obs.start()
        return self

    def stop(self) -> None:
        """Stops; must run on the thread that started it."""
        self._obs.stop()

    @property
    def active(self) -> bool:
        return bool(self._obs.active())

    def __len__(self) -> int:
        return int(self._obs.size())

    @property
    def dropped(self) -> int:
        return int(self._obs.dropped())

    def clear(self) -> None:
        """Forgets the recorded events (stop first)."""
        self._obs.clear()

    def __enter__(self) -> "OpObserver":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stamps(self, begin: int = 0) -> OpStamps:
        """The events from index ``begin`` as arrays (warns when events were dropped)."""
        t, op, kind, depth = self._obs.events(int(begin))
        dropped = self.dropped
        if dropped:
            log.warning("OpObserver: %d events dropped (buffer of %d full); give a larger capacity_events",
                        dropped, int(self._obs.capacity()))
        launch = self._launch
        if launch is None:
            import torch

            launch = bool(torch.cuda.is_available() and torch.cuda.is_initialized())
        return OpStamps(t.numpy(), op.numpy(), kind.numpy(), depth.numpy(), list(self._obs.names()), dropped,
                        bool(launch))


# At import: find, check and load the library, so a mismatched build warns now (and every
# caller then takes the pure-Python path).
available()
