"""The effective receptive field (Luo et al., NeurIPS 2016) on networks whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from helpers import run_cli

from convzoo.analysis import ERFResult, effective_receptive_field, plot_erf, square_radius
from convzoo.analysis.erf import erf_figure
from convzoo.analysis.receptive_field import receptive_field
from convzoo.registry import create_model


def conv_stack(depth: int, kernel: torch.Tensor | None = None, relu: bool = False) -> nn.Sequential:
    """``depth`` single-channel 3x3 convs without padding, all with the same weights."""
    kernel = torch.ones(3, 3) if kernel is None else kernel
    layers: list[nn.Module] = []
    for _ in range(depth):
        conv = nn.Conv2d(1, 1, 3, bias=False)
        conv.weight.data.copy_(kernel)
        layers.append(conv)
        if relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def test_single_conv_gives_a_uniform_3x3_map():
    result = effective_receptive_field(conv_stack(1), (1, 3, 3), samples=2, theoretical_size=3)
    assert isinstance(result, ERFResult)
    torch.testing.assert_close(result.contributions, torch.full((3, 3), 1 / 9, dtype=torch.float64))
    assert result.unit == (0, 0) and result.feature_shape == (1, 1, 1)
    assert result.center == (1, 1)
    assert result.radius_95 <= 1.5 and result.ratio_95 <= 1


def test_map_sums_to_one_and_is_non_negative():
    torch.manual_seed(0)
    model = conv_stack(3, relu=True, kernel=torch.rand(3, 3) - 0.2)
    result = effective_receptive_field(model, (1, 15, 15), samples=8)
    assert result.contributions.dtype == torch.float64
    assert float(result.contributions.sum()) == pytest.approx(1.0, abs=1e-12)
    assert bool((result.contributions >= 0).all())


def test_stack_of_uniform_convs_is_binomial_with_std_growing_like_sqrt_depth():
    results = {n: effective_receptive_field(conv_stack(n), (1, 2 * n + 1, 2 * n + 1), samples=1) for n in (4, 16)}
    # Each layer adds the variance of the uniform {-1, 0, 1} step, 2/3, along each axis.
    for n, result in results.items():
        assert result.sigma == pytest.approx(math.sqrt(2 * n / 3), rel=1e-9)
        profile = result.contributions.sum(0)  # marginal along one axis: a binomial-like bell
        assert int(profile.argmax()) == n and bool((profile[: n + 1].diff() > 0).all())
    assert results[16].sigma / results[4].sigma == pytest.approx(2.0, rel=0.1)
    assert results[16].radius_95 / results[4].radius_95 == pytest.approx(2.0, rel=0.1)


def test_radii_are_ordered_and_within_the_theoretical_rf():
    n = 8
    rf = 2 * n + 1
    result = effective_receptive_field(conv_stack(n), (1, rf, rf), samples=1, theoretical_size=rf)
    assert 0 < result.radius_50 < result.radius_95 <= rf / 2
    assert result.ratio_50 < result.ratio_95 <= 1
    # The Gaussian concentrates: 95% lies well inside the RF.
    assert result.ratio_95 < 0.8
    assert result.radius(1.0) == pytest.approx(rf / 2)


def test_float64_keeps_the_rf_edge_where_float32_underflows():
    # A [1, 2, 1]/4 binomial kernel: after 40 layers the RF corner holds 16**-40 ~ 7e-49.
    one_d = torch.tensor([1.0, 2.0, 1.0]) / 4
    model = conv_stack(40, kernel=torch.outer(one_d, one_d))
    size = (1, 81, 81)
    wide = effective_receptive_field(model, size, samples=1, dtype=torch.float64)
    narrow = effective_receptive_field(model, size, samples=1, dtype=torch.float32)
    assert wide.dtype == torch.float64 and narrow.dtype == torch.float32
    assert bool((wide.contributions > 0).all())  # the whole 81x81 RF is visible
    assert float(wide.contributions[0, 0]) > 0
    assert float(narrow.contributions[0, 0]) == 0  # float32 lost the corner
    assert int((narrow.contributions == 0).sum()) > 0
    # The bulk agrees between the two.
    assert narrow.radius_95 == pytest.approx(wide.radius_95, rel=1e-3)


def test_model_passed_in_is_not_changed():
    model = conv_stack(2).train()
    effective_receptive_field(model, (1, 9, 9), samples=1)
    assert model.training
    assert all(p.dtype == torch.float32 and p.grad is None for p in model.parameters())


def test_registered_model_and_stage_index():
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=10)
    last = effective_receptive_field(model, (3, 64, 64), samples=2, batch_size=2)
    assert last.feature_shape == (512, 2, 2) and last.unit == (1, 1)
    assert last.contributions.shape == (64, 64)
    assert float(last.contributions.sum()) == pytest.approx(1.0)
    stem = effective_receptive_field(model, (3, 64, 64), samples=2, stage=0, batch_size=2)
    assert stem.stage == 0 and stem.feature_shape == (64, 32, 32)
    # The stem is one 7x7 conv with stride 2: its unit sees at most a 7x7 patch.
    support = (stem.contributions > 0).nonzero()
    assert int(support[:, 0].max() - support[:, 0].min()) + 1 <= 7
    assert int(support[:, 1].max() - support[:, 1].min()) + 1 <= 7
    assert stem.radius_95 < last.radius_95
    negative = effective_receptive_field(model, (3, 64, 64), samples=1, stage=-1)
    assert negative.feature_shape == (512, 2, 2)
    with pytest.raises(ValueError, match="feature_info"):
        effective_receptive_field(model, (3, 64, 64), samples=1, stage=9)


def test_real_image_inputs_are_accepted():
    torch.manual_seed(0)
    model = conv_stack(3, relu=True, kernel=torch.rand(3, 3) - 0.2)
    images = torch.rand(3, 1, 12, 12)  # non-negative "pixels": the ReLUs at the centre stay open
    result = effective_receptive_field(model, inputs=images)
    assert result.samples == 3 and result.contributions.shape == (12, 12)
    assert float(result.contributions.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="does not match"):
        effective_receptive_field(model, (1, 8, 8), inputs=images)
    with pytest.raises(ValueError, match="input_size"):
        effective_receptive_field(model)


def test_square_radius_interpolates_and_validates():
    impulse = torch.zeros(5, 5)
    impulse[2, 2] = 1
    assert square_radius(impulse, 0.95) == pytest.approx(0.475)  # inside the single pixel
    assert square_radius(torch.ones(3, 3), 1.0) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="zero"):
        square_radius(torch.zeros(3, 3), 0.5)
    with pytest.raises(ValueError, match="fraction"):
        square_radius(impulse, 1.5)


@pytest.mark.parametrize("log", [False, True])
def test_plot_writes_a_png(tmp_path, log):
    result = effective_receptive_field(conv_stack(4), (1, 9, 9), samples=1, theoretical_size=9)
    path = tmp_path / "erf.png"
    plot_erf(result, path, log=log)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.summary()["ratio_95"] == pytest.approx(result.ratio_95)


def strided_pair() -> nn.Sequential:
    """Two 3x3 convs of stride 2 padded by 1: unit i's RF (7 px) is centred at 4 i, unit 0 on pixel 0."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, stride=2, padding=1))


def measured(model: nn.Module, size: int):
    """The ERF of ``model`` on a ``size`` x ``size`` input and the RF of its output map."""
    rf = receptive_field(model, (1, size, size)).output
    result = effective_receptive_field(model, (1, size, size), samples=2, theoretical_size=rf.size)
    return result, rf


def rf_square(figure):
    axes = figure.axes[0]
    (square,) = [patch for patch in axes.patches if patch.get_label().startswith("RF")]
    return square.get_y() + square.get_height() / 2, square.get_x() + square.get_width() / 2, square.get_width()


def caption(figure) -> str:
    return " ".join(text.get_text() for axes in figure.axes for text in axes.texts).replace("\n", " ")


def test_erf_figure_names_the_model_labels_the_axes_and_keeps_the_legend_off_the_map():
    result, rf = measured(strided_pair(), 12)
    figure = erf_figure(result, model="pairnet", rf=rf)
    axes = figure.axes[0]
    assert "pairnet" in axes.get_title()
    assert axes.get_xlabel() == "input column (px)" and axes.get_ylabel() == "input row (px)"
    assert axes.get_legend() is None
    figure.canvas.draw()
    (legend,) = [a.get_legend() for a in figure.axes if a.get_legend() is not None]
    assert not legend.get_window_extent().overlaps(axes.get_window_extent())
    assert {"50%", "95%", "RF", "ERF centroid", "RF centre"} <= {
        text.get_text().split(":")[0] for text in legend.get_texts()
    }


def test_rf_square_sits_on_the_units_rf_centre_not_on_the_centroid():
    # A 12x12 input gives a 3x3 map; its middle unit (1, 1) sees the 7x7 square centred on pixel (4, 4),
    # 1.5 px up-left of the image centre (5.5, 5.5): units sit at 0, 4, 8 px.
    result, rf = measured(strided_pair(), 12)
    assert result.unit == (1, 1) and rf.size == 7 and rf.offset == 0 and rf.jump == 4
    figure = erf_figure(result, rf=rf)
    assert rf_square(figure) == (4.0, 4.0, 7.0)
    text = caption(figure)
    assert "centred at (4, 4)" in text and "image centre (5.5, 5.5)" in text and "0, 4, 8" in text
    assert "outside the picture" not in text


def test_caption_says_when_the_map_is_even_and_the_rf_leaves_the_image():
    # 6x6 -> 3x3 -> 2x2: unit (1, 1) is the lower-right of the four central units, its RF [0.5, 7.5] passes
    # the image's far edge (5.5).
    result, rf = measured(strided_pair(), 6)
    figure = erf_figure(result, rf=rf)
    assert rf_square(figure) == (4.0, 4.0, 7.0)
    text = caption(figure)
    assert "even-sized map has no middle unit" in text
    assert "reaches beyond the 6x6 image" in text and "outside the picture" in text


def test_without_its_position_the_rf_square_is_drawn_on_the_centroid_and_says_so():
    result = effective_receptive_field(conv_stack(4), (1, 9, 9), samples=1, theoretical_size=9)
    figure = erf_figure(result)
    assert rf_square(figure) == (4.0, 4.0, 9.0)
    assert "its position was not given" in caption(figure)


def test_cli_titles_the_heatmap_with_the_model_and_places_the_rf(capsys, tmp_path, monkeypatch):
    import convzoo.analysis.erf as erf

    drawn = {}
    monkeypatch.setattr(erf, "plot_erf", lambda result, path, **kwargs: drawn.update(kwargs))
    code, _, _ = run_cli(capsys, "erf", "lenet5", "--samples", "1", "--out", str(tmp_path / "e.png"))
    assert code == 0
    assert drawn["model"] == "lenet5" and drawn["rf"] is not None
