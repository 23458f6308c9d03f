"""The command line: `edgepower monitor`, `edgepower sensors`, `python -m edgepower`."""
import subprocess
import sys

import numpy as np
import pytest

from edgepower import cli, trace

from conftest import subprocess_env


def test_monitor_writes_trace_and_reports(tmp_path, capsys):
    out = tmp_path / "trace.csv"
    rc = cli.main(["monitor", "--sensor", "constant:6", "--rate", "500", "--duration", "0.3", "-o", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "synthetic-constant" in text
    assert "average power:   6.000 W" in text
    tr = trace.read_trace(str(out))
    assert len(tr.t_ns) >= 100 and np.all(tr.power_w == 6.0)
    assert f"wrote {len(tr.t_ns)} samples" in text


def test_monitor_bad_input_is_a_clear_error(capsys):
    assert cli.main(["monitor", "--sensor", "constant:1", "--rate", "50000", "--duration", "1"]) == 2
    assert "rate_hz must be a number from 1 to 20000" in capsys.readouterr().err
    assert cli.main(["monitor", "--sensor", "nosuch", "--duration", "1"]) == 2
    assert "unknown sensor kind 'nosuch'" in capsys.readouterr().err
    assert cli.main(["monitor", "--sensor", "constant:1", "--duration", "-1"]) == 2
    assert "--duration must be a positive" in capsys.readouterr().err
    assert cli.main(["monitor", "--sensor", "constant:1", "--duration", "0.1", "-o", "/nonexistent/dir/t.csv"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_dash_m_works():
    r = subprocess.run([sys.executable, "-m", "edgepower", "monitor", "--sensor", "square:low=1,high=3,period=0.05",
                        "--rate", "1000", "--duration", "0.2"], capture_output=True, text=True, timeout=120,
                       env=subprocess_env())
    assert r.returncode == 0, r.stderr
    assert "average power:" in r.stdout and "lateness:" in r.stdout


def test_sensors_lists_kinds(capsys):
    assert cli.main(["sensors"]) == 0
    out = capsys.readouterr().out
    for kind in ("constant", "square", "piecewise", "regions"):
        assert kind in out
