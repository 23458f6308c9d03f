import contextlib
import ctypes
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SENSOR_DATA = REPO / "tests" / "data" / "sensors"


def wait_until(pred, timeout_s=10.0, poll_s=0.001):
    """Polls pred() until it is true or the deadline passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            return pred()
        time.sleep(poll_s)
    return True


@pytest.fixture
def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def subprocess_env(**extra):
    """Environment for a child Python that must import the same edgepower as this test run
    (installed in the venv, or a source tree on PYTHONPATH with an in-place build)."""
    import edgepower

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(edgepower.__file__)))
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [pkg_parent, os.environ.get("PYTHONPATH")]))
    return env


@pytest.fixture
def one_torch_thread():
    """One torch thread and a fixed seed: leaves a core to the sampler thread on small CI
    machines, so window edges are sampled on time."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(n)


def fixture_tree(tmp_path: Path, *names: str) -> str:
    """A writable root made of one or more fixture trees of tests/data/sensors merged."""
    root = tmp_path / "root"
    for name in names:
        shutil.copytree(SENSOR_DATA / name, root, dirs_exist_ok=True)
    root.mkdir(exist_ok=True)
    os.chmod(root, 0o755)
    os.chmod(tmp_path, 0o755)
    return str(root)


@contextlib.contextmanager
def denied():
    """Makes opening a 0400/0000 file fail with EACCES in this thread, even as root: while the
    filesystem uid is not 0 the kernel drops CAP_DAC_OVERRIDE (setfsuid(2))."""
    if os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsuid(65534)
    try:
        yield
    finally:
        libc.setfsuid(0)


def _compile_fake_nvml(out: Path, *defines: str) -> Path:
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        pytest.skip("no C++ compiler (c++) to build the fake libnvidia-ml")
    cmd = [cxx, "-std=c++17", "-shared", "-fPIC", "-O1", f"-I{REPO / 'csrc'}", *[f"-D{d}" for d in defines],
           str(REPO / "tests" / "fake_nvml" / "fake_nvml.cpp"), "-o", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="session")
def fake_nvml(tmp_path_factory) -> dict:
    """A fake libnvidia-ml compiled here in three builds (tests/fake_nvml), loaded through the
    real dlopen path: paths by variant."""
    d = tmp_path_factory.mktemp("fake_nvml")
    return {"full": str(_compile_fake_nvml(d / "libfake_nvml.so")),
            "legacy": str(_compile_fake_nvml(d / "libfake_nvml_legacy.so", "FAKE_NVML_LEGACY")),
            "nohandle": str(_compile_fake_nvml(d / "libfake_nvml_nohandle.so", "FAKE_NVML_NO_HANDLE"))}
