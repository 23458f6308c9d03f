"""Report.compare and `edgepower compare`: per-layer latency, energy and power with deltas and the
beyond-CI test, on real profiles through region-following synthetic sensors."""
from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from edgepower import cli  # noqa: E402
from edgepower.export.compare import COLUMNS, device_of  # noqa: E402
from edgepower.profile import profile_layers  # noqa: E402
from edgepower.report import Report  # noqa: E402

# trace_model: the whole model's window marks each layer's region too, so the region sensor
# follows the layers inside the whole model.
FAST = dict(rate_hz=2000, min_window_s=0.03, rounds=3, warmup=1, idle_s=0.05, trace_model=True)


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


@pytest.fixture(scope="module")
def pair(one_torch_thread_module):
    torch.manual_seed(0)
    model, x = Small(), torch.randn(4, 16)
    # The sensor's power follows the layer running: fc1 at 9 W in A and 60 W in B, the rest equal.
    # Power is exact here, energy is not: it is power times a latency measured on a shared CPU.
    # fc1's net energy is 7 W x t_a in A and 58 W x t_b in B; with CIs of relative half-width r on
    # the latencies, the energy delta is beyond the combined CI while 58 t_b - 7 t_a >
    # r * hypot(7 t_a, 58 t_b): r < 0.87 for t_b = t_a, r < 0.74 if B's latency halves. 5 rounds
    # (t = 2.78 on 4 degrees of freedom) keep r = 1.24 x the round-to-round relative SD, so the
    # test holds until that SD passes 60 %. (A CI run with 20 W and 3 rounds, r = 2.48 SD, failed.)
    fast = dict(FAST, rounds=5)
    a = profile_layers(model, x, sensor="regions:fc1/9,act/5,fc2/7,idle=2", **fast)
    b = profile_layers(model, x, sensor="regions:fc1/60,act/5,fc2/7,idle=2", **fast)
    return a, b


@pytest.fixture(scope="module")
def one_torch_thread_module():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_compare_finds_the_changed_layer(pair):
    a, b = pair
    comp = a.compare(b)
    assert comp.labels == ("A", "B") and comp.energy_basis == "net"
    assert [r["layer"] for r in comp.rows] == ["fc1", "act", "fc2", "(unattributed)", "(model)"]
    df = comp.to_pandas()
    assert list(df.columns) == COLUMNS
    fc1, act = comp.row("fc1"), comp.row("act")
    # A layer's average power is the region's level (samples inside its window see only it; the
    # edges are interpolated between neighbours, a share of about 2 sample periods / window).
    assert fc1["power_w_a"] == pytest.approx(9.0, rel=0.05) and fc1["power_w_b"] == pytest.approx(60.0, rel=0.05)
    assert fc1["power_delta_pct"] == pytest.approx(100 * (60 - 9) / 9, rel=0.1)
    assert fc1["power_beyond_ci"] is True and fc1["energy_beyond_ci"] is True
    assert fc1["energy_delta_mj"] == pytest.approx(fc1["energy_mj_b"] - fc1["energy_mj_a"])
    assert act["power_delta_pct"] == pytest.approx(0.0, abs=5.0)
    assert "fc1" in comp.beyond_ci
    text = comp.summary()
    assert "B relative to A; * = beyond the combined 95% CIs" in text
    fc1_line = next(ln for ln in text.splitlines() if ln.strip().startswith("fc1"))
    assert fc1_line.count("*") >= 2  # energy and power
    assert "beyond the CIs: " in text and "fc1" in text.splitlines()[-1]


def test_compare_with_itself_is_zero_and_never_beyond(pair):
    a, _ = pair
    comp = a.compare(a, labels=("x", "y"))
    for r in comp.rows:
        for m in ("latency", "energy", "power"):
            assert r[f"{m}_beyond_ci"] in (False, None)
            d = r[f"{m}_delta_pct"]
            assert d != d or d == 0.0
    assert comp.beyond_ci == [] and "no difference beyond the CIs" in comp.summary()
    with pytest.raises(ValueError, match="two different names"):
        a.compare(a, labels=("x", "x"))
    with pytest.raises(ValueError, match="rows must be"):
        a.compare(a, rows="some")


def test_rows_only_one_side_has_are_kept(pair):
    a, b = pair
    b2 = Report.from_dict(b.to_dict())
    b2.records = [r for r in b2.records if r.layer != "act"]
    comp = a.compare(b2, rows="layers")
    assert [r["layer"] for r in comp.rows] == ["fc1", "act", "fc2"]
    act = comp.row("act")
    assert act["present"] == "a only" and act["energy_mj_b"] != act["energy_mj_b"] and act["energy_beyond_ci"] is None


def test_chart_html_and_provenance(pair, tmp_path):
    a, b = pair
    comp = a.compare(b)
    fig = comp.plot()
    assert len(fig.axes) == 3
    path = tmp_path / "c.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = comp._repr_html_()
    assert "<table" in html and "fc1" in html and "bold red: beyond" in html
    assert a.meta["dtype"] == "float32" and a.meta["input_dtypes"] == ["float32"]
    assert a.meta["environment"]["torch"] == torch.__version__ and a.meta["environment"]["torch_threads"] == 1
    assert device_of(a.meta).startswith("cpu") and comp.sides[0]["threads"] == 1


def test_cli_compare(pair, tmp_path, capsys):
    a, b = pair
    pa, pb = str(tmp_path / "a.json"), str(tmp_path / "b.json")
    a.to_json(pa)
    b.to_json(pb)
    out_csv, out_png = str(tmp_path / "d.csv"), str(tmp_path / "d.png")
    assert cli.main(["compare", pa, pb, "--labels", "before,after", "-o", out_csv, "--plot", out_png]) == 0
    text = capsys.readouterr().out
    assert "after relative to before" in text and "fc1" in text
    df = pd.read_csv(out_csv)
    assert df.loc[df.layer == "fc1", "power_beyond_ci"].item() is True or \
        df.loc[df.layer == "fc1", "power_beyond_ci"].item() == "True"
    assert os.path.getsize(out_png) > 5000
    assert cli.main(["compare", pa, str(tmp_path / "nope.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["compare", pa, pb, "--labels", "one"]) == 2
    assert "--labels takes two names" in capsys.readouterr().err
