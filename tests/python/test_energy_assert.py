"""edgepower.testing.assert_energy: CI-aware regression checks on measurements and reports, the
per-layer diff table, refusals across sensors/devices/dtypes and of estimates, baseline files."""
from __future__ import annotations

import json
import math

import pytest

from edgepower import Measurement
from edgepower.testing import BaselineMismatch, assert_energy
from edgepower.testing.regression import (compare_entries, entry_from, load_baselines, mismatch, parse_tolerance,
                                          save_baselines)


def measurement(energy_j, sensor="rapl", estimated=False, duration_s=1.0):
    return Measurement(name="w", t0_ns=0, t1_ns=int(duration_s * 1e9), duration_s=duration_s, energy_j=energy_j,
                       avg_power_w=energy_j / duration_s, energy_per_rail_j={"package-0": energy_j}, num_samples=1000,
                       sensor=sensor, estimated=estimated, method="counter")


def layers_entry(figs, sensor="jetson-hwmon", device="cuda:0 (Orin)", dtype="float16"):
    """A report entry: label -> (energy mJ, its 95 % CI half-width)."""
    return {"sensor": sensor, "device": device, "dtype": dtype, "estimated": False, "kind": "report",
            "energy_basis": "net",
            "layers": {lab: {"energy_mj": e, "energy_ci95_mj": ci, "latency_ms": 1.0, "latency_ci95_ms": 0.01,
                             "avg_power_w": e, "kind": "layer", "module": lab} for lab, (e, ci) in figs.items()}}


def test_measurements_tolerance_only():
    check = assert_energy(measurement(1.05), measurement(1.0), rel=0.1)
    (line,) = check.lines
    assert line["change_pct"] == pytest.approx(5.0) and line["verdict"] == "ok"
    with pytest.raises(AssertionError) as exc:
        assert_energy(measurement(1.2), measurement(1.0), rel=0.1)
    msg = str(exc.value)
    assert "energy changed beyond 10% and beyond the combined 95% CIs ((window))" in msg
    assert "baseline J" in msg and "+20.0%" in msg and "REGRESSION" in msg
    # a drop beyond tolerance is a change too, unless only increases count
    with pytest.raises(AssertionError):
        assert_energy(measurement(0.8), measurement(1.0), rel=0.1)
    check = assert_energy(measurement(0.8), measurement(1.0), rel=0.1, only_increase=True)
    assert check.lines[0]["verdict"] == "improved"


def test_reports_fail_only_beyond_tolerance_and_ci():
    base = layers_entry({"conv": (10.0, 0.5), "fc": (2.0, 0.8), "(model)": (12.0, 1.0)})
    # conv +20 % with CIs 0.5 and 0.6 mJ (combined 0.78): beyond both -> regression.
    # fc +30 % (0.6 mJ) with CIs 0.8 and 0.8 (combined 1.13): beyond tolerance, within CI -> passes.
    now = layers_entry({"conv": (12.0, 0.6), "fc": (2.6, 0.8), "(model)": (12.5, 1.0)})
    with pytest.raises(AssertionError) as exc:
        assert_energy(now, base, rel=0.1)
    msg = str(exc.value)
    lines = {ln.split()[0]: ln for ln in msg.splitlines() if ln.startswith("  ") and not ln.strip().startswith("layer")}
    assert "REGRESSION" in lines["conv"] and "+20.0%" in lines["conv"]
    assert "within CI" in lines["fc"] and "+30.0%" in lines["fc"]
    assert lines["(model)"].rstrip().endswith("ok")
    assert "(conv)" in msg and "device cuda:0 (Orin), dtype float16" in msg
    # the same change with wide CIs passes
    wide = layers_entry({"conv": (12.0, 3.0), "fc": (2.6, 0.8), "(model)": (12.5, 1.0)})
    check = assert_energy(wide, base, rel=0.1)
    assert [ln["verdict"] for ln in check.lines] == ["within CI", "within CI", "ok"]
    # a layer the baseline has and the new figures lack fails; a new one is listed
    moved = layers_entry({"conv": (10.0, 0.5), "fc2": (2.0, 0.8), "(model)": (12.0, 1.0)})
    with pytest.raises(AssertionError) as exc:
        assert_energy(moved, base)
    assert "missing now (in the baseline): fc" in str(exc.value) and "new (not in the baseline, not checked): fc2" \
        in str(exc.value)


def test_refusals_across_sensor_device_dtype_and_estimates():
    base = layers_entry({"conv": (10.0, 0.5)})
    for key, other in (("sensor", "nvml"), ("device", "cpu (x86_64)"), ("dtype", "float32")):
        now = dict(base, **{key: other})
        assert key in mismatch(now, base)
        with pytest.raises(BaselineMismatch, match=f"different {key}"):
            assert_energy(now, base, on_mismatch="raise")
    # an empty field is unknown and matches anything
    assert mismatch(dict(base, dtype=""), base) == ""
    assert "baseline is a report and this is a measurement" in mismatch(entry_from(measurement(1.0)), base)
    with pytest.raises(BaselineMismatch, match="estimates"):
        assert_energy(measurement(1.0, estimated=True), measurement(1.0, estimated=True), on_mismatch="raise")
    assert assert_energy(measurement(1.0, estimated=True), measurement(1.0, estimated=True), allow_estimate=True)


def test_refusal_skips_inside_a_pytest_test():
    base = layers_entry({"conv": (10.0, 0.5)})
    with pytest.raises(pytest.skip.Exception, match="different sensor"):
        assert_energy(dict(base, sensor="nvml"), base)  # on_mismatch="skip" while a test runs


def test_entries_from_reports_and_files(tmp_path):
    torch = pytest.importorskip("torch")
    from edgepower.profile import profile_layers
    from edgepower.report import Report

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU())
    report = profile_layers(model, torch.randn(2, 8), sensor="regions:0/9,1/4,idle=2", rate_hz=2000,
                            min_window_s=0.02, rounds=3, warmup=1, idle_s=0.05)
    path = str(tmp_path / "r.json")
    report.to_json(path)
    e = entry_from(path)
    assert e["kind"] == "report" and e["energy_basis"] == "net" and e["dtype"] == "float32"
    assert e["device"].startswith("cpu") and e["sensor"] == report.sensor
    assert list(e["layers"]) == ["0", "1", "(unattributed)", "(model)"]
    assert e["layers"]["0"]["energy_mj"] == pytest.approx(report.row("0")["net_energy_per_inference_mj"])
    # a report against itself (and its JSON) passes with zero change everywhere
    check = assert_energy(report, path)
    assert all(ln["change_pct"] == pytest.approx(0.0, abs=1e-9) for ln in check.lines if math.isfinite(ln["change_pct"]))
    back = Report.from_json(path)
    assert compare_entries(entry_from(back), e).failures == []
    # baseline files
    bpath = str(tmp_path / "sub" / "baseline.json")
    assert load_baselines(bpath) == {}
    save_baselines(bpath, {"t::b": e, "t::a": entry_from(measurement(2.0))})
    d = json.load(open(bpath))
    assert d["format"] == "edgepower-baseline/1" and list(d["tests"]) == ["t::a", "t::b"]
    assert load_baselines(bpath)["t::a"]["energy_j"] == 2.0
    (tmp_path / "bad.json").write_text('{"format": "x"}')
    with pytest.raises(ValueError, match="not an edgepower baseline file"):
        load_baselines(str(tmp_path / "bad.json"))
    with pytest.raises(FileNotFoundError, match="report.to_json"):
        entry_from(str(tmp_path / "missing.json"))
    with pytest.raises(TypeError, match="cannot compare a int"):
        entry_from(3)


def test_tolerances():
    assert parse_tolerance("10%") == pytest.approx(0.1) and parse_tolerance("0.25") == 0.25
    for bad in ("ten", "-5%", "nan"):
        with pytest.raises(ValueError, match="tolerance"):
            parse_tolerance(bad)
    with pytest.raises(ValueError, match="rel must be"):
        assert_energy(measurement(1.0), measurement(1.0), rel=-1)
