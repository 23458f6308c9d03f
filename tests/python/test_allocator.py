"""The allocator setting of a profile (edgepower/profile/allocator.py): with glibc, freed
activations are kept for reuse, so the same allocation pattern stops taking page faults."""
import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from conftest import subprocess_env  # noqa: E402
from edgepower.profile import LayerProfiler, ProfileOptions, allocator  # noqa: E402

# One "forward" of a model whose activations outgrow glibc's starting thresholds: three 12.25 MiB
# blocks (the size of VGG11's first conv output, 64 x 224 x 224 float32) written and freed
# together, as a forward frees its activations. malloc/free are called directly (torch's CPU
# allocator calls the same glibc): with torch tensors, whether a small object of Python's lands
# above the blocks and keeps the heap from shrinking depends on the hash seed. The minor page
# faults of iterations 5-29 are counted (getrusage: the kernel's count, no timing involved).
FORWARDS = r"""
import ctypes, json, resource, sys
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
note = ""
if sys.argv[1] == "steady":
    from edgepower.profile.allocator import steady_heap
    note = steady_heap()
size = 64 * 224 * 224 * 4
faults = []
for i in range(30):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(size) for _ in range(3)]
    for b in blocks:
        libc.memset(b, 1, size)
    for b in blocks:
        libc.free(b)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults": faults[5:], "note": note}))
"""


def _forwards(mode):
    out = subprocess.run([sys.executable, "-c", FORWARDS, mode], env=subprocess_env(), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(allocator._glibc() is None, reason="the thresholds are glibc's (this C library is not glibc)")
def test_steady_heap_stops_the_page_faults_of_freed_activations():
    # 3 x 12.25 MiB = 36.75 MiB freed at once: glibc's own trim threshold (twice the largest freed
    # mmap'd block, 24.5 MiB here) hands it back every time, and the next iteration faults all of
    # it in again (3 x 3136 pages of 4 KiB; 9376 here). At 64 MiB it stays.
    as_is = _forwards("as-is")
    assert min(as_is["faults"]) > 3 * 3000, as_is
    steady = _forwards("steady")
    assert "32 MiB" in steady["note"] and "64 MiB" in steady["note"]
    assert max(steady["faults"]) < 50, steady  # a few pages of Python's own objects at most


class _FakeLibc:
    def __init__(self, result=1):
        self.calls, self.result = [], result

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.result


def test_steady_heap_sets_the_maxima_of_glibcs_own_adjustment():
    libc = _FakeLibc()
    note = allocator.steady_heap(libc)
    # M_MMAP_THRESHOLD (-3) at DEFAULT_MMAP_THRESHOLD_MAX (32 MiB on 64-bit), M_TRIM_THRESHOLD (-1)
    # at twice it, the value glibc's dynamic adjustment sets alongside it.
    assert libc.calls == [(-3, 32 << 20), (-1, 64 << 20)]
    assert "set for this process" in note
    refused = allocator.steady_heap(_FakeLibc(result=0))
    assert refused.startswith("left alone: glibc refused mallopt")


def test_as_is_leaves_the_allocator_alone_and_other_values_are_refused(monkeypatch):
    monkeypatch.setattr(allocator, "steady_heap", lambda libc=None: pytest.fail("as-is must not call mallopt"))
    assert allocator.allocator_note("as-is").startswith("left alone (allocator='as-is')")
    with pytest.raises(ValueError, match=r"allocator must be one of 'steady', 'as-is'.*got 'fast'"):
        ProfileOptions(allocator="fast")


def test_the_report_says_what_the_allocator_setting_did():
    net = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU())
    kw = dict(sensor="constant:5", rate_hz=1000, rounds=1, min_window_s=0.01, warmup=0, idle_s=0.0, idle_power_w=0.0)
    rep = LayerProfiler(net, allocator="as-is", **kw).profile(torch.randn(2, 32))
    assert rep.meta["method"]["allocator"] == {"mode": "as-is", "note": allocator.allocator_note("as-is")}
    rep = LayerProfiler(net, **kw).profile(torch.randn(2, 32))
    assert rep.meta["method"]["allocator"]["mode"] == "steady"
    assert rep.meta["method"]["allocator"]["note"] == allocator.steady_heap()
