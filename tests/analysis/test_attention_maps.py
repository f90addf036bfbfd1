"""Attention maps: what each block's recorded weights are, and the `convzoo attention` command."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import write_image
from torch import nn

import convzoo
from convzoo.analysis.attention_maps import (
    AttentionMaps,
    SpatialMap,
    capture_attention,
    criss_cross_dense,
    plot_channel_weights,
    plot_spatial_maps,
    spatial_maps_figure,
)
from convzoo.blocks import CrissCrossAttention, NonLocalBlock, SqueezeExcite
from convzoo.cli import main
from convzoo.errors import ConvzooError
from convzoo.train.checkpoint import CheckpointMeta, save_checkpoint


def with_stem(block: nn.Module, channels: int = 16) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), block)


def test_se_weights_are_the_gate_of_eq_3():
    torch.manual_seed(0)
    model = with_stem(SqueezeExcite(16, 4)).eval()
    image = torch.randn(3, 12, 12)
    [recorded] = capture_attention(model, image).channel
    se = model[1]
    features = model[0](image[None])
    expected = torch.sigmoid(se.fc2(torch.relu(se.fc1(features.mean((2, 3), keepdim=True))))).flatten()
    torch.testing.assert_close(recorded.weights, expected)
    assert recorded.kind == "se" and recorded.block == "1"


def test_non_local_map_is_the_query_row_of_the_affinity():
    torch.manual_seed(0)
    block = NonLocalBlock(16, sub_sample=True)
    model = with_stem(block).eval()
    image = torch.randn(3, 8, 10)
    [spatial] = capture_attention(model, image, query=(0.3, 0.65)).spatial
    assert spatial.query == (2, 6) and spatial.query_grid == (8, 10)
    assert spatial.weights.shape == (4, 5)  # keys pooled 2x2
    affinity = block.affinity(model[0](image[None]))[0]  # (80, 20)
    torch.testing.assert_close(spatial.weights.flatten(), affinity[2 * 10 + 6])
    assert spatial.weights.sum().item() == pytest.approx(1.0)


def test_criss_cross_reaches_the_cross_in_one_pass_and_everything_in_two():
    torch.manual_seed(0)
    one = capture_attention(with_stem(CrissCrossAttention(16, recurrence=1)).eval(), torch.randn(3, 6, 7)).spatial[0]
    row, col = one.query
    off_cross = torch.ones(6, 7, dtype=torch.bool)
    off_cross[row, :] = False
    off_cross[:, col] = False
    assert (one.weights[off_cross] == 0).all() and (one.weights[~off_cross] > 0).all()
    two = capture_attention(with_stem(CrissCrossAttention(16, recurrence=2)).eval(), torch.randn(3, 6, 7)).spatial[0]
    assert (two.weights > 0).all()
    assert one.weights.sum().item() == pytest.approx(1.0) and two.weights.sum().item() == pytest.approx(1.0)


def test_criss_cross_dense_rows_sum_to_one():
    attn = torch.rand(3, 4, 7).softmax(-1)
    dense = criss_cross_dense(attn)
    torch.testing.assert_close(dense.sum(1), torch.ones(12))
    assert dense[1 * 4 + 2, 0 * 4 + 2] == attn[1, 2, 0]  # query (1, 2), key (0, 2) on its column
    assert dense[1 * 4 + 2, 1 * 4 + 3] == attn[1, 2, 3 + 3]  # key (1, 3) on its row


@pytest.mark.parametrize("attn_layer, channel_kind, spatial_kind", [
    ("se", "se", None), ("sk", "sk", None), ("splat", "splat", None), ("cbam", "cbam", "cbam"),
    ("gc", None, "gc"), ("nonlocal", None, "nonlocal"), ("cc", None, "cc"), ("da", None, "da"),
])
def test_every_attention_layer_of_a_resnet_is_seen_in_its_stage(attn_layer, channel_kind, spatial_kind):
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", attn_layer=attn_layer)
    maps = capture_attention(model, torch.randn(3, 64, 64))
    stages = {info["module"]: index for index, info in enumerate(model.feature_info)}
    for recorded, kind in ((maps.channel, channel_kind), (maps.spatial, spatial_kind)):
        assert len(recorded) == (8 if kind else 0)
        for item in recorded:
            assert item.kind == kind and item.stage == stages[item.block.split(".")[0]]
    for item in maps.channel:
        assert ((item.weights >= 0) & (item.weights <= 1)).all()
    json.dumps(maps.summary())


def test_no_attention_is_a_clear_error():
    with pytest.raises(ConvzooError, match="no attention block"):
        capture_attention(convzoo.create_model("resnet18"), torch.randn(3, 32, 32))


def test_plots_are_written(tmp_path):
    torch.manual_seed(0)
    maps = capture_attention(convzoo.create_model("resnet18", attn_layer="cbam"), torch.randn(3, 64, 64))
    plot_channel_weights(maps, tmp_path / "channels.png")
    plot_spatial_maps(maps, torch.rand(3, 64, 64), tmp_path / "spatial.png")
    assert (tmp_path / "channels.png").stat().st_size > 0 and (tmp_path / "spatial.png").stat().st_size > 0


def test_spatial_maps_have_colour_bars_and_tiny_maps_say_what_they_cover():
    torch.manual_seed(0)
    quarters = torch.tensor([[0.1, 0.2], [0.3, 0.4]])
    maps = AttentionMaps(spatial=[
        SpatialMap("layer1.cbam", "cbam", 0, torch.rand(8, 8)),
        SpatialMap("layer3.cbam", "cbam", 2, quarters),
        SpatialMap("layer4.gc", "gc", 3, torch.ones(1, 1)),
    ])
    figure = spatial_maps_figure(maps, torch.rand(3, 16, 16), "net on image.png")
    colour_bars = [axis for axis in figure.axes if axis.get_ylabel() in ("gate", "weight")]
    assert len(colour_bars) == 3
    titles = [axis.get_title() for axis in figure.axes]
    assert "layer1.cbam (cbam), 8x8" in titles
    assert "layer3.cbam (cbam)\n2x2 map: 4 values, one per 8x8-px block" in titles
    assert any(title.startswith("layer4.gc (gc)\n1x1 map: one value, the whole image") for title in titles)
    quarter_axis = figure.axes[titles.index("layer3.cbam (cbam)\n2x2 map: 4 values, one per 8x8-px block")]
    assert sorted(text.get_text() for text in quarter_axis.texts) == ["0.1", "0.2", "0.3", "0.4"]
    overlay = quarter_axis.get_images()[-1].get_array()
    assert sorted(set(overlay.flatten().tolist())) == pytest.approx([0.1, 0.2, 0.3, 0.4])  # blocks, not a gradient


def checkpoint(tmp_path, **model_args):
    torch.manual_seed(0)
    model = convzoo.create_model("resnet18", num_classes=3, **model_args)
    meta = CheckpointMeta(model="resnet18", model_args={"num_classes": 3, **model_args}, dataset="folder",
                          class_names=["a", "b", "c"], mean=[0.5] * 3, std=[0.25] * 3, input_size=[3, 64, 64])
    save_checkpoint(tmp_path / "model", model, meta)
    return tmp_path / "model.safetensors"


def test_cli_writes_the_plots_and_the_summary(tmp_path, capsys):
    image = tmp_path / "image.png"
    write_image(image, size=(96, 80))
    out = tmp_path / "attention"
    assert main(["attention", str(checkpoint(tmp_path, attn_layer="cbam")), str(image), "--out", str(out),
                 "--query", "0.25,0.5"]) == 0
    printed = capsys.readouterr().out
    assert "8 channel attention blocks, 8 spatial maps" in printed
    summary = json.loads((out / "attention.json").read_text())
    assert summary["query"] == [0.25, 0.5] and len(summary["spatial"]) == 8
    assert (out / "channel_weights.png").exists() and (out / "spatial_maps.png").exists()


def test_cli_refuses_a_model_without_attention(tmp_path, capsys):
    image = tmp_path / "image.png"
    write_image(image)
    code = main(["attention", str(checkpoint(tmp_path)), str(image), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no attention block" in err


def test_attention_cost_doc_matches_the_library():
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    table = runpy.run_path(str(root / "docs/scripts/attention_costs.py"))["attention_costs"]()
    assert table in (root / "docs/attention.md").read_text()
