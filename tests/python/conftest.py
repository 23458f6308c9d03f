import os
import time

import pytest


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
