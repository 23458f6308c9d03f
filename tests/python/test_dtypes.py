"""Precision: casting models and inputs (float16, bfloat16, dynamic int8), the dtype in the
report's provenance, `edgepower profile --dtype`, and the DistilBERT preset's harness labels and
`<dtype>_per_layer_energy.csv`."""
from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pd = pytest.importorskip("pandas")

from edgepower import cli  # noqa: E402
from edgepower.profile import profile_layers  # noqa: E402
from edgepower.profile.dtypes import cast, check_dtype, input_dtypes, int8_support, model_dtype  # noqa: E402
from edgepower.profile.labels import preset_labels  # noqa: E402
from edgepower.report import MEASURED  # noqa: E402

FAST = dict(sensor="constant:5", rate_hz=2000, repeats=2, rounds=2, warmup=1, idle_s=0.05)


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


@pytest.fixture(scope="module")
def small_distilbert():
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = tf.DistilBertConfig(vocab_size=100, dim=32, hidden_dim=64, n_layers=2, n_heads=2, max_position_embeddings=32)
    return tf.DistilBertForSequenceClassification(cfg)


def test_check_dtype_names_and_aliases():
    assert [check_dtype(x) for x in ("fp32", "half", "BF16", "torch.float16", torch.bfloat16, "int8")] == \
        ["float32", "float16", "bfloat16", "float16", "bfloat16", "int8"]
    with pytest.raises(ValueError, match="unknown dtype 'fp8'; use one of float32, float16, bfloat16, int8"):
        check_dtype("fp8")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_cast_floats_keeps_integer_inputs(dtype):
    model, x, ids = mlp(), torch.randn(3, 8), torch.arange(3)
    m, args, kwargs = cast(model, (x,), {"ids": ids, "flag": True}, dtype)
    target = getattr(torch, dtype)
    assert all(p.dtype == target for p in m.parameters())
    assert args[0].dtype == target and kwargs["ids"].dtype == torch.int64 and kwargs["flag"] is True
    assert model_dtype(m) == dtype and input_dtypes(args, kwargs) == [dtype, "int64"]
    assert m(args[0]).dtype == target  # the model runs in that precision


def test_int8_dynamic_quantization():
    ok, why = int8_support("cpu")
    if not ok:
        pytest.skip(why)
    model, x = mlp(), torch.randn(3, 8)
    q, args, _ = cast(model, (x,), {}, "int8")
    assert q is not model and model_dtype(q) == "int8" and model_dtype(model) == "float32"
    assert "quantized" in type(q[0]).__module__ and args[0].dtype == torch.float32
    # int8 weights: the output is close to, not equal to, the float model's
    ref, out = model(x), q(x)
    assert not torch.equal(ref, out) and torch.allclose(ref, out, atol=0.05)
    with pytest.raises(ValueError, match="CPU only"):
        cast(mlp(), (x,), {}, "int8", device="cuda")
    with pytest.raises(ValueError, match="has none"):
        cast(torch.nn.Sequential(torch.nn.ReLU()), (x,), {}, "int8")


def test_report_records_dtypes_and_compares_fp32_bf16(one_torch_thread):
    m32, x = mlp(), torch.randn(3, 8)
    r32 = profile_layers(m32, x, **FAST)
    m16, (x16,), _ = cast(mlp(), (x,), {}, "bfloat16")
    r16 = profile_layers(m16, x16, **FAST)
    assert r32.meta["dtype"] == "float32" and r16.meta["dtype"] == "bfloat16"
    assert r16.meta["input_dtypes"] == ["bfloat16"]
    comp = r32.compare(r16)
    assert comp.labels == ("fp32", "bf16")
    assert "dtype bfloat16" in comp.summary() and "bf16 relative to fp32" in comp.summary()


def test_distilbert_preset_labels_as_the_harnesses(small_distilbert, tmp_path, one_torch_thread):
    assert preset_labels(small_distilbert, "distilbert") == {
        "distilbert.embeddings": "embeddings", "distilbert.transformer.layer.0": "transformer_block_0",
        "distilbert.transformer.layer.1": "transformer_block_1", "pre_classifier": "pre_classifier",
        "classifier": "classifier"}
    assert preset_labels(small_distilbert.distilbert, "auto")["transformer.layer.1"] == "transformer_block_1"
    assert preset_labels(small_distilbert, "leaves") == {} and preset_labels(mlp(), "auto") == {}
    ids = torch.randint(0, 100, (2, 8))
    report = profile_layers(small_distilbert, ids, model_kwargs={"attention_mask": torch.ones(2, 8, dtype=torch.long)},
                            layers="distilbert", **FAST)
    rows = report.layer_rows
    assert [r["layer"] for r in rows] == ["embeddings", "transformer_block_0", "transformer_block_1", "pre_classifier",
                                          "classifier"]
    assert [r["module"] for r in rows][:2] == ["distilbert.embeddings", "distilbert.transformer.layer.0"]
    assert {w["label"] for w in report.windows} >= {"embeddings", "transformer_block_1", "(model)"}
    assert report.meta["labels"]["preset"] == "distilbert"
    paths = report.write(str(tmp_path))
    assert os.path.basename(paths["distilbert_csv"]) == "fp32_per_layer_energy.csv"
    d = pd.read_csv(paths["distilbert_csv"])
    assert list(d["layer_name"]) == [r["layer"] for r in rows] and d["module"][1] == "distilbert.transformer.layer.0"
    s = report.samples_to_pandas()
    assert "transformer_block_0" in set(s["layer"])


FACTORY = textwrap.dedent("""
    import torch

    def make(batch_size=1):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
        return model, torch.randn(batch_size, 8)
""")

QUICK = ["--sensor", "constant:4", "--rate", "2000", "--repeats", "2", "--rounds", "2", "--idle", "0.05",
         "--no-progress"]


@pytest.fixture
def factory_dir(tmp_path, monkeypatch):
    (tmp_path / "dtype_models.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    return tmp_path


@pytest.mark.parametrize("dtype,expect", [("bf16", "bfloat16"), ("float16", "float16"), ("int8", "int8")])
def test_cli_dtype(factory_dir, capsys, dtype, expect):
    if expect == "int8" and not int8_support("cpu")[0]:
        pytest.skip(int8_support("cpu")[1])
    out = factory_dir / dtype
    rc = cli.main(["profile", "dtype_models:make", "--dtype", dtype, *QUICK, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f"dtype {expect}" in captured.out
    meta = json.loads((out / "report.json").read_text())["meta"]
    assert meta["dtype"] == expect
    assert meta["input_dtypes"] == (["float32"] if expect == "int8" else [expect])
    df = pd.read_csv(out / "layers.csv")
    assert df.loc[df.kind == "layer", "status"].isin(MEASURED).all()
    assert (out / "layers_distilbert.csv").exists()  # not the DistilBERT preset: the generic name


def test_cli_dtype_errors(factory_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["profile", "dtype_models:make", "--dtype", "fp8", *QUICK])
    assert exc.value.code == 2 and "--dtype: unknown dtype 'fp8'" in capsys.readouterr().err
    assert cli.main(["profile", "dtype_models:make", "--dtype", "int8", "--device", "cuda", *QUICK]) == 2
    err = capsys.readouterr().err
    assert ("CPU only" in err) or ("torch sees no CUDA device" in err)


@pytest.mark.slow
def test_cli_distilbert_int8_writes_the_harness_csv(tmp_path, capsys, one_torch_thread):
    """The full DistilBERT preset (DistilBertConfig(), random weights) at a tiny input, quantized."""
    pytest.importorskip("transformers")
    if not int8_support("cpu")[0]:
        pytest.skip(int8_support("cpu")[1])
    out = tmp_path / "int8"
    rc = cli.main(["profile", "distilbert", "--dtype", "int8", "--batch-size", "1", "--seq-len", "8", *QUICK,
                   "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    d = pd.read_csv(out / "int8_per_layer_energy.csv")
    assert list(d["layer_name"]) == ["embeddings"] + [f"transformer_block_{i}" for i in range(6)] + \
        ["pre_classifier", "classifier"]
    assert d["module"][0] == "distilbert.embeddings" and d["module"][1] == "distilbert.transformer.layer.0"
    meta = json.loads((out / "report.json").read_text())["meta"]
    assert meta["dtype"] == "int8" and meta["input_dtypes"] == ["int64", "int64"]


def test_distilbert_labels_in_situ(small_distilbert, one_torch_thread):
    # In situ, the per-forward marks carry the labels too (EdgeProfiler export, samples).
    ids = torch.randint(0, 100, (2, 8))
    report = profile_layers(small_distilbert, ids, layers="distilbert", mode="in-situ",
                            **dict(FAST, repeats=4))
    labels = [r["layer"] for r in report.layer_rows]
    assert labels == ["embeddings", "transformer_block_0", "transformer_block_1", "pre_classifier", "classifier"]
    assert report.cycles["labels"] == labels
    assert list(report.edgeprofiler_windows()["windows"]) == labels
    assert set(report.samples_to_pandas()["layer"]) <= set(labels) | {"(model)"}

