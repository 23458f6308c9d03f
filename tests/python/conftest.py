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
