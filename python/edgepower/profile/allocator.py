"""Where freed activations go between calls: kept by the C allocator, or handed back to the kernel.

glibc's malloc serves a large block from the heap once a block of that size has been freed, and
hands the free top of the heap back to the kernel when it exceeds a trim threshold that it
raises as it goes (to twice the largest freed mmap'd block, at most 64 MiB on 64-bit). Until the
thresholds have grown past what a model frees, every forward hands its activations back and
takes fresh pages for them again: on the 2-CPU VM of docs/accuracy.md, VGG11 (batch 1) took
6240 minor page faults (24 MiB) per forward in steady state, 20 ms of system time in a 181 ms
forward.

In isolation this is worse than a cost: it is noise. Which call lands on fresh pages depends on
what the previous call site left on the heap, so a layer's windows are either fault-free or
fault on every call. VGG11's first conv (12.8 MB output) ran at 3.5-7 ms per call in most rounds
and at 17-29 ms (system time: the faults) in 1 to 4 rounds out of 64, which kept its 95 % CI at
14-18 % after 64 rounds while every other conv and linear was within 10 %.

``allocator="steady"`` (the default) sets the two thresholds to the values glibc's own
adjustment ends at (mmap 32 MiB, trim 64 MiB) before the profile, so freed activations are
reused from the first forward on: the same VGG11 forward then took 0 faults and 159 ms, and the
first conv's calls 2.2-2.5 ms (p50-p90) against 2.6-8.3 ms. Layers and the whole model are
measured in that steady state, which is what a long-running deployment reaches when its
allocator keeps memory (glibc after its thresholds have grown, jemalloc, tcmalloc). glibc has no
way back to its adaptive mode, so the setting stays for the rest of the process (at most 64 MiB
of free heap kept); ``"as-is"`` leaves the allocator alone. Other C libraries (musl, macOS) are
left alone and the report says so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any, Optional

ALLOCATOR_MODES = ("steady", "as-is")
#: glibc's mallopt parameter numbers (malloc.h) and the largest values its dynamic adjustment
#: reaches on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX, and twice it for the trim threshold).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 * 2 ** 20
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES

_applied: Optional[str] = None  # what steady_heap() did in this process (it is process-wide)


def _glibc() -> Any:
    """The process's C library when it is glibc (it has gnu_get_libc_version), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc's own symbol: musl and others lack it
    except (OSError, AttributeError):
        return None
    return libc


def steady_heap(libc: Any = None) -> str:
    """Sets glibc's mmap and trim thresholds to their dynamic maxima (once per process) and
    says what was done, or why nothing was."""
    global _applied
    if _applied is not None and libc is None:
        return _applied
    lib = _glibc() if libc is None else libc
    if lib is None:
        note = "left alone: the C library is not glibc (its allocator's own policy applies)"
    elif lib.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and \
            lib.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1:
        note = (f"glibc malloc: mmap threshold {MMAP_THRESHOLD_BYTES >> 20} MiB, trim threshold "
                f"{TRIM_THRESHOLD_BYTES >> 20} MiB (the maxima of its own adjustment), set for this process: freed "
                "activations are reused instead of faulted in again on every call (profile/allocator.py)")
    else:
        note = "left alone: glibc refused mallopt (its allocator's own policy applies)"
    if libc is None:
        _applied = note
    return note


def allocator_note(mode: str) -> str:
    """What the profile's allocator setting ``mode`` did (see the module's docstring)."""
    if mode == "as-is":
        return "left alone (allocator='as-is'): layers that land on fresh pages pay their page faults"
    return steady_heap()


__all__ = ["ALLOCATOR_MODES", "allocator_note", "steady_heap"]
