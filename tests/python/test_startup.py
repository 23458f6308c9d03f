"""Ctrl-C while the command line starts: the guard of edgepower._startup (one line, exit 130, no
exception raised inside whatever was importing)."""
import signal
import subprocess
import sys

from conftest import subprocess_env
from edgepower import _startup

CHILD = """
import time
from edgepower._startup import guard
with guard():
    print("inside", flush=True)
    time.sleep(60)
print("after the block", flush=True)
"""


def test_guard_installs_and_restores_the_handler():
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with _startup.guard():
        assert signal.getsignal(signal.SIGINT) is _startup._leave
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with _startup.guard(enabled=False):  # in-process callers (cli.main(argv)) keep KeyboardInterrupt
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_guard_leaves_another_handler_alone():
    def mine(signum, frame):
        pass

    old = signal.signal(signal.SIGINT, mine)
    try:
        with _startup.guard():
            assert signal.getsignal(signal.SIGINT) is mine
        assert signal.getsignal(signal.SIGINT) is mine
    finally:
        signal.signal(signal.SIGINT, old)


def test_ctrl_c_inside_the_guard_is_one_line_and_130():
    proc = subprocess.Popen([sys.executable, "-c", CHILD], env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "inside"  # the child is in the block: deterministic, no sleep
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr == _startup.MESSAGE and "after the block" not in stdout
