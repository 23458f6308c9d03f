"""report.log_mlflow: metrics, params, tags and artifacts, read back from a local file store and
from a real `mlflow server` the test starts on 127.0.0.1 (bounded, stopped at the end)."""
from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

torch = pytest.importorskip("torch")
mlflow = pytest.importorskip("mlflow")
pd = pytest.importorskip("pandas")

from mlflow.tracking import MlflowClient  # noqa: E402

from edgepower.export.mlflow_log import LAYER_METRICS, metric_label  # noqa: E402
from edgepower.profile import profile_layers  # noqa: E402

# mlflow server start-up: 170 s seen on this 2-core machine at load average 22 (importing mlflow
# and its FastAPI app dominate); a quiet machine takes a fraction of that.
SERVER_START_S = 420


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)) + self.act(x.repeat(1, 2)))  # act called twice


@pytest.fixture(scope="module")
def report():
    torch.manual_seed(0)
    return profile_layers(Small(), torch.randn(4, 16), sensor="square:low=2,high=8,period=0.013", min_window_s=0.02,
                          rounds=2, warmup=1, idle_s=0.05, rate_hz=2000)


@pytest.fixture
def tracking(monkeypatch, tmp_path):
    """Restores MLflow's tracking URI (and ends a stray run) after the test; runs it in tmp_path so
    nothing MLflow writes by default (./mlruns, ./mlflow.db) lands in the repository."""
    monkeypatch.chdir(tmp_path)
    old = mlflow.get_tracking_uri()
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(old)


def _check_run(report, run_id, tmp_path):
    client = MlflowClient()
    run = client.get_run(run_id)
    m, p, t = run.data.metrics, run.data.params, run.data.tags
    # Every finite figure of every row, under its MLflow-safe label.
    for r in report.records:
        for col in LAYER_METRICS:
            v = getattr(r, col)
            key = f"layers/{metric_label(r.layer)}/{col}"
            if isinstance(v, float) and math.isnan(v):
                assert key not in m  # NaN is left out, never logged as a number
            else:
                assert m[key] == pytest.approx(v), key
    assert "layers/act_0/latency_ms" in m and "layers/act/latency_ms" in m  # call site and module total
    assert m["layers/model/net_energy_per_inference_mj"] == pytest.approx(report.record("(model)").net_energy_per_inference_mj)
    assert m["closure_net_energy"] == pytest.approx(report.closure["net_energy"])
    # One step per call site, in call order.
    hist = client.get_metric_history(run_id, "layer_net_energy_mj")
    layers = report.layer_rows
    assert [h.step for h in sorted(hist, key=lambda h: h.step)] == list(range(len(layers)))
    assert [h.value for h in sorted(hist, key=lambda h: h.step)] == pytest.approx(
        [r["net_energy_per_inference_mj"] for r in layers])
    assert p["sensor"] == "synthetic-square" and p["method.mode"] == "isolation" and p["method.rounds"] == "2"
    assert p["monitor.requested_rate_hz"] == "2000.0"
    assert t["edgepower.sensor"] == "synthetic-square" and t["edgepower.estimated"] == "false"
    assert t["environment.torch"] == torch.__version__
    files = {os.path.basename(f.path) for f in client.list_artifacts(run_id, "edgepower")}
    assert {"layers.csv", "layers_distilbert.csv", "samples.csv", "report.json", "energy_per_layer.png",
            "energy_latency.png"} <= files
    local = client.download_artifacts(run_id, "edgepower/report.json", str(tmp_path))
    back = json.load(open(local))
    assert back["meta"]["sensor"] == "synthetic-square"
    assert [r["layer"] for r in back["rows"]] == [r.layer for r in report.records]
    csv = pd.read_csv(client.download_artifacts(run_id, "edgepower/layers.csv", str(tmp_path)))
    assert list(csv["layer"]) == [r.layer for r in report.records]
    return run


def test_local_file_store_new_run(report, tmp_path, tracking, monkeypatch):
    # MLflow 3 keeps the ./mlruns file store in maintenance mode behind MLFLOW_ALLOW_FILE_STORE
    # (its default local store is SQLite, which the server test below uses).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    run_id = report.log_mlflow(trace=True)
    run = _check_run(report, run_id, tmp_path)
    assert run.info.status == "FINISHED"  # the run it started is ended
    assert mlflow.active_run() is None
    files = {os.path.basename(f.path) for f in MlflowClient().list_artifacts(run_id, "edgepower")}
    assert "trace.json" in files


def test_active_run_is_used_and_left_open(report, tmp_path, tracking, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((tmp_path / "mlruns").as_uri())
    with mlflow.start_run() as active:
        assert report.log_mlflow() == active.info.run_id
        assert mlflow.active_run().info.run_id == active.info.run_id
    run = MlflowClient().get_run(active.info.run_id)
    assert run.data.tags["edgepower.model"] == "Small"
    # An explicit run id works too (logged into a finished run, which stays as it was).
    assert report.log_mlflow(run=active.info.run_id) == active.info.run_id
    assert MlflowClient().get_run(active.info.run_id).info.status == "FINISHED"
    with pytest.raises(TypeError, match="run id or an mlflow Run"):
        report.log_mlflow(run=42)


def test_metric_labels_are_mlflow_safe():
    assert metric_label("(model)") == "model"
    assert metric_label("(unattributed)") == "unattributed"
    assert metric_label("layer1.0.relu#1") == "layer1.0.relu_1"
    assert metric_label("blocks[0]") == "blocks_0_"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """A real `mlflow server` on 127.0.0.1 with a SQLite store and served artifacts; stopped at
    the end (its whole process group), whatever happens."""
    port = _free_port()
    db = tmp_path / "mlflow.db"
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
           "--backend-store-uri", f"sqlite:///{db}", "--artifacts-destination", str(tmp_path / "artifacts")]
    log = open(tmp_path / "server.log", "w")
    # No background job workers (they only add processes to a loaded machine).
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(tmp_path),
                            env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"mlflow server did not come up in {SERVER_START_S} s (exit {proc.poll()}):\n"
                            + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_real_mlflow_server(report, tmp_path, tracking, mlflow_server):
    mlflow.set_tracking_uri(mlflow_server)
    exp = mlflow.set_experiment("edgepower-test")
    run_id = report.log_mlflow()
    run = _check_run(report, run_id, tmp_path / "dl")
    assert run.info.experiment_id == exp.experiment_id and run.info.status == "FINISHED"
    # The artifacts went through the server into its artifact store.
    stored = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "artifacts") for f in fs]
    assert any(p.endswith(os.path.join("edgepower", "layers.csv")) for p in stored)
