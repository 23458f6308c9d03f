"""edgepower._torch from Python: loading and the ABI check, the op observer, the native runner.

Skips with the reason when torch or edgepower._torch is absent or mismatched; the fallback
tests (a mismatched build record, the switch) run whenever the library file exists.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="edgepower._torch needs torch")

from conftest import subprocess_env  # noqa: E402

from edgepower import torch_native  # noqa: E402
from edgepower._native import core  # noqa: E402

STATUS = torch_native.available()
needs_native = pytest.mark.skipif(not STATUS, reason=f"edgepower._torch unavailable: {STATUS.reason}")
needs_file = pytest.mark.skipif(torch_native.library_path() is None,
                                reason="libedgepower_torch.so was not built (torch absent at build time)")


# ---- loading and the ABI check ------------------------------------------------------------------
@needs_native
def test_build_record_matches_the_running_torch_and_the_library():
    rt = torch_native.runtime_facts()
    assert STATUS.build["torch_version"] == rt["torch_version"] == torch.__version__
    assert str(STATUS.build["cuda_version"]) == rt["cuda_version"] == (torch.version.cuda or "none")
    assert int(STATUS.build["cxx11_abi"]) == rt["cxx11_abi"]
    info = torch_native.build_info()  # from the loaded library itself
    assert info["torch_version"] == torch.__version__
    assert info["cxx11_abi"] == int(torch._C._GLIBCXX_USE_CXX11_ABI)


@needs_native
def test_native_clock_is_time_monotonic_ns():
    a = time.monotonic_ns()
    b = int(torch.ops.edgepower.now_ns())
    c = time.monotonic_ns()
    assert a <= b <= c


def _child(env_extra, code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env=subprocess_env(**env_extra))


@needs_file
def test_a_build_for_another_torch_warns_and_falls_back(tmp_path):
    src = torch_native.library_path()
    lib = tmp_path / torch_native.LIBRARY_NAME
    shutil.copy(src, lib)
    with open(os.path.splitext(src)[0] + ".json") as f:
        rec = json.load(f)
    rec["torch_version"] = "2.0.0+cpu"
    rec["cuda_version"] = "none"
    (tmp_path / torch_native.BUILD_INFO_NAME).write_text(json.dumps(rec))
    code = ("import warnings; warnings.simplefilter('always')\n"
            "import torch\n"
            "from edgepower import torch_native\n"
            "from edgepower.profile import runners\n"
            "s = torch_native.available()\n"
            "print('AVAILABLE', bool(s)); print('REASON', s.reason)\n"
            "print('LOADED', hasattr(torch.ops.edgepower, 'build_info'))\n"
            "loop, ch = runners.choose_runner(torch.nn.ReLU(), (torch.randn(8),), {}, 1e-6, native='always')\n"
            "print('RUNNER', ch.name, ch.why)\n")
    p = _child({torch_native.ENV_LIBRARY: str(lib)}, code)
    assert p.returncode == 0, p.stderr
    assert "RuntimeWarning" in p.stderr and "2.0.0+cpu" in p.stderr
    assert "AVAILABLE False" in p.stdout
    assert "torch_version '2.0.0+cpu' (built) vs" in p.stdout
    assert "LOADED False" in p.stdout, "a mismatched library must not even be loaded"
    assert "RUNNER python edgepower._torch unavailable" in p.stdout


def test_the_switch_disables_it():
    p = _child({torch_native.ENV_SWITCH: "0"},
               "from edgepower import torch_native as t; s = t.available(); print(bool(s), s.reason)\n"
               "try:\n    t.OpObserver()\nexcept t.TorchNativeUnavailable as e:\n    print('RAISED', e)\n")
    assert p.returncode == 0, p.stderr
    assert "False disabled by EDGEPOWER_TORCH_NATIVE=0" in p.stdout
    assert "RAISED edgepower._torch is unavailable: disabled" in p.stdout


def test_a_missing_library_says_how_to_build_it(tmp_path):
    p = _child({torch_native.ENV_LIBRARY: str(tmp_path / "nope.so")},
               "from edgepower import torch_native as t; print(t.available().reason)")
    assert p.returncode == 0, p.stderr
    assert "does not exist" in p.stdout


# ---- op observer --------------------------------------------------------------------------------
@needs_native
def test_observer_stamps_outermost_ops_in_order_on_the_sample_clock(one_torch_thread):
    a, b = torch.ones(8, 8), torch.ones(8, 8)
    before = time.monotonic_ns()
    with torch_native.OpObserver() as obs:
        c = torch.add(a, b)
        d = torch.nn.functional.linear(c, a)
        torch.relu(d)
    after = time.monotonic_ns()
    st = obs.stamps()
    assert not obs.active and st.dropped == 0
    w = st.windows(0)
    assert [st.names[i] for i in w["op"]] == ["aten::add", "aten::linear", "aten::relu"]
    assert np.all(w["t0_ns"] >= before) and np.all(w["t1_ns"] <= after)
    assert np.all(w["t1_ns"] >= w["t0_ns"]) and np.all(w["t0_ns"][1:] >= w["t1_ns"][:-1])
    # aten::linear's inner ops (aten::t, aten::addmm / aten::mm) are nested inside it, deeper.
    lin0, lin1 = w["t0_ns"][1], w["t1_ns"][1]
    inner = st.windows(1)
    mine = (inner["t0_ns"] >= lin0) & (inner["t0_ns"] <= lin1)
    assert mine.sum() >= 1
    assert np.all(inner["t1_ns"][mine] <= lin1)
    assert {st.names[i] for i in inner["op"][mine]} & {"aten::addmm", "aten::mm", "aten::matmul"}
    assert st.clock == "host (op execution)"


@needs_native
def test_observer_max_depth_and_capacity(one_torch_thread):
    x = torch.randn(4, 4)
    obs = torch_native.OpObserver(capacity_events=6, max_depth=1)
    with obs:
        for _ in range(5):
            torch.nn.functional.linear(x, x)
    assert len(obs) == 6 and obs.dropped == 4
    st = obs.stamps()
    assert set(st.depth.tolist()) == {0}
    assert [st.names[i] for i in st.windows(0)["op"]] == ["aten::linear"] * 3
    with pytest.raises(ValueError, match="max_depth"):
        torch_native.OpObserver(max_depth=0)
    with pytest.raises(ValueError, match="capacity_events"):
        torch_native.OpObserver(capacity_events=1)


@needs_native
def test_one_observer_per_thread_and_stop_on_the_starting_thread():
    a, b = torch_native.OpObserver(64), torch_native.OpObserver(64)
    with a:
        with pytest.raises(RuntimeError, match="another OpObserver is active on this thread"):
            b.start()
        err = []

        def other():
            try:
                a.stop()
            except RuntimeError as exc:
                err.append(str(exc))
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert err and "thread that called start()" in err[0]
    assert not a.active


@needs_native
def test_stamps_merge_into_the_timeline_as_matched_regions():
    x = torch.ones(16)
    tl = core.Timeline()
    model = tl.region("(model)")
    tl.begin(model)
    with torch_native.OpObserver(max_depth=1) as obs:
        y = torch.relu(x)
        torch.add(y, x)
    tl.end(model)
    ids = obs.stamps().merge_into(tl, prefix="op:")
    names = {tl.region_name(r) for r in ids.values()}
    assert names == {"op:aten::relu", "op:aten::add"}
    w = tl.windows()
    got = [tl.region_name(int(r)) for r in w["region"]]
    assert got == ["(model)", "op:aten::relu", "op:aten::add"]
    assert w["t0_ns"][1] >= w["t0_ns"][0] and w["t1_ns"][2] <= w["t1_ns"][0]
