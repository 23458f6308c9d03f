"""The profiler on real architectures at small sizes: torchvision VGG11 and Hugging Face DistilBERT
(random weights), plus the layer presets."""
from __future__ import annotations

import pytest

from edgepower.report import MEASURED

torch = pytest.importorskip("torch")

from edgepower.profile.presets import depth_layers, distilbert_layers, select_layers, vgg_layers  # noqa: E402
from edgepower.profile import profile_layers  # noqa: E402

FAST = dict(sensor="constant:5", repeats=2, rounds=2, warmup=1, idle_s=0.05, rate_hz=2000)


@pytest.fixture(scope="module")
def vgg11():
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return tv.models.vgg11(weights=None)


@pytest.fixture(scope="module")
def distilbert():
    tf = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = tf.DistilBertConfig(vocab_size=100, dim=32, hidden_dim=64, n_layers=2, n_heads=2,
                              max_position_embeddings=32)
    return tf.DistilBertForSequenceClassification(cfg)


def no_hooks(model) -> bool:
    return all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def test_vgg_preset_names(vgg11):
    names = vgg_layers(vgg11)
    assert names[:3] == ["features.0", "features.1", "features.2"]
    assert len(names) == 21 + 1 + 7 and "avgpool" in names and names[-1] == "classifier.6"
    assert select_layers(vgg11, "auto") == names == select_layers(vgg11, None)  # VGG's leaves are its preset
    assert select_layers(vgg11, ["features[0]", "classifier[6]"]) == ["features.0", "classifier.6"]
    with pytest.raises(ValueError, match="features.1"):
        select_layers(vgg11, ["features.1x"])
    with pytest.raises(ValueError, match="not one"):
        distilbert_layers(vgg11)


def test_vgg11_small_input(vgg11):
    x = torch.randn(1, 3, 32, 32)
    report = profile_layers(vgg11, x, layers="vgg", **FAST)
    labels = [r["layer"] for r in report.layer_rows]
    assert labels == vgg_layers(vgg11)
    assert [r["layer"] for r in report.rows][-2:] == ["(unattributed)", "(model)"]
    assert all(r["status"] in MEASURED for r in report.rows), report.failed
    first = report.row("features.0")
    assert first["input_shapes"] == "1x3x32x32" and first["type"] == "Conv2d" and first["params"] == 3 * 64 * 9 + 64
    assert report.row("classifier.0")["input_shapes"] == "1x25088"
    # torchvision's VGG ReLUs are in place: detected and restored, the others are not.
    assert report.row("features.1")["inplace"] is True and report.row("features.0")["inplace"] is False
    assert all(r["repeats"] == 4 for r in report.layer_rows)
    assert report.row("(model)")["latency_ms"] > report.row("classifier.0")["latency_ms"] > 0
    # torch.flatten happens outside any module: it lands in (unattributed), whose latency is
    # the whole minus the layers.
    layers_ms = sum(r["latency_ms"] for r in report.layer_rows)
    assert report.row("(unattributed)")["latency_ms"] == pytest.approx(
        report.row("(model)")["latency_ms"] - layers_ms, rel=1e-6, abs=1e-9)
    assert report.closure["latency"] == pytest.approx(layers_ms / report.row("(model)")["latency_ms"])
    assert no_hooks(vgg11) and vgg11.training  # modes restored (a fresh torchvision model trains)


def test_distilbert_preset_kwargs_and_tuple_outputs(distilbert):
    names = distilbert_layers(distilbert)
    assert names == ["distilbert.embeddings", "distilbert.transformer.layer.0", "distilbert.transformer.layer.1",
                     "pre_classifier", "classifier"]
    ids = torch.randint(0, 100, (2, 8))
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 6:] = 0  # padding, so the mask matters
    report = profile_layers(distilbert, ids, model_kwargs={"attention_mask": mask}, layers="distilbert",
                            **dict(FAST, repeats="auto", min_window_s=0.02))
    assert [r["layer"] for r in report.layer_rows] == names
    assert all(r["status"] in MEASURED for r in report.rows), report.failed
    assert report.row("distilbert.embeddings")["input_shapes"].startswith("2x8")
    assert report.row("distilbert.transformer.layer.0")["input_shapes"].startswith("2x8x32")
    assert report.row("(model)")["input_shapes"] == "2x8, attention_mask=2x8"
    assert report.row("classifier")["input_shapes"] == "2x32"
    for r in report.layer_rows:
        assert r["latency_ms"] > 0 and r["repeats"] >= 2 * 3
    assert no_hooks(distilbert)


def test_distilbert_base_model_and_depth(distilbert):
    assert distilbert_layers(distilbert.distilbert)[:2] == ["embeddings", "transformer.layer.0"]
    assert depth_layers(distilbert, 1) == ["distilbert", "pre_classifier", "classifier", "dropout"]
    d2 = depth_layers(distilbert, 2)
    assert "distilbert.embeddings" in d2 and "distilbert.transformer" in d2 and "classifier" in d2
    with pytest.raises(ValueError, match="depth"):
        depth_layers(distilbert, 0)
    with pytest.raises(ValueError, match="either"):
        select_layers(distilbert, ["classifier"], depth=1)
    with pytest.raises(ValueError, match="Did you mean"):
        select_layers(distilbert, "distilbrt")
