"""Conv arithmetic against PyTorch's own layers, and the original UNet's valid sizes."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from convzoo.analysis.arithmetic import (
    LayerSpec,
    check_input_size,
    conv,
    conv_output_size,
    conv_transpose_output_size,
    explain_conv,
    explain_same_padding,
    explain_transposed,
    explain_unet_sizes,
    explain_valid_sizes,
    is_valid_input_size,
    layers_from_module,
    nearest_valid_sizes,
    output_size,
    pool,
    receptive_field,
    same_padding,
    unet_layers,
    unet_valid_sizes,
    valid_input_sizes,
)
from convzoo.errors import ConvzooError, InputShapeError

SETTINGS = settings(max_examples=60, deadline=None)
small = st.integers


def _torch_out(layer: nn.Module, shape: tuple[int, ...]) -> int | None:
    try:
        with torch.no_grad():
            return layer(torch.zeros(shape)).shape[-1]
    except RuntimeError:
        return None


@SETTINGS
@given(size=small(1, 24), k=small(1, 6), s=small(1, 4), p=small(0, 3), d=small(1, 3))
def test_conv_output_size_matches_conv1d(size, k, s, p, d):
    expected = _torch_out(nn.Conv1d(1, 1, k, s, p, d, bias=False), (1, 1, size))
    if expected is None:
        with pytest.raises(ConvzooError):
            conv_output_size(size, k, s, p, d)
    else:
        assert conv_output_size(size, k, s, p, d) == expected


@SETTINGS
@given(h=small(1, 16), w=small(1, 16), k=small(1, 5), s=small(1, 3), p=small(0, 2), d=small(1, 2))
def test_conv_output_size_matches_conv2d(h, w, k, s, p, d):
    assume(h + 2 * p >= d * (k - 1) + 1 and w + 2 * p >= d * (k - 1) + 1)
    out = nn.Conv2d(1, 1, k, s, p, d, bias=False)(torch.zeros(1, 1, h, w)).shape[-2:]
    assert tuple(out) == (conv_output_size(h, k, s, p, d), conv_output_size(w, k, s, p, d))


@SETTINGS
@given(size=small(1, 20), k=small(1, 5), s=small(1, 4), p=small(0, 2), d=small(1, 2), ceil=st.booleans())
def test_pool_output_size_matches_maxpool2d(size, k, s, p, d, ceil):
    assume(2 * p <= k)  # PyTorch: padding at most half the kernel
    layer = nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)
    expected = _torch_out(layer, (1, 1, size, size))
    if expected is None:
        with pytest.raises(ConvzooError):
            conv_output_size(size, k, s, p, d, ceil_mode=ceil)
    else:
        assert conv_output_size(size, k, s, p, d, ceil_mode=ceil) == expected


@SETTINGS
@given(size=small(1, 12), k=small(1, 5), s=small(1, 3), p=small(0, 3), d=small(1, 3), data=st.data())
def test_transposed_output_size_matches_convtranspose2d(size, k, s, p, d, data):
    op = data.draw(small(0, max(s, d) - 1))
    expected = _torch_out(nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=d, bias=False), (1, 1, size, size))
    if expected is None or expected == 0:  # PyTorch may return an empty output; we call that too small
        with pytest.raises(ConvzooError):
            conv_transpose_output_size(size, k, s, p, op, d)
    else:
        assert conv_transpose_output_size(size, k, s, p, op, d) == expected


@SETTINGS
@given(size=small(1, 24), k=small(1, 6), s=small(1, 4), d=small(1, 3))
def test_same_padding_gives_ceil_size_over_stride(size, k, s, d):
    pad = same_padding(k, s, d, size=size)
    x = F.pad(torch.zeros(1, 1, size), (pad.before, pad.after))
    out = nn.Conv1d(1, 1, k, s, dilation=d, bias=False)(x).shape[-1]
    assert out == -(-size // s)
    assert pad.after - pad.before in (0, 1)
    if size % s == 0:
        assert same_padding(k, s, d) == pad


def test_explain_conv_fills_in_the_numbers():
    assert explain_conv(5, 3, stride=2, padding=1) == (
        "o = floor((i + 2p - d(k-1) - 1) / s) + 1 = floor((5 + 2*1 - 1*(3-1) - 1) / 2) + 1 = 3"
    )
    assert explain_transposed(3, 3, stride=2, padding=1).endswith("(3-1)*2 - 2*1 + 1*(3-1) + 0 + 1 = 5")
    assert "ceil((6 + 2*0 - 1*(3-1) - 1) / 2) + 1 = 3" in explain_conv(6, 3, 2, ceil_mode=True)
    # ceil would give 3 here, but the last window would start in the padding
    assert conv_output_size(5, 2, 2, 1, ceil_mode=True) == 3
    assert "before 1, after 1" in explain_same_padding(3, 2, size=5)


def test_errors_say_what_was_expected():
    with pytest.raises(ConvzooError, match="at least 5"):
        conv_output_size(2, 5)
    with pytest.raises(ConvzooError, match="at least 3"):
        conv_output_size(1, 5, padding=1)
    with pytest.raises(ConvzooError, match="stride must be an integer >= 1"):
        conv_output_size(8, 3, stride=0)
    with pytest.raises(ConvzooError, match="output_padding must be smaller"):
        conv_transpose_output_size(4, 3, stride=2, output_padding=2)
    with pytest.raises(ConvzooError, match="at least 3"):
        conv_transpose_output_size(1, 3, padding=2)  # o = i - 2
    with pytest.raises(ConvzooError, match="kind"):
        LayerSpec("dense")


def test_receptive_field():
    assert receptive_field([conv(3)] * 3) == 7
    assert receptive_field([conv(3), pool(2), conv(3)]) == 8
    assert receptive_field([conv(3, dilation=2)]) == 5


# ------------------------------------------------------------------------- UNet


def _unet_by_hand(size: int, depth: int = 4) -> int | None:
    """The paper's UNet on integers, written out independently of the arithmetic module."""
    for _ in range(depth):
        size -= 4  # two unpadded 3x3 convs
        if size < 2 or size % 2:
            return None  # the 2x2 max-pool would floor
        size //= 2
    size -= 4
    for _ in range(depth):
        if size < 1:
            return None
        size = 2 * size - 4  # 2x2 up-conv, two unpadded 3x3 convs
    return size if size >= 1 else None


def test_unet_572_gives_388_and_573_is_invalid():
    layers = unet_layers()
    assert output_size(layers, 572) == 388
    assert is_valid_input_size(layers, 572)
    assert not is_valid_input_size(layers, 573)
    assert nearest_valid_sizes(layers, 573) == [572, 588]
    assert nearest_valid_sizes(layers, 572, count=3) == [556, 572, 588]
    with pytest.raises(InputShapeError, match="nearest valid sizes are 572 and 588"):
        check_input_size(layers, 573)
    assert check_input_size(layers, 572) == 388
    text = explain_valid_sizes(layers, 573)
    assert "pool floors 569" in text and "572, 588" in text
    assert explain_valid_sizes(layers, 572).endswith("output 388")


def test_unet_valid_sizes_match_brute_force_simulation():
    brute = [s for s in range(1, 1000) if _unet_by_hand(s) is not None]
    assert unet_valid_sizes(stop=1000) == brute
    assert brute[0] == 188 and all(s % 16 == 60 % 16 for s in brute)  # 16b + 60, b >= 8
    for s in (572, 588, 188):
        assert output_size(unet_layers(), s) == _unet_by_hand(s)


class _TinyUNetChain(nn.Module):
    """A sequential-style original UNet (one channel, depth 2): encoder, bottom, decoder."""

    def __init__(self, depth: int = 2):
        super().__init__()

        def level():
            return nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3), nn.ReLU())

        self.down = nn.ModuleList(nn.Sequential(level(), nn.MaxPool2d(2)) for _ in range(depth))
        self.bottom = level()
        self.up = nn.ModuleList(nn.Sequential(nn.ConvTranspose2d(1, 1, 2, 2), level()) for _ in range(depth))

    def forward(self, x):
        for m in [*self.down, self.bottom, *self.up]:
            x = m(x)
        return x


def test_valid_sizes_of_a_module_match_the_real_forward():
    net = _TinyUNetChain(depth=2)
    assert layers_from_module(net) == unet_layers(depth=2)
    valid = valid_input_sizes(net, range(1, 80))
    assert valid == [s for s in range(1, 80) if _unet_by_hand(s, depth=2) is not None]
    for s in valid[:3]:
        assert net(torch.zeros(1, 1, s, s)).shape[-1] == output_size(net, s)


def test_doc_shows_what_the_arithmetic_computes():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "design-comparisons.md").read_text()
    for text in (
        explain_conv(5, 3, stride=2, padding=1),
        explain_transposed(3, 3, stride=2, padding=1),
        explain_same_padding(3, stride=2, size=5),
        explain_valid_sizes(unet_layers(), 572),
        explain_valid_sizes(unet_layers(), 573),
        explain_unet_sizes(573),
    ):
        assert text in doc
    assert "188, 204" in doc and unet_valid_sizes(stop=205) == [188, 204]


def test_explain_unet_sizes_names_the_valid_sizes_on_either_side():
    text = explain_unet_sizes(572)
    assert "input 572 is valid: output 388" in text
    assert text.splitlines()[-1] == "nearest valid sizes: 556 -> 372 below, 588 -> 404 above"
    assert explain_unet_sizes(573).splitlines()[-1] == "nearest valid sizes: 572 -> 388 below, 588 -> 404 above"
    assert explain_unet_sizes(100).splitlines()[-1] == "nearest valid sizes: none below, 188 -> 4 above"
    for size in (188, 572, 588):
        assert f"{size} -> {_unet_by_hand(size)}" in explain_unet_sizes(size + 1)
