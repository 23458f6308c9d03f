"""`edgepower profile`: its spool, Ctrl-C (partial report, exit 130) and --resume."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from edgepower import cli, read_spool

from conftest import subprocess_env

pytest.importorskip("torch")

FACTORY = """
import torch


class Tiny(torch.nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.a = torch.nn.Linear(width, width)
        self.b = torch.nn.ReLU()
        self.c = torch.nn.Linear(width, 8)

    def forward(self, x):
        return self.c(self.b(self.a(x)))


def make(batch_size=1):
    return Tiny(), torch.randn(batch_size, 64)


def make_wider(batch_size=1):
    return Tiny(96), torch.randn(batch_size, 96)
"""
# 4 windows a round (a, b, c, the model) of >= 0.04 s: about 0.2 s a round.
ARGS = ["--sensor", "constant:5", "--rate", "1000", "--min-window", "0.04", "--rounds", "12", "--idle", "0.05",
        "--no-progress"]
ITEMS = 4


@pytest.fixture
def factory_dir(tmp_path, monkeypatch):
    (tmp_path / "spool_models.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + list(sys.path))
    return tmp_path


def _start(tmp_path, *args):
    env = subprocess_env(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    return subprocess.Popen([sys.executable, "-m", "edgepower", "profile", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _profile_windows(spool):
    try:
        return len(read_spool(spool).profile_windows)
    except (FileNotFoundError, ValueError):
        return 0


def _interrupt_after(tmp_path, out, windows):
    """Starts a profile, sends SIGINT once `windows` windows are in its spool; (rc, stdout, stderr)."""
    proc = _start(tmp_path, "spool_models:make", *ARGS, "-o", str(out))
    deadline = time.monotonic() + 120
    while _profile_windows(out / "spool") < windows and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the profile ended before it was interrupted: " + proc.stderr.read()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr


def test_ctrl_c_writes_the_partial_report_and_resume_finishes_it(factory_dir, capsys):
    out = factory_dir / "out"
    rc, stdout, stderr = _interrupt_after(factory_dir, out, 6)
    assert rc == 130, stderr
    assert "Traceback" not in stderr
    assert "PARTIAL REPORT (interrupted)" in stdout and "INTERRUPTED (Ctrl-C)" in stdout
    assert "mean of the measured rounds (of 12 planned)" in stdout
    assert f"edgepower profile --resume {out}" in stdout
    report = json.loads((out / "partial-report.json").read_text())
    partial = report["meta"]["partial"]
    assert partial["windows_planned"] == 12 * ITEMS
    assert 6 <= partial["windows_finished"] < 12 * ITEMS
    assert (out / "partial-layers.csv").exists() and not (out / "report.json").exists()
    measured = [w for w in report["windows"] if w["kind"] in ("layer", "model")]
    assert len(measured) == partial["windows_finished"]

    # The spool has them too, with their energies: 5 W x the window, to rounding (a constant sensor).
    sp = read_spool(out / "spool")
    assert len(sp.profile_windows) >= 6
    for w in sp.profile_windows:
        assert w["energy_j"] == pytest.approx(5.0 * w["duration_s"], rel=1e-9)

    # A new profile into the same folder would lose it: refused, naming the way out.
    assert cli.main(["profile", "spool_models:make", *ARGS, "-o", str(out)]) == 2
    assert "holds an interrupted profile: finish it with `edgepower profile --resume" in capsys.readouterr().err
    # Settings that differ from the spool's are refused, naming them.
    assert cli.main(["profile", "--resume", str(out), "--rounds", "3"]) == 2
    err = capsys.readouterr().err
    assert "--rounds 3 (the spool has 12)" in err and "differ from the interrupted profile's" in err

    rc = cli.main(["profile", "--resume", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    final = json.loads((out / "report.json").read_text())
    windows = [w for w in final["windows"] if w["kind"] in ("layer", "model")]
    assert len(windows) == 12 * ITEMS
    assert len({(w["label"], w["round"]) for w in windows}) == 12 * ITEMS
    reused = final["meta"]["resumed"]["windows_reused"]
    assert reused == len(sp.profile_windows)
    old = {(w["label"], w["round"]): w["energy_j"] for w in sp.profile_windows}
    for w in windows:
        assert w["energy_j"] == pytest.approx(5.0 * w["duration_s"], rel=1e-9)
        if (w["label"], w["round"]) in old:
            assert w["energy_j"] == old[(w["label"], w["round"])]
    assert "partial" not in final["meta"] and not list(out.glob("partial-*"))
    assert (out / "spool-2").is_dir() and len(read_spool(out / "spool-2").profile_windows) == 12 * ITEMS
    assert f"{reused} windows reused" in captured.out
    # Finished: a new profile may now replace the spools.
    assert cli.main(["profile", "spool_models:make", *ARGS[:-3], "--rounds", "1", "--idle", "0.05", "--no-progress",
                     "-o", str(out)]) == 0
    assert not (out / "spool-2").exists() and read_spool(out / "spool").of_type("report")


def test_resume_refuses_another_model(factory_dir, capsys):
    out = factory_dir / "out"
    rc, _, stderr = _interrupt_after(factory_dir, out, 2)
    assert rc == 130, stderr
    spool = out / "spool"
    events = spool / "events.jsonl"
    # The same MODEL name, another model behind it (a factory edited in between).
    text = events.read_text().replace('"model":"spool_models:make"', '"model":"spool_models:make_wider"')
    events.write_text(text)
    assert cli.main(["profile", "--resume", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "the model or sensor is not the interrupted profile's" in err and "params" in err


def test_ctrl_c_during_start_up_is_one_line_and_130(factory_dir):
    proc = _start(factory_dir, "spool_models:make", *ARGS[:-3], "--idle", "30", "--no-progress", "-o", "o")
    deadline = time.monotonic() + 120
    while not (factory_dir / "o" / "spool" / "events.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside the idle baseline
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "interrupted (Ctrl-C) during start-up" in lines[0], stderr
    assert "Traceback" not in stderr


def test_ctrl_c_while_the_command_line_loads_is_one_line_and_130(factory_dir):
    """Ctrl-C in the first second: edgepower, the parser (which imports torch) or the model is
    loading; wherever it lands, one line and 130."""
    proc = _start(factory_dir, "spool_models:make", *ARGS, "-o", "early")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    lines = [x for x in stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "interrupted (Ctrl-C)" in lines[0], stderr


def test_no_spool_and_missing_model(factory_dir, capsys):
    assert cli.main(["profile", *ARGS]) == 2
    assert "MODEL is missing" in capsys.readouterr().err
    assert cli.main(["profile", "spool_models:make", *ARGS[:-3], "--rounds", "1", "--idle", "0.05", "--no-progress",
                     "--no-spool", "-o", "n"]) == 0
    assert (factory_dir / "n" / "report.json").exists() and not list((factory_dir / "n").glob("spool*"))
    assert cli.main(["profile", "--resume", "n"]) == 2
    assert "no spool there" in capsys.readouterr().err
    assert cli.main(["profile", "spool_models:make", "--spool-sync", "0", *ARGS]) == 2
    assert "--spool-sync must be a positive number of seconds" in capsys.readouterr().err
    # --spool DIR holding a spool already, or under a missing folder: refused before the model is built.
    (factory_dir / "sp").mkdir()
    (factory_dir / "sp" / "events.jsonl").write_text("{}\n")
    assert cli.main(["profile", "no_such_module:make", "--spool", "sp", *ARGS]) == 2
    assert "spool folder 'sp' already holds a spool" in capsys.readouterr().err
    assert cli.main(["profile", "no_such_module:make", "--spool", "no/such/sp", *ARGS]) == 2
    err = capsys.readouterr().err
    assert "cannot spool to 'no/such/sp'" in err and "does not exist" in err


def test_kill_9_then_resume_reuses_what_was_synced(factory_dir, capsys):
    """A profile killed outright (no Ctrl-C handler runs): its spool still resumes."""
    out = factory_dir / "out"
    proc = _start(factory_dir, "spool_models:make", *ARGS, "-o", str(out))
    deadline = time.monotonic() + 120
    while _profile_windows(out / "spool") < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the profile ended before it was killed: " + proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    sp = read_spool(out / "spool")
    assert not sp.complete and not list(out.glob("partial-*"))
    assert cli.main(["profile", "--resume", str(out), "--no-progress"]) == 0, capsys.readouterr().err
    final = json.loads((out / "report.json").read_text())
    windows = [w for w in final["windows"] if w["kind"] in ("layer", "model")]
    assert len({(w["label"], w["round"]) for w in windows}) == len(windows) == 12 * ITEMS
    assert final["meta"]["resumed"]["windows_reused"] == len(sp.profile_windows) >= 4
