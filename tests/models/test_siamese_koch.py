"""Koch et al.'s one-shot Siamese network: the paper's parameter count, codes, symmetric pair logits, init."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.analysis import receptive_field
from convzoo.errors import InputShapeError
from convzoo.models.siamese_koch import KochSiamese
from convzoo.registry import count_parameters, meta_model

# conv 64@10x10: 64 x 100 + 64; conv 128@7x7: 128 x 64 x 49 + 128; conv 128@4x4: 128 x 128 x 16 + 128;
# conv 256@4x4: 256 x 128 x 16 + 256; FC 256 x 6 x 6 -> 4096: 9216 x 4096 + 4096; weighted L1: 4096 + 1.
LAYER_PARAMS = [6_464, 401_536, 262_272, 524_544, 37_752_832, 4_097]


@pytest.fixture(scope="module")
def koch() -> KochSiamese:
    torch.manual_seed(0)
    return convzoo.create_model("siamese_koch").eval()


def test_parameter_count_is_the_papers():
    model = meta_model("siamese_koch")
    layers = [model.conv1, model.conv2, model.conv3, model.conv4, model.fc, model.output]
    assert [count_parameters(layer) for layer in layers] == LAYER_PARAMS
    assert count_parameters(model) == sum(LAYER_PARAMS) == 38_951_745
    card = convzoo.model_card("siamese_koch")
    assert card["params"] == 38_951_745 and card["task"] == "metric" and card["input_size"] == [1, 105, 105]


def test_codes_and_symmetric_pair_logits(koch):
    torch.manual_seed(1)
    x1, x2 = torch.rand(2, 1, 105, 105), torch.rand(2, 1, 105, 105)
    with torch.no_grad():
        e1, e2 = koch(x1), koch.embed(x2)
        assert e1.shape == (2, 4096) and ((e1 >= 0) & (e1 <= 1)).all()  # sigmoid codes (many saturate at this init)
        logits = koch.pair_logits(e1, e2)
        assert logits.shape == (2,)
        torch.testing.assert_close(koch.pair_logits(e2, e1), logits, rtol=0, atol=0)
        # One batch of four through the twin: the kernels of a batch of four sum in another order than those
        # of two, so the logit agrees to float32 roundings (2e-5 seen), not exactly.
        torch.testing.assert_close(koch(x1, x2), logits, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(koch(x2, x1), logits, rtol=1e-4, atol=1e-4)
        # Identical codes are at distance 0: the logit is the output unit's bias.
        torch.testing.assert_close(koch.pair_logits(e1, e1), koch.output.bias.expand(2))
        torch.testing.assert_close(koch(x1), e1, rtol=0, atol=0)  # deterministic in eval mode


def test_paper_initialisation(koch):
    convs = torch.cat([koch.get_submodule(f"conv{i}.0").weight.flatten() for i in range(1, 5)])
    fcs = torch.cat([koch.fc[1].weight.flatten(), koch.output.weight.flatten()])
    biases = torch.cat([m.bias for m in koch.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))])
    assert convs.mean().abs() < 1e-3 and convs.std().item() == pytest.approx(1e-2, rel=0.02)
    assert fcs.mean().abs() < 1e-3 and fcs.std().item() == pytest.approx(2e-1, rel=0.02)
    assert biases.mean().item() == pytest.approx(0.5, abs=1e-3) and biases.std().item() == pytest.approx(1e-2, rel=0.1)


def test_bad_input_is_explained(koch):
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1, 105, 105\)"):
        koch(torch.zeros(1, 3, 105, 105))
    with pytest.raises(InputShapeError, match="takes only 105x105"):
        koch(torch.zeros(1, 1, 96, 96))
    assert meta_model("siamese_koch", in_chans=3).conv1[0].in_channels == 3


def test_feature_info_and_receptive_field():
    model = meta_model("siamese_koch")
    assert [info["num_chs"] for info in model.feature_info] == [64, 128, 128, 256]
    result = receptive_field(model, (1, 105, 105))
    # 10, then + 1 (pool), + 6 x 2, + 1 x 2 (pool), + 3 x 4, + 1 x 4 (pool), + 3 x 8.
    assert [(stage.size, stage.jump) for stage in result.stages] == [(11, 2), (25, 4), (41, 8), (65, 8)]
    assert [stage.shape[-1] for stage in result.stages] == [48, 21, 9, 6]
