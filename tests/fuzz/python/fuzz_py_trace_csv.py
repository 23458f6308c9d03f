"""Fuzz target: edgepower's Python trace CSV reader, edgepower.trace.read_trace (pandas' C parser
with a line-by-line fallback). The input follows the "# edgepower trace v1" line half of the time
(so the fuzzer works inside the format) and is the whole file otherwise.

Documented outcome: a Trace whose columns agree (one t_ns per row, non-decreasing, power and
counters of the rails' width), or a ValueError with a message (UnicodeDecodeError is one).
Anything else is a finding. Run: see harness.py."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

with harness.instrumented():
    from edgepower.trace import read_trace


def test_one(data: bytes) -> None:
    path = harness.scratch_file("trace.csv", data)
    try:
        tr = read_trace(path)
    except ValueError as exc:
        assert str(exc), "a ValueError without a message"
        return
    n = tr.t_ns.shape[0]
    assert tr.t_ns.dtype == np.int64 and tr.read_ns.shape == (n,)
    assert tr.power_w.shape == (n, len(tr.rails)), (tr.power_w.shape, tr.rails)
    assert tr.counter_j.shape[0] in (0, n) and tr.counter_j.shape[1] == len(tr.rails)
    assert n < 2 or bool(np.all(np.diff(tr.t_ns) >= 0)), "timestamps go backwards"
    assert isinstance(tr.meta, dict)


if __name__ == "__main__":
    harness.main(test_one, "py_trace_csv")
