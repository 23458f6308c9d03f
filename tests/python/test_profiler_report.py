"""Report outputs (tables, CSVs, raw samples, charts, console, JSON) and `edgepower profile`."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from edgepower import cli  # noqa: E402
from edgepower.profile import profile_layers  # noqa: E402
from edgepower.report import COLUMNS, DISTILBERT_COLUMNS, Report  # noqa: E402

from conftest import subprocess_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REQUIRED = ["layer", "call", "type", "params", "input_shapes", "repeats", "window_s", "latency_ms",
            "energy_per_inference_mj", "net_energy_per_inference_mj", "avg_power_w", "idle_power_w", "num_samples",
            "energy_pct", "ci95_pct", "sensor", "estimated"]


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)) * 2)


@pytest.fixture(scope="module")
def report():
    torch.manual_seed(0)
    return profile_layers(Small(), torch.randn(4, 16), sensor="square:low=2,high=8,period=0.013",
                          min_window_s=0.03, rounds=2, warmup=1, idle_s=0.05, rate_hz=2000)


def test_dataframe_columns_and_types(report):
    df = report.to_pandas()
    assert list(df.columns) == COLUMNS
    assert set(REQUIRED) <= set(df.columns)
    assert list(df["layer"]) == ["fc1", "act", "fc2", "(unattributed)", "(model)"]
    assert str(df["call"].dtype) == "Int64" and df["call"].isna().tolist() == [False, False, False, True, True]
    assert (df["sensor"] == "synthetic-square").all() and (~df["estimated"]).all()
    assert (df.loc[df.kind == "layer", "num_samples"] > 0).all()
    # The square wave averages 5 W over whole periods; windows of >= 2 periods stay near it.
    assert df.loc[df.kind == "layer", "avg_power_w"].between(3.5, 6.5).all()


def test_csvs_and_samples(report, tmp_path):
    path = report.to_csv(str(tmp_path / "layers.csv"))
    back = pd.read_csv(path)
    assert list(back.columns) == COLUMNS and len(back) == 5
    dpath = report.to_distilbert_csv(str(tmp_path / "d.csv"))
    d = pd.read_csv(dpath)
    assert list(d.columns) == DISTILBERT_COLUMNS
    assert list(d["layer_name"]) == ["fc1", "act", "fc2"] and list(d["layer_idx"]) == [0, 1, 2]
    assert d["energy_pct"].sum() == pytest.approx(100.0)
    assert list(d["energy_total_j"] * 1e3) == pytest.approx(list(d["energy_per_inference_mj"] * d["num_loops"]))
    s = report.samples_to_pandas()
    assert list(s.columns) == ["layer", "module", "call", "round", "window", "t_ns", "t_s", "power_w"]
    assert set(s["layer"]) == {"fc1", "act", "fc2", "(model)"}
    assert s["t_s"].min() >= 0 and set(s["power_w"].round(6)) <= {2.0, 8.0}
    per_layer = s.groupby("layer").size()
    assert per_layer["fc1"] == report.row("fc1")["num_samples"]


def test_plots_are_pngs(report, tmp_path):
    paths = report.plot(str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["energy_per_layer.png", "energy_latency.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert os.path.getsize(p) > 5000


def test_summary_has_both_formats(report):
    text = report.summary()
    assert "Dense" not in text
    assert "Linear_0" in text and "Duration=" in text and "| Energy=" in text and "Avg Power=" in text
    assert "Total" in text and "gross mJ" in text and "latency ms" in text and "share %" in text
    assert "closure (sum of layers / whole model)" in text and "ESTIMATE" not in text
    lines = [ln for ln in text.splitlines() if "Duration=" in ln]
    assert len({ln.index("Duration=") for ln in lines}) == 1  # aligned


def test_estimated_reports_say_so(report):
    est = Report.from_json(report.to_json())
    est.meta["estimated"] = True
    for r in est.records:
        r.estimated = True
    assert "ESTIMATE" in est.summary() and "estimated" in repr(est)
    assert all(r["estimated"] for r in est.rows)  # the dict view follows the records


def test_json_round_trip_with_provenance(report, tmp_path):
    path = str(tmp_path / "r.json")
    report.to_json(path)
    with open(path) as f:
        d = json.load(f)  # strict JSON: NaN written as null
    assert d["format"] == "edgepower-profile/1"
    meta = d["meta"]
    for key in ("model", "inputs", "devices", "selected_layers", "method", "idle_power_w", "monitor", "environment"):
        assert key in meta, key
    assert meta["monitor"]["sensor"] == "synthetic-square" and "achieved_rate_hz" in meta["monitor"]["sampler"]
    assert meta["environment"]["torch"] == torch.__version__
    assert meta["method"]["rounds"] == 2 and meta["method"]["repeats"] == "auto"
    assert d["closure"]["latency"] == pytest.approx(report.closure["latency"])
    back = Report.from_json(path)
    assert [r["layer"] for r in back.rows] == [r["layer"] for r in report.rows]
    assert back.row("fc1")["latency_ms"] == pytest.approx(report.row("fc1")["latency_ms"])
    assert math.isnan(back.row("(unattributed)")["window_s"])
    with pytest.raises(ValueError, match="not an edgepower"):
        Report.from_json('{"format": "other"}')
    with pytest.raises(KeyError, match="fc1"):
        report.row("fc3")


FACTORY = textwrap.dedent("""
    import torch

    def make(batch_size=1):
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        return model, torch.randn(batch_size, 8)
""")


def run_cli(tmp_path, *extra):
    (tmp_path / "tiny_models.py").write_text(FACTORY)
    out = tmp_path / "out"
    env = subprocess_env()
    proc = subprocess.run([sys.executable, "-m", "edgepower", "profile", "tiny_models:make", "--batch-size", "3",
                           "--sensor", "constant:4", "--rate", "2000", "--min-window", "0.02", "--rounds", "2",
                           "--idle", "0.05", "--out", str(out), *extra],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120)
    return proc, out


def test_cli_profile_writes_everything(tmp_path):
    proc, out = run_cli(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "RANDOM weights" in proc.stdout and "Duration=" in proc.stdout and "gross mJ" in proc.stdout
    assert "%|" in proc.stderr  # the tqdm bar
    for name in ("layers.csv", "layers_distilbert.csv", "samples.csv", "energy_per_layer.png", "energy_latency.png",
                 "report.json"):
        assert (out / name).stat().st_size > 0, name
    df = pd.read_csv(out / "layers.csv")
    assert list(df["layer"]) == ["0", "1", "2", "(unattributed)", "(model)"]
    assert (df["input_shapes"].iloc[0]) == "3x8"
    assert (df["sensor"] == "synthetic-constant").all()


def test_cli_fixed_repeats_in_process_and_bad_arguments(tmp_path, capsys, monkeypatch):
    (tmp_path / "tiny_models_2.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    out = tmp_path / "out"
    rc = cli.main(["profile", "tiny_models_2:make", "--sensor", "constant:4", "--min-window", "0.02", "--rounds", "2",
                   "--idle", "0.05", "--repeats", "5", "--no-progress", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "%|" not in captured.err and "wrote to" in captured.out
    df = pd.read_csv(out / "layers.csv")
    assert (df.loc[df.kind == "layer", "repeats"] == 10).all()
    with pytest.raises(SystemExit) as exc:
        cli.main(["profile", "vgg11", "--repeats", "0"])
    assert exc.value.code == 2
    assert "--repeats" in capsys.readouterr().err
    assert cli.main(["profile", "resnet5", "--sensor", "constant:5"]) == 2
    assert "unknown MODEL" in capsys.readouterr().err
    assert cli.main(["profile", "vgg11", "--sensor", "constant:5", "--min-window", "0"]) == 2


def test_edgepower_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import edgepower, edgepower.cli\n"
            "assert 'profile' in edgepower.cli.build_parser().format_help()\n"
            "try:\n    edgepower.LayerProfiler\nexcept ImportError:\n    print('lazy ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "lazy ok" in proc.stdout
