"""`edgepower monitor -- CMD`, `--prometheus` (scraped over loopback), `--json`; `mon.window()`,
`@edgepower.measure`; and the CLI polish: --version, -o/--output, no markup in --help, warnings
and logs on stderr."""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

import edgepower
from edgepower import cli

from conftest import wait_until


def _cmd(code: str):
    return ["--", sys.executable, "-c", code]


def test_command_exit_code_and_energy(capfd):
    rc = cli.main(["monitor", "--sensor", "constant:5", "--rate", "1000"]
                  + _cmd("import time, sys; print('hello from the command'); time.sleep(0.3); sys.exit(3)"))
    out, err = capfd.readouterr()
    assert rc == 3
    assert out == "hello from the command\n"  # stdout is the command's alone
    assert "command exited with 3" in err and "average power:   5.000 W" in err
    line = next(x for x in err.splitlines() if x.startswith("duration:"))
    assert float(line.split()[1]) >= 0.3


def test_command_killed_by_a_signal_is_128_plus_n(capfd):
    rc = cli.main(["monitor", "--sensor", "constant:1"] + _cmd("import os, signal; os.kill(os.getpid(), signal.SIGTERM)"))
    assert rc == 128 + 15
    assert "command exited with 143" in capfd.readouterr().err


def test_command_json_on_stdout(capfd):
    rc = cli.main(["monitor", "--sensor", "constant:4", "--json"] + _cmd("import time; time.sleep(0.2)"))
    out, err = capfd.readouterr()
    assert rc == 0
    d = json.loads(out)
    m = d["measurement"]
    assert d["exit_code"] == 0 and d["command"][0] == sys.executable
    # A constant sensor integrates exactly: energy = 4 W x the window.
    assert m["energy_j"] == pytest.approx(4.0 * m["duration_s"], rel=1e-9)
    assert m["duration_s"] >= 0.2 and d["stats"]["samples"] > 10
    assert d["sensor"] == "synthetic-constant" and d["estimated"] is False


def test_duration_json_to_a_file(tmp_path, capsys):
    path = tmp_path / "m.json"
    assert cli.main(["monitor", "--sensor", "constant:2,1", "--duration", "0.2", "--json", str(path)]) == 0
    d = json.loads(path.read_text())
    assert d["rails"] == ["rail0", "rail1"]
    per = d["measurement"]["energy_per_rail_j"]
    assert per["rail0"] == pytest.approx(2 * per["rail1"], rel=1e-9)
    assert capsys.readouterr().out == f"wrote {path}\n"  # the JSON instead of the text summary


def test_monitor_argument_errors(capsys):
    assert cli.main(["monitor", "--sensor", "constant:1", "--duration", "1"] + _cmd("pass")) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert cli.main(["monitor", "--sensor", "constant:1", "--"]) == 2
    assert "nothing to run after --" in capsys.readouterr().err
    assert cli.main(["monitor", "--sensor", "constant:1", "--prometheus", "9464", "--duration", "0.1"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert cli.main(["monitor", "--sensor", "constant:1", "--", "/nonexistent/program"]) == 2
    assert "cannot run '/nonexistent/program'" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(url):
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + "".join(f"{{{k}={v}}}" for k, v in sorted(s.labels.items()) if k == "rail")
            out[key] = (s.value, s.labels)
    return out


def test_prometheus_exporter_over_loopback(capsys):
    pytest.importorskip("prometheus_client")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    rc = []
    t = threading.Thread(target=lambda: rc.append(cli.main(
        ["monitor", "--sensor", "constant:5,3", "--rate", "1000", "--duration", "3", "--prometheus",
         f"127.0.0.1:{port}"])))
    t.start()
    try:
        def up():
            try:
                return _scrape(url).get("edgepower_samples_total", (0,))[0] > 20
            except OSError:
                return False
        # Bounded: the server is up within a few seconds of the monitor's start, or the test fails.
        assert wait_until(up, timeout_s=20, poll_s=0.05)
        a = _scrape(url)
        time.sleep(0.3)
        b = _scrape(url)
    finally:
        t.join(timeout=30)
    assert rc == [0]
    for s in (a, b):
        assert s["edgepower_power_watts{rail=rail0}"][0] == 5.0
        assert s["edgepower_power_watts{rail=rail1}"][0] == 3.0
        assert s["edgepower_board_power_watts"][0] == 8.0
        sec = s["edgepower_monitored_seconds_total"][0]
        # Constant power integrates exactly: energy = power x the time covered.
        assert s["edgepower_energy_joules_total{rail=rail0}"][0] == pytest.approx(5.0 * sec, rel=1e-9)
        assert s["edgepower_energy_joules_total{rail=rail1}"][0] == pytest.approx(3.0 * sec, rel=1e-9)
        assert s["edgepower_board_energy_joules_total"][0] == pytest.approx(8.0 * sec, rel=1e-9)
        info = s["edgepower_sensor_info"][1]
        assert info["sensor"] == "synthetic-constant" and info["estimated"] == "false"
    # Counters only grow (the second scrape covers 0.3 s more of sampling).
    assert b["edgepower_monitored_seconds_total"][0] >= a["edgepower_monitored_seconds_total"][0] + 0.25
    assert b["edgepower_samples_total"][0] > a["edgepower_samples_total"][0]
    # The server is gone with the command.
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=2)
    assert f"serving Prometheus metrics at {url}" in capsys.readouterr().err


def test_window_context_manager():
    with edgepower.PowerMonitor("constant:4", rate_hz=2000) as mon:
        with mon.window("block") as w:
            assert w.measurement is None
            time.sleep(0.05)
        with pytest.raises(RuntimeError, match="inside"):
            with mon.window("failing") as w2:
                time.sleep(0.02)
                raise RuntimeError("inside")
    assert w.measurement.name == "block" and w.measurement.duration_s >= 0.05
    assert w.energy_j == pytest.approx(4.0 * w.measurement.duration_s, rel=1e-9)
    assert w2.measurement.ok and mon.open_windows() == []  # measured and closed despite the exception


def test_measure_decorator():
    seen = []

    @edgepower.measure(sensor="constant:3", rate_hz=2000, callback=seen.append)
    def work(x):
        time.sleep(0.03)
        return x * 2

    assert work(21) == 42 and work(1) == 2
    assert len(work.measurements) == 2 and seen == work.measurements
    assert work.last.name.endswith("work")
    assert work.last.energy_j == pytest.approx(3.0 * work.last.duration_s, rel=1e-9)

    with edgepower.PowerMonitor("constant:2", rate_hz=2000) as mon:
        @edgepower.measure(monitor=mon, name="step")
        def boom():
            raise ValueError("bad")

        with pytest.raises(ValueError, match="bad"):
            boom()
        assert boom.last.name == "step" and boom.last.ok

    @edgepower.measure
    def bare():
        return 1

    assert bare() == 1 and bare.last is not None

    with pytest.raises(Exception, match="unknown sensor kind 'nosuch'"):
        edgepower.measure(sensor="nosuch")
    with pytest.raises(ValueError, match="keep"):
        edgepower.measure(keep=-1)


def test_sensors_json(capsys):
    assert cli.main(["sensors", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    kinds = {r["kind"]: r for r in rows}
    assert kinds["constant"]["available"] is True
    assert {"rapl", "nvml", "jetson-hwmon", "cpu-estimate"} <= set(kinds)


def test_version_and_help_without_markup(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"edgepower {edgepower.__version__}"
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    helps = [parser.format_help()] + [p.format_help() for p in sub.choices.values()]
    for text in helps:
        assert "`" not in text and "``" not in text and ":func:" not in text
        assert "%%" not in text  # a description is not %-formatted: "95%% CI" printed as it stands


def test_output_spellings_agree():
    parser = cli.build_parser()
    for flag in ("-o", "--output", "--out"):
        assert parser.parse_args(["profile", "vgg11", flag, "d"]).out == "d"
    assert parser.parse_args(["profile-trace", "t.csv", "-o", "d"]).out == "d"
    assert parser.parse_args(["profile-trace", "t.csv", "--out", "d"]).out == "d"
    assert parser.parse_args(["monitor", "-o", "t.csv"]).output == "t.csv"
    assert parser.parse_args(["monitor", "--output", "t.csv"]).output == "t.csv"
