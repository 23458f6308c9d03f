"""EdgeProfiler import/export: byte-identical upstream output, corrected mode, bad input, CLI."""
from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from edgepower import edgeprofiler as E  # noqa: E402
from edgepower._native import core  # noqa: E402
from edgepower.cli import main as cli_main  # noqa: E402

from conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
DATA = next((p for p in (ROOT / "shared" / "data" / "edgeprofiler", ROOT.parent / "shared" / "data" / "edgeprofiler",
                         Path("/work/shared/data/edgeprofiler")) if p.is_dir()), None)
needs_data = pytest.mark.skipif(DATA is None, reason="EdgeProfiler fixtures (shared/data/edgeprofiler) not found")
UPSTREAM_RAW = DATA / "upstream_fixtures" / "example_raw_data" if DATA else None
HYBRID = DATA / "real_log_hybrid" if DATA else None
SIMPLE_MODELS = ["simple", "multiple_readings", "multiple_layers"]


# ---------------------------------------------------------------------------------------------
# upstream fixtures: exact reproduction


@needs_data
def test_real_log_hybrid_csv_is_byte_identical(tmp_path):
    out = tmp_path / E.MAPPING_CSV
    with pytest.warns(E.EdgeProfilerWarning, match="4 of 200 rows dropped"):
        df = E.map_power_to_layers(HYBRID / "raw_data", "resnet18_reallog", output=out)
    expected = (HYBRID / "expected" / "resnet18_reallog" / E.MAPPING_CSV).read_bytes()
    assert out.read_bytes() == expected
    # The same bytes through the generic writer and through pandas itself.
    again = tmp_path / "again.csv"
    E.write_mapping_csv(df, again)
    assert again.read_bytes() == expected
    assert df.to_csv(index=False).encode() == expected
    assert list(df.columns) == E.COMPAT_COLUMNS


@needs_data
def test_real_log_hybrid_values_and_summary():
    with pytest.warns(E.EdgeProfilerWarning):
        df = E.map_power_to_layers(HYBRID / "raw_data", "resnet18_reallog")
    expected = json.loads((HYBRID / "expected" / "resnet18_reallog" / "expected_metrics_by_cycle.json").read_text())
    got = df.to_dict("records")
    assert len(got) == len(expected) == 196
    for g, e in zip(got, expected):
        for k, v in e.items():
            if v is None:
                assert isinstance(g[k], float) and math.isnan(g[k]), (k, g)
            else:
                assert g[k] == v, (k, g, e)  # exact, not approximate
    summary = json.loads((HYBRID / "expected" / "summary.json").read_text())["resnet18_reallog"]
    d = df.attrs["diagnostics"]
    assert d["rows"] == summary["rows"]
    assert d["rows_with_samples"] == summary["rows_with_power"] == df[E.POWER_INCL].notna().sum()
    assert (df[E.POWER_EXCL] < 0).sum() == summary["negative_excluding_idle"]
    assert (df["layer_type"] == "Unknown").sum() == summary["unknown_type_rows"]
    assert d["rows_dropped"] == 4 and df["cycle"].iloc[-1] == 40


@needs_data
@pytest.mark.parametrize("model", SIMPLE_MODELS)
def test_upstream_example_raw_data(model, tmp_path):
    expected = json.loads((UPSTREAM_RAW / model / "expected_metrics_by_cycle.json").read_text())
    out = tmp_path / E.MAPPING_CSV
    df = E.map_power_to_layers(UPSTREAM_RAW, model, output=out)
    assert df.to_dict("records") == expected
    # Upstream writes its records with pandas: the CSV of the expected records, byte for byte.
    assert out.read_bytes() == pd.DataFrame(expected).to_csv(index=False).encode()
    assert df.attrs["warnings"] == []


@needs_data
@pytest.mark.parametrize("model", ["model1", "model2"])
def test_preprocessed_fixture_stats_are_byte_identical(model):
    folder = DATA / "upstream_fixtures" / "example_preprocessed_data" / model
    table = pd.read_csv(folder / E.MAPPING_CSV)
    power = E.layer_stats(table, E.POWER_EXCL, cask_only=True).to_csv()
    run_time = E.layer_stats(table, "layer_run_time", cask_only=True).to_csv()
    assert power == (folder / f"{model}_average_power_stats.csv").read_text()
    assert run_time == (folder / f"{model}_average_run_time_stats.csv").read_text()
    # Without the Cask* filter the Reformat layer joins in.
    assert len(E.layer_stats(table, cask_only=False)) == 3


@needs_data
def test_hybrid_layer_averages_match_upstream():
    with pytest.warns(E.EdgeProfilerWarning):
        df = E.map_power_to_layers(HYBRID / "raw_data", "resnet18_reallog")
    exp_dir = HYBRID / "expected" / "resnet18_reallog"
    avg = E.layer_averages(df, cask_only=True)
    upstream = pd.read_csv(exp_dir / "layer_averages_upstream.csv", index_col=0)
    assert list(avg.index) == list(upstream.index)
    # Means of ~39 values: the last digit depends on the summation order of the pandas version
    # that produced the fixture, hence 1e-12 relative, not bit equality.
    np.testing.assert_allclose(avg["average_power"], upstream["average_power"], rtol=1e-12)
    np.testing.assert_allclose(avg["average_run_time"], upstream["average_run_time"], rtol=1e-12)
    stats = E.layer_stats(df, E.POWER_EXCL)
    up_stats = pd.read_csv(exp_dir / "resnet18_reallog_average_power_stats.csv", index_col=0)
    np.testing.assert_allclose(stats.to_numpy(), up_stats.to_numpy(), rtol=1e-12)
    everything = pd.read_csv(exp_dir / "layer_summary_all_layers.csv", index_col=0)
    all_avg = E.layer_averages(df).loc[everything.index]
    assert list(all_avg["cycles"]) == list(everything["cycles"])
    assert list(all_avg["cycles_with_power"]) == list(everything["cycles_with_power"])
    assert list(all_avg["layer_type"]) == list(everything["layer_type"])


# ---------------------------------------------------------------------------------------------
# native helpers against Python itself


def test_timedelta_rounding_matches_python():
    rng = random.Random(6)
    ms = [rng.uniform(0, 5) * 10 ** rng.randint(-4, 3) for _ in range(20000)]
    ms += [k * 0.0005 for k in range(200)] + [1.0005, 2.0025, 0.4507492184638977]
    got = core.edgeprofiler.timedelta_ms_to_us(np.array(ms))
    want = [timedelta(milliseconds=m) // timedelta(microseconds=1) for m in ms]
    assert got.tolist() == want
    # Ties (k * 0.5 us) go to the even total, unlike round-half-up.
    assert core.edgeprofiler.timedelta_ms_to_us(np.array([0.0005, 0.0015, 0.0025])).tolist() == [0, 2, 2]


def test_repr_matches_python():
    rng = random.Random(7)
    values = [struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0] for _ in range(20000)]
    values += [rng.uniform(-1e7, 1e7) * 10.0 ** rng.randint(-12, 12) for _ in range(20000)]
    values = [v for v in values if math.isfinite(v)] + [0.0, -0.0, 1e16, 1e-5, 1e15, 0.0001]
    assert [core.edgeprofiler.repr_double(v) for v in values] == [repr(v) for v in values]


# ---------------------------------------------------------------------------------------------
# hand-made raw directories

T0 = datetime(2025, 1, 9, 13, 0, 0)


def _stamp(t_s: float) -> str:
    return (T0 + timedelta(microseconds=round(t_s * 1e6))).strftime("%Y%m%d-%H:%M:%S.%f")


def _make_raw(root: Path, model: str, samples, layers, idle_uw=1000.0, types=None, log_text=None):
    """samples: [(t_s, mV, mA)]; layers: {name: [(latency_ms, end_t_s), ...]}."""
    mdir = root / model / "trt_profiling"
    mdir.mkdir(parents=True, exist_ok=True)
    (root / "idling_power.json").write_text(json.dumps({"timestamp": "20250109-130000", "avg_idle_power": idle_uw}))
    if log_text is None:
        log_text = "".join(f"{_stamp(t)},{mv},{ma}\n" for t, mv, ma in samples)
    (root / model / f"{model}_power_log.log").write_text(log_text)
    lat = {n: [[ms, _stamp(end)] for ms, end in entries] for n, entries in layers.items()}
    (mdir / "trt_layer_latency.json").write_text(json.dumps(lat))
    types = types if types is not None else {n: "CaskConvolution" for n in layers}
    (mdir / "trt_engine_info.json").write_text(json.dumps(
        {"Layers": [{"Name": n, "LayerType": t} for n, t in types.items()]}))
    return root


def test_corrected_mode_hand_computed(tmp_path):
    # Power (mV*mA, uW) at 0, 1, 2, 3 ms: 1000, 3000, 5000, 7000 (a ramp of 2 uW/us... per ms).
    samples = [(0.000, 1.0, 1000.0), (0.001, 1.0, 3000.0), (0.002, 1.0, 5000.0), (0.003, 1.0, 7000.0)]
    # a: [0.5, 1.5] ms -> p 2000..4000, energy 3000 uW * 1 ms = 3 uJ; b: the same window again
    # (no consumption); c: [1.2, 1.3] ms between samples -> 3500 uW * 0.1 ms = 0.35 uJ;
    # d ends after the last sample -> no energy.
    layers = {"a": [(1.0, 0.0015)], "b": [(1.0, 0.0015)], "c": [(0.1, 0.0013)], "d": [(1.0, 0.0035)]}
    raw = _make_raw(tmp_path, "m", samples, layers, idle_uw=1000.0)
    with pytest.warns(E.EdgeProfilerWarning, match="1 of 4 windows have no energy"):
        df = E.map_power_to_layers(raw, "m", mode="corrected")
    assert list(df.columns) == E.CORRECTED_COLUMNS
    e = df["layer_energy_including_idle_power_micro_joule"].to_numpy()
    np.testing.assert_allclose(e[:3], [3.0, 3.0, 0.35], rtol=1e-12)
    np.testing.assert_allclose(df["layer_energy_excluding_idle_power_micro_joule"][:3], [2.0, 2.0, 0.25], rtol=1e-12)
    np.testing.assert_allclose(df[E.POWER_INCL][:3], [3000.0, 3000.0, 3500.0], rtol=1e-12)
    np.testing.assert_allclose(df[E.POWER_EXCL][:3], [2000.0, 2000.0, 2500.0], rtol=1e-12)
    assert df["num_samples"].tolist() == [1, 1, 0, 1]
    assert math.isnan(e[3]) and "after the last sample" in df["reason"][3]
    assert df["reason"][:3].tolist() == ["", "", ""]
    # Compat on the same data: a takes the 1 ms sample, b finds it consumed, c is empty too, and
    # d takes the 3 ms sample which ends the log.
    compat = E.map_power_to_layers(raw, "m")
    got = compat[E.POWER_INCL].tolist()
    assert got[0] == 3000.0 and math.isnan(got[1]) and math.isnan(got[2]) and got[3] == 7000.0


def _clustered(tmp_path):
    # TensorRT-style: 20 layers of 1 ms each, all stamped within 40 us at the end of a 25 ms
    # cycle; a 150 Hz sensor (6.6 ms) rarely has a sample inside any window.
    samples = [(k * 0.0066, 5000.0, 1000.0 + k) for k in range(80)]
    layers = {}
    for i in range(20):
        layers[f"layer{i}"] = [(1.0, c * 0.025 + 0.0201 + i * 2e-6) for c in range(15)]
    return _make_raw(tmp_path, "trt", samples, layers)


def test_corrected_mode_warns_when_windows_cluster(tmp_path):
    raw = _clustered(tmp_path)
    with pytest.warns(E.EdgeProfilerWarning, match="cluster at the end of each cycle"):
        df = E.map_power_to_layers(raw, "trt", mode="corrected")
    d = df.attrs["diagnostics"]
    assert d["overlapping_window_share"] > 0.9 and d["empty_window_share"] > 0.5
    assert any("cluster" in w for w in df.attrs["warnings"])


def test_sequential_windows_do_not_warn(tmp_path):
    samples = [(k * 0.0005, 5000.0, 1000.0) for k in range(200)]
    layers = {f"l{i}": [(1.0, c * 0.01 + (i + 1) * 0.001 + 0.00025) for c in range(9)] for i in range(5)}
    raw = _make_raw(tmp_path, "seq", samples, layers)
    import warnings as w
    with w.catch_warnings():
        w.simplefilter("error")
        df = E.map_power_to_layers(raw, "seq", mode="corrected")
    assert df.attrs["warnings"] == [] and df.attrs["diagnostics"]["overlapping_window_share"] == 0.0
    np.testing.assert_allclose(df[E.POWER_INCL], 5e6, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# bad input


def _good(tmp_path):
    samples = [(k * 0.001, 5000.0, 1000.0 + k) for k in range(10)]
    return _make_raw(tmp_path, "m", samples, {"a": [(2.0, 0.004)], "b": [(2.0, 0.008)]})


@pytest.mark.parametrize("victim,needle", [
    ("m/m_power_log.log", "missing power log"),
    ("m/trt_profiling/trt_layer_latency.json", "missing TensorRT layer latency file"),
    ("idling_power.json", "missing idle power file"),
])
def test_missing_files(tmp_path, victim, needle):
    raw = _good(tmp_path)
    (raw / victim).unlink()
    with pytest.raises(FileNotFoundError, match=needle):
        E.map_power_to_layers(raw, "m")


def test_missing_dir_and_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        E.map_power_to_layers(tmp_path / "nope", "m")
    raw = _good(tmp_path)
    with pytest.raises(FileNotFoundError, match="models in .*: m"):
        E.map_power_to_layers(raw, "other")
    with pytest.raises(ValueError, match="mode must be"):
        E.map_power_to_layers(raw, "m", mode="fast")


def test_missing_engine_info_warns_and_types_unknown(tmp_path):
    raw = _good(tmp_path)
    (raw / "m" / "trt_profiling" / "trt_engine_info.json").unlink()
    with pytest.warns(E.EdgeProfilerWarning, match="no TensorRT engine info"):
        df = E.map_power_to_layers(raw, "m")
    assert set(df["layer_type"]) == {"Unknown"}


def test_unknown_layers_warn(tmp_path):
    samples = [(k * 0.001, 5000.0, 1000.0) for k in range(10)]
    raw = _make_raw(tmp_path, "m", samples, {"a": [(2.0, 0.004)], "b": [(2.0, 0.008)]},
                    types={"a": "CaskConvolution"})
    with pytest.warns(E.EdgeProfilerWarning, match="1 of 2 layers .* not in trt_engine_info.json.*'b'"):
        df = E.map_power_to_layers(raw, "m")
    assert df["layer_type"].tolist() == ["CaskConvolution", "Unknown"]


def test_malformed_log_line_reports_line_number(tmp_path):
    raw = _good(tmp_path)
    log = raw / "m" / "m_power_log.log"
    lines = log.read_text().splitlines()
    lines[6] = lines[6].replace(",5000.0,", ",5000.0;")
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(E.EdgeProfilerError, match=r"m_power_log.log: power log line 7: expected 3 comma-separated"):
        E.map_power_to_layers(raw, "m")
    lines[6] = "20250109-13:00:00.006,abc,12"
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(E.EdgeProfilerError, match="line 7: bad voltage"):
        E.map_power_to_layers(raw, "m")


def test_a_log_line_that_is_not_text_is_a_parse_error_naming_the_line(tmp_path):
    """Found by fuzzing (tests/fuzz/regressions/py_edgeprofiler/): the ParseError quoted the raw
    line, and a byte such as 0xc8 made building the Python exception fail with UnicodeDecodeError."""
    raw = _good(tmp_path)
    log = raw / "m" / "m_power_log.log"
    lines = log.read_bytes().splitlines()
    lines[6] = b"20250109-13:00:00.006,50\xc8\xff0,12"
    log.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(E.EdgeProfilerError, match=r"power log line 7: bad voltage \(mV\) in '20250109-13:00:00.006,50\?\?0,12'"):
        E.map_power_to_layers(raw, "m")
    with pytest.raises(core.edgeprofiler.ParseError) as info:
        core.edgeprofiler.parse_power_log(b"20250109-13:00:00.006,5000,1\x80\n")
    assert info.value.line == 1 and "'20250109-13:00:00.006,5000,1?'" in str(info.value)


def test_log_out_of_order(tmp_path):
    raw = _good(tmp_path)
    log = raw / "m" / "m_power_log.log"
    lines = log.read_text().splitlines()
    lines[3], lines[4] = lines[4], lines[3]
    log.write_text("\n".join(lines) + "\n")
    with pytest.warns(E.EdgeProfilerWarning, match=r"goes back in time 1 times \(first at line 5\)"):
        df = E.map_power_to_layers(raw, "m")
    assert df.attrs["diagnostics"]["log_backward_steps"] == 1
    with pytest.raises(E.EdgeProfilerError, match="line 5.*sort the log"):
        E.map_power_to_layers(raw, "m", mode="corrected")


def test_empty_log(tmp_path):
    raw = _good(tmp_path)
    (raw / "m" / "m_power_log.log").write_text("\n\n")
    with pytest.raises(E.EdgeProfilerError, match="has no samples"):
        E.map_power_to_layers(raw, "m")


@pytest.mark.parametrize("content,needle", [
    ("{", "not valid JSON"),
    ("{}", "has no layers"),
    ('{"a": [[1.0, "2025-01-09 13:00:00"]]}', "layer 'a' cycle 1 has timestamp"),
    ('{"a": [[1.0, "20250109-13:00:00.1"]], "b": []}', "every layer needs one entry per cycle"),
    ('{"a": [[-1.0, "20250109-13:00:00.1"]]}', "non-negative number of milliseconds"),
    ('{"a": [[1.0, "20250109-13:00:00.1"], [2.0]]}', "layer 'a' cycle 2 is \\[2.0\\]"),
    ('{"a": 3}', "expected a list"),
])
def test_bad_latency_file(tmp_path, content, needle):
    raw = _good(tmp_path)
    (raw / "m" / "trt_profiling" / "trt_layer_latency.json").write_text(content)
    with pytest.raises(E.EdgeProfilerError, match=needle):
        E.map_power_to_layers(raw, "m")


def test_bad_idle_file(tmp_path):
    raw = _good(tmp_path)
    (raw / "idling_power.json").write_text('{"avg_idle_power": "high"}')
    with pytest.raises(E.EdgeProfilerError, match="finite number of microwatts"):
        E.map_power_to_layers(raw, "m")
    df = E.map_power_to_layers(raw, "m", idle_power_uw=0.0)  # an explicit idle power bypasses the file
    assert df.attrs["diagnostics"]["idle_power_uw"] == 0.0


def test_latency_ints_are_written_as_ints(tmp_path):
    samples = [(k * 0.001, 5000.0, 1000.0) for k in range(10)]
    raw = _make_raw(tmp_path, "m", samples, {"a": [(2, 0.004)]})
    out = tmp_path / "out.csv"
    df = E.map_power_to_layers(raw, "m", output=out)
    assert out.read_bytes() == df.to_csv(index=False).encode()
    assert out.read_text().splitlines()[1].endswith(",2")


# ---------------------------------------------------------------------------------------------
# export and round trip


def _measurement(layers=6, cycles=25, seed=3):
    """Samples at 1 kHz (+-100 us jitter) and back-to-back layer windows with edges on half
    milliseconds (>= 400 us from every sample), each layer with its own power level plus noise."""
    rng = np.random.default_rng(seed)
    level_w = {f"layer{i}": 4.0 + 0.37 * i for i in range(layers)}
    windows = {n: [] for n in level_w}
    t = 5_000_000  # ns
    for _ in range(cycles):
        for n in level_w:
            length = int(rng.integers(3, 9)) * 1_000_000  # 3-8 ms
            windows[n].append((t + 500_000, t + 500_000 + length))
            t += length
        t += 2_000_000
    t_ns = np.arange(0, t + 10_000_000, 1_000_000, dtype=np.int64)
    t_ns = t_ns + rng.integers(-100_000, 100_000, t_ns.shape)
    t_ns.sort()
    p_w = np.full(t_ns.shape, 3.2)
    for n, ws in windows.items():
        for a, b in ws:
            inside = (t_ns >= a) & (t_ns <= b)
            p_w[inside] = level_w[n] + rng.normal(0, 0.05, inside.sum())
    return t_ns, p_w, windows


def test_round_trip_export_import(tmp_path):
    t_ns, p_w, windows = _measurement()
    paths = E.write_raw_dir(tmp_path, "torchnet", t_ns, p_w, 3.2, windows,
                            layer_types={n: "CaskConvolution" for n in windows}, epoch=datetime(2025, 3, 1, 12))
    assert paths["log"].read_text().splitlines()[0].startswith("20250301-12:00:00.0")
    idle = json.loads(paths["idle"].read_text())
    assert idle["avg_idle_power"] == 3.2e6
    df = E.map_power_to_layers(tmp_path, "torchnet")
    assert len(df) == len(windows) * 25 and df[E.POWER_INCL].notna().all()
    # What compat should give: the mean of our samples inside each window, in microwatts.
    names = list(windows)
    want = []
    for c in range(25):
        for n in names:
            a, b = windows[n][c]
            want.append(p_w[(t_ns >= a) & (t_ns <= b)].mean() * 1e6)
    # Each logged power is within 5000 mV * 0.0005 mA = 2.5 uW of ours (the current has 3
    # decimals), so each mean is too; samples stay >= 400 us from window edges, so none changes
    # window through the truncation of timestamps to whole microseconds.
    np.testing.assert_allclose(df[E.POWER_INCL], want, rtol=0, atol=2.5 + 1e-6)
    np.testing.assert_allclose(df[E.POWER_EXCL], np.array(want) - 3.2e6, rtol=0, atol=2.5 + 1e-6)
    per_layer = E.layer_averages(df, cask_only=True)
    want_layer = pd.DataFrame({"layer_name": names * 25, "p": np.array(want) - 3.2e6}).groupby("layer_name")["p"].mean()
    np.testing.assert_allclose(per_layer["average_power"], want_layer.loc[per_layer.index], rtol=0, atol=2.5 + 1e-6)
    np.testing.assert_allclose(df["layer_run_time"], [(windows[n][c][1] - windows[n][c][0]) / 1e6
                                                      for c in range(25) for n in names], rtol=1e-15)


def test_export_rejects_bad_input(tmp_path):
    t = np.array([0, 1_000_000, 2_000_000])
    p = np.array([1.0, 2.0, 3.0])
    w = {"a": [(0, 1_000_000)]}
    with pytest.raises(ValueError, match="ascending"):
        E.write_raw_dir(tmp_path, "m", t[::-1], p, 1.0, w)
    with pytest.raises(ValueError, match="same length"):
        E.write_raw_dir(tmp_path, "m", t, p[:2], 1.0, w)
    with pytest.raises(ValueError, match="NaN"):
        E.write_raw_dir(tmp_path, "m", t, np.array([1.0, np.nan, 1.0]), 1.0, w)
    with pytest.raises(ValueError, match="one window per cycle"):
        E.write_raw_dir(tmp_path, "m", t, p, 1.0, {"a": [(0, 1)], "b": [(0, 1), (1, 2)]})
    with pytest.raises(ValueError, match="ends before it starts"):
        E.write_raw_dir(tmp_path, "m", t, p, 1.0, {"a": [(5, 1)]})


# ---------------------------------------------------------------------------------------------
# CLI


@needs_data
def test_cli_map_writes_identical_csv(tmp_path, capsys):
    out = tmp_path / "out.csv"
    avg = tmp_path / "avg.csv"
    rc = cli_main(["edgeprofiler", "map", str(HYBRID / "raw_data"), "--model", "resnet18_reallog", "-o", str(out),
                   "--averages", str(avg), "--cask-only"])
    assert rc == 0
    assert out.read_bytes() == (HYBRID / "expected" / "resnet18_reallog" / E.MAPPING_CSV).read_bytes()
    cap = capsys.readouterr()
    assert "rows: 196 of 200" in cap.out and "4 of 200 rows dropped" in cap.err
    assert len(pd.read_csv(avg)) == 4


def test_cli_corrected_and_errors(tmp_path, capsys):
    raw = _clustered(tmp_path / "raw")
    out = tmp_path / "c.csv"
    assert cli_main(["edgeprofiler", "map", str(raw), "--model", "trt", "-o", str(out), "--mode", "corrected"]) == 0
    assert "cluster at the end of each cycle" in capsys.readouterr().err
    assert pd.read_csv(out).columns.tolist() == E.CORRECTED_COLUMNS
    (raw / "trt" / "trt_power_log.log").write_text("20250109-13:00:00.1,5000,1\nbroken\n")
    assert cli_main(["edgeprofiler", "map", str(raw), "--model", "trt", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "Traceback" not in err
    assert cli_main(["edgeprofiler", "map", str(tmp_path / "none"), "--model", "x", "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_subprocess_has_no_traceback(tmp_path):
    env = subprocess_env()
    r = subprocess.run([sys.executable, "-m", "edgepower", "edgeprofiler", "map", str(tmp_path), "--model", "m",
                        "-o", str(tmp_path / "x.csv")], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "error: no model folder" in r.stderr and "Traceback" not in r.stderr
