"""Isolated-layer loops (edgepower.profile.runners): the choice and its reasons, the native runner's
repeats and stamps, GIL release, AOTInductor packages and their cache, the CUDA graph guard."""
import math
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the runners need torch")

from edgepower import torch_native  # noqa: E402
from edgepower.profile import runners  # noqa: E402

STATUS = torch_native.available()
needs_native = pytest.mark.skipif(not STATUS, reason=f"edgepower._torch unavailable: {STATUS.reason}")


class Branchy(torch.nn.Module):
    """Data-dependent control flow: torch.export cannot trace it."""

    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x


class AddOne(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x) + 1.0


def test_python_overhead_is_measured():
    o = runners.python_overhead_s()
    # One nn.Identity call in a Python loop: well above a bare clock read, far below a millisecond.
    assert 50e-9 < o < 1e-3


def test_python_loop_windows():
    x = torch.randn(16)
    loop = runners.PythonLoop(lambda: torch.relu(x))
    w = loop.window(0, 7, 7)
    assert w.calls == 7 and w.t1_ns >= w.t0_ns
    w = loop.window(2_000_000, 3)
    assert w.calls >= 3 and w.t1_ns - w.t0_ns >= 2_000_000


def test_choice_reasons_for_the_python_loop():
    x = torch.randn(8)
    _, ch = runners.choose_runner(torch.nn.ReLU(), (x,), {}, 1e-6, native="never")
    assert (ch.name, ch.why) == ("python", "native=never")
    _, ch = runners.choose_runner(torch.nn.ReLU(inplace=True), (x,), {}, 1e-6, inplace=True)
    assert ch.name == "python" and "in place" in ch.why
    with pytest.raises(ValueError, match="native must be"):
        runners.choose_runner(torch.nn.ReLU(), (x,), {}, 1e-6, native="sometimes")


@needs_native
def test_a_slow_layer_keeps_the_python_loop():
    _, ch = runners.choose_runner(torch.nn.ReLU(), (torch.randn(8),), {}, 1.0)  # one second per call
    assert ch.name == "python" and "threshold" in ch.why


@needs_native
def test_a_layer_that_cannot_be_exported_falls_back_saying_why(tmp_path, monkeypatch):
    monkeypatch.setenv(runners.ENV_CACHE, str(tmp_path))
    _, ch = runners.choose_runner(Branchy(), (torch.randn(8),), {}, 1e-6, native="always")
    assert ch.name == "python"
    assert ch.why.startswith("cannot be compiled natively (")


@needs_native
def test_torchscript_module_runs_natively_and_stamps_each_repeat(tmp_path, one_torch_thread):
    x = torch.randn(64)
    script = torch.jit.script(AddOne())
    loop, ch = runners.choose_runner(script, (x,), {}, 1e-6, directory=str(tmp_path))
    assert ch.name == "native-torchscript", ch.why
    torch.testing.assert_close(loop.run()[0], torch.relu(x) + 1.0)
    before = time.monotonic_ns()
    w = loop.window(0, 25, 25, warmup=3)
    after = time.monotonic_ns()
    assert w.calls == 25 and w.stamps.shape == (26,)
    assert before <= w.t0_ns and w.t1_ns <= after
    assert np.all(np.diff(w.stamps) > 0)
    w = loop.window(3_000_000, 2)
    assert w.stamps[-1] - w.stamps[0] >= 3_000_000
    if w.calls > 2:
        assert w.stamps[-2] - w.stamps[0] < 3_000_000  # stops at the first call past the target


@needs_native
def test_the_native_loop_releases_the_gil(tmp_path, one_torch_thread):
    loop, ch = runners.choose_runner(torch.jit.script(AddOne()), (torch.randn(256),), {}, 1e-6,
                                     directory=str(tmp_path))
    assert ch.name == "native-torchscript"
    count = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        c0 = count[0]
        time.sleep(0.2)
        base = (count[0] - c0) / 0.2
        c0 = count[0]
        w = loop.window(300_000_000, 1)
        during = (count[0] - c0) / ((w.t1_ns - w.t0_ns) * 1e-9)
    finally:
        stop.set()
        t.join()
    # Holding the GIL for the 0.3 s window would let the spinning thread run only between
    # switch intervals around the call (<= 2 x 5 ms, under 4 % of the window). Released, it
    # runs throughout; on a loaded 2-core machine it may get less CPU than while the main
    # thread slept, so require a quarter of its idle rate.
    assert during > 0.25 * base, (during, base)


def test_package_key_covers_code_shapes_and_weights():
    torch.manual_seed(0)
    a = torch.nn.Linear(8, 8)
    torch.manual_seed(0)
    b = torch.nn.Linear(8, 8)
    c = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    k = runners.package_key(a, (x,), {})
    assert k == runners.package_key(b, (x,), {})  # same code, shapes, weights
    assert k != runners.package_key(c, (x,), {})  # other weights (inductor bakes them in)
    assert k != runners.package_key(a, (torch.randn(3, 8),), {})
    assert k != runners.package_key(torch.nn.Linear(8, 8, bias=False), (x,), {})


@needs_native
@pytest.mark.slow
def test_aoti_package_is_compiled_once_then_cached(tmp_path, one_torch_thread):
    # One AOTInductor compile (about a minute on a 2-core machine: a C++ compile at run time).
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 8).eval()
    x = torch.randn(2, 8)
    loop, ch = runners.choose_runner(lin, (x,), {}, 1e-6, native="always", directory=str(tmp_path))
    assert ch.name == "native-aoti", ch.why
    assert ch.info["cached"] is False and ch.info["compile_s"] > 0
    assert "compiled in" in ch.why
    with torch.inference_mode():
        torch.testing.assert_close(loop.run()[0], lin(x), rtol=1e-4, atol=1e-5)
    w = loop.window(0, 10, 10)
    assert w.calls == 10 and np.all(np.diff(w.stamps) > 0)
    loop2, ch2 = runners.choose_runner(lin, (x,), {}, 1e-6, native="always", directory=str(tmp_path))
    assert ch2.name == "native-aoti" and ch2.info["cached"] is True and ch2.info["path"] == ch.info["path"]
    assert "cached package" in ch2.why


def test_cuda_graph_replay_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the guard is for machines without one")
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        runners.CudaGraphLoop(lambda: None, 1e-5)


@pytest.mark.cuda
def test_cuda_graph_replay_windows():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    x = torch.randn(1024, device="cuda")
    y = torch.empty_like(x)
    loop = runners.CudaGraphLoop(lambda: y.copy_(torch.relu(x)), 1e-5)
    assert loop.k >= 1
    w = loop.window(2_000_000, 1)
    assert w.calls % loop.k == 0 and w.t1_ns - w.t0_ns >= 2_000_000
    assert math.isfinite(float(y.sum()))
