"""edgepower.trace.read_trace: pandas' C parser on the data, and every error still names its line."""
from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pandas")

from edgepower import trace  # noqa: E402

HEAD = '# edgepower trace v1\n# meta: {"rate_hz": 1000.0}\n'


def _write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_round_trip_is_exact_with_counters_nan_and_comments(tmp_path):
    rng = np.random.default_rng(0)
    power = rng.uniform(0, 10, (50, 2))
    power[7, 1] = math.nan  # a reading the sensor did not give
    counter = np.cumsum(rng.uniform(0, 1, (50, 2)), axis=0)
    lines = [HEAD + "t_ns,read_ns,power_w:a,power_w:b,counter_j:a,counter_j:b"]
    for i in range(50):
        vals = ",".join("%.17g" % v for v in (*power[i], *counter[i]))
        lines.append(f"{1000 + i * 10},{i},{vals}")
        if i == 20:
            lines.append("# a comment inside the data")
            lines.append("")
    tr = trace.read_trace(_write(tmp_path, "\n".join(lines) + "\n"))
    assert tr.rails == ["a", "b"] and tr.meta == {"rate_hz": 1000.0}
    assert tr.t_ns.dtype == np.int64 and tr.read_ns.dtype == np.int32
    np.testing.assert_array_equal(tr.t_ns, 1000 + 10 * np.arange(50))
    np.testing.assert_array_equal(tr.power_w, power)  # bit for bit, NaN in place
    np.testing.assert_array_equal(tr.counter_j, counter)


def test_no_counters_and_no_rows(tmp_path):
    tr = trace.read_trace(_write(tmp_path, HEAD + "t_ns,read_ns,power_w:x\n"))
    assert tr.t_ns.shape == (0,) and tr.power_w.shape == (0, 1) and tr.counter_j.shape == (0, 1)


@pytest.mark.parametrize("body, message", [
    ("t_ns,read_ns,power_w:x\n1,2,3\n4,5\n", r"t\.csv:5: 2 fields, the header has 3"),
    ("t_ns,read_ns,power_w:x\n1,2,3\n4,5,6,7\n", r"t\.csv:5: 4 fields, the header has 3"),
    ("t_ns,read_ns,power_w:x\n1,2,3\n4,5,watts\n", r"t\.csv:5: not a number in '4,5,watts'"),
    ("t_ns,read_ns,power_w:x\n10,2,3\n4,5,6\n", r"t\.csv:5: timestamps go backwards"),
    ("time,read_ns,power_w:x\n", r"t\.csv:3: header must start with t_ns,read_ns"),
    ("", r"no header line"),
    # Found by fuzzing (tests/fuzz/regressions/py_trace_csv/): these columns were read as counters
    # of the wrong width, silently.
    ("t_ns,read_ns,power_w:a,powe:c_b,wrounter_j:a,counter_j:b\n1,2,3,4,5,6\n",
     r"t\.csv:3: unexpected column 'powe:c_b'"),
    ("t_ns,read_ns,power_w:a,power_w:b,counter_j:a\n1,2,3,4,5\n", r"t\.csv:3: 1 counter_j columns for 2 rails"),
    ("t_ns,read_ns\n1,2\n", r"t\.csv:3: no power_w:<rail> column"),
    ("t_ns,read_ns,counter_j:a,power_w:a\n1,2,3,4\n", r"t\.csv:3: unexpected column 'power_w:a'"),
    # ... and these raised OverflowError from the line-by-line reader.
    ("t_ns,read_ns,power_w:a\n1,2,3\n2,2147483648,3\n", r"t\.csv:5: a number out of range in '2,2147483648,3'"),
    ("t_ns,read_ns,power_w:a\n1,2,3\n99999999999999999999,2,3\n", r"t\.csv:5: a number out of range"),
    ("t_ns,read_ns,power_w:a\n1,2,3\n2,2,\n", r"t\.csv:5: not a number in '2,2,'"),
])
def test_errors_name_the_line(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        trace.read_trace(_write(tmp_path, HEAD + body))


def test_not_a_trace_and_bad_meta(tmp_path):
    with pytest.raises(ValueError, match="line 1 is 'a,b', expected '# edgepower trace v1'"):
        trace.read_trace(_write(tmp_path, "a,b\n1,2\n"))
    with pytest.raises(ValueError, match=r":2: bad meta JSON"):
        trace.read_trace(_write(tmp_path, "# edgepower trace v1\n# meta: {nope\nt_ns,read_ns\n"))


def test_an_unfinished_last_line_is_left_out_with_a_warning(tmp_path, caplog):
    # What a reader sees while the recorder writes, or after a kill mid-line: "3,4,5.2" may be
    # "3,4,5.25" cut short, so it is not taken as a sample.
    body = HEAD + "t_ns,read_ns,power_w:x\n1,2,3\n3,4,5.2"
    with caplog.at_level("WARNING", logger="edgepower"):
        tr = trace.read_trace(_write(tmp_path, body))
    np.testing.assert_array_equal(tr.t_ns, [1])
    np.testing.assert_array_equal(tr.power_w[:, 0], [3.0])
    assert "left out the last 7 bytes, an unfinished line" in caplog.text
    # The same line with its newline is a sample, without a warning.
    caplog.clear()
    with caplog.at_level("WARNING", logger="edgepower"):
        tr = trace.read_trace(_write(tmp_path, body + "\n", name="u.csv"))
    np.testing.assert_array_equal(tr.power_w[:, 0], [3.0, 5.2])
    assert caplog.text == ""


def test_a_trace_cut_inside_its_header_says_what_it_is(tmp_path):
    with pytest.raises(ValueError, match="no header line"):
        trace.read_trace(_write(tmp_path, HEAD + "t_ns,read_ns,pow"))
