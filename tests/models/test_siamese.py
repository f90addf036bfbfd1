"""Siamese, pseudo-Siamese and triplet networks: shapes, unit norms, weight sharing, registry entries."""

from __future__ import annotations

import pytest
import torch

import convzoo
from convzoo.analysis import receptive_field
from convzoo.errors import ConvzooError, InputShapeError
from convzoo.models.siamese import EmbeddingHead, SiameseNetwork, TripletNetwork
from convzoo.registry import count_parameters, get_entry, meta_model


# The backbone without its classifier, plus the projection num_features x 128 + 128:
#   lenet5:       61,706 - (84 x 10 + 10)        + 84 x 128 + 128   = 71,736
#   resnet18:     11,689,512 - (512 x 1000 + 1000) + 512 x 128 + 128  = 11,242,176
#   resnet50:     25,557,032 - (2048 x 1000 + 1000) + 2048 x 128 + 128 = 23,770,304
#   mobilenet_v2: 3,504,872 - (1280 x 1000 + 1000) + 1280 x 128 + 128 = 2,387,840
@pytest.mark.parametrize(
    "name, params",
    [
        ("siamese_lenet5", 71_736),
        ("siamese_resnet18", 11_242_176),
        ("siamese_resnet50", 23_770_304),
        ("siamese_mobilenet_v2", 2_387_840),
        ("triplet_resnet18", 11_242_176),
    ],
)
def test_registered_parameter_counts(name, params):
    assert count_parameters(meta_model(name)) == params
    card = convzoo.model_card(name)
    assert card["task"] == "metric" and card["num_classes"] == 0 and card["params"] == params
    assert card["paper"]["year"] == (2015 if name.startswith("triplet") else 1993)


def test_create_model_takes_embedding_dim_and_in_chans():
    model = convzoo.create_model("siamese_resnet18", embedding_dim=16, in_chans=1).eval()
    assert model.embedding_dim == 16 and model.in_chans == 1
    with torch.no_grad():
        embeddings = model(torch.randn(3, 1, 32, 32))
    assert embeddings.shape == (3, 16)
    torch.testing.assert_close(embeddings.norm(dim=1), torch.ones(3))
    assert get_entry("siamese_lenet5").input_size == (1, 32, 32)
    assert meta_model("siamese_lenet5").in_chans == 1


def test_without_normalisation_the_scale_is_kept():
    torch.manual_seed(0)
    model = SiameseNetwork("lenet5", 8, in_chans=1, normalize=False).eval()
    with torch.no_grad():
        norms = model(torch.randn(4, 1, 32, 32)).norm(dim=1)
    assert not torch.allclose(norms, torch.ones(4))


def test_shared_branches_are_one_module():
    torch.manual_seed(0)
    model = SiameseNetwork("lenet5", 8, in_chans=1).eval()
    assert model.branch(0) is model.branch(1) and len(model.branches) == 1
    x = torch.randn(2, 1, 32, 32)
    y = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        e1, e2 = model(x, x)
        torch.testing.assert_close(e1, e2, rtol=0, atol=0)
        torch.testing.assert_close(model.distance(e1, e2), torch.zeros(2))
        f1, f2 = model(x, y)  # one batch through the branch equals two separate passes in eval mode
        torch.testing.assert_close(f1, model.embed(x))
        torch.testing.assert_close(f2, model.embed(y, branch=1))
        assert model.distance(f1, f2).shape == (2,)
    assert not hasattr(model, "pair_logits")  # the task scores a Siamese network by distance


def test_pseudo_siamese_branches_have_separate_weights():
    torch.manual_seed(0)
    model = SiameseNetwork("lenet5", 8, shared=False, in_chans=1).eval()
    assert model.branch(0) is not model.branch(1)
    first = {id(p) for p in model.branch(0).parameters()}
    assert first.isdisjoint(id(p) for p in model.branch(1).parameters())
    assert count_parameters(model) == 2 * count_parameters(SiameseNetwork("lenet5", 8, in_chans=1))
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        e1, e2 = model(x, x)
    assert not torch.allclose(e1, e2)
    with pytest.raises(ConvzooError, match="branches 0 and 1"):
        model.embed(x, branch=2)


def test_two_different_backbones_share_one_embedding_space():
    torch.manual_seed(0)
    model = SiameseNetwork("lenet5", 24, shared=False, second_backbone="resnet18", in_chans=1, second_in_chans=3)
    model.eval()
    assert (model.in_chans, model.second_in_chans) == (1, 3)
    with torch.no_grad():
        e1, e2 = model(torch.randn(2, 1, 32, 32), torch.randn(2, 3, 64, 64))
    assert e1.shape == e2.shape == (2, 24)
    assert model.distance(e1, e2).shape == (2,)
    with pytest.raises(ConvzooError, match="shared=False"):
        SiameseNetwork("lenet5", second_backbone="resnet18")


def test_every_parameter_of_both_branches_learns():
    torch.manual_seed(0)
    model = SiameseNetwork("lenet5", 8, shared=False, second_backbone="resnet18", in_chans=1, second_in_chans=3)
    e1, e2 = model(torch.randn(2, 1, 32, 32), torch.randn(2, 3, 32, 32))
    model.distance(e1, e2).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_module_backbones():
    torch.manual_seed(0)
    backbone = convzoo.create_model("lenet5", num_classes=0)
    model = SiameseNetwork(backbone, 8).eval()
    assert model.branch(0).backbone is backbone and model.in_chans == 1
    twin = SiameseNetwork(backbone, 8, shared=False)
    assert twin.branch(1).backbone is not backbone  # a copy, trained apart
    with pytest.raises(ConvzooError, match="10-class classifier"):
        SiameseNetwork(convzoo.create_model("lenet5"))
    with pytest.raises(ConvzooError, match="no num_features"):
        SiameseNetwork(torch.nn.Flatten())
    with pytest.raises(ConvzooError, match="takes 1 input channels, not in_chans=3"):
        SiameseNetwork(backbone, in_chans=3)


def test_triplet_network():
    torch.manual_seed(0)
    model = TripletNetwork("lenet5", 8, in_chans=1).eval()
    a, p, n = (torch.randn(2, 1, 32, 32) for _ in range(3))
    with torch.no_grad():
        anchor, positive, negative = model(a, p, n)
        assert anchor.shape == positive.shape == negative.shape == (2, 8)
        torch.testing.assert_close(anchor, model(a))
        torch.testing.assert_close(negative, model.embed(n))
    with pytest.raises(ConvzooError, match="anchor alone"):
        model(a, p)
    assert isinstance(meta_model("triplet_resnet18"), TripletNetwork)


def test_eval_mode_is_deterministic():
    torch.manual_seed(0)
    model = convzoo.create_model("siamese_mobilenet_v2", in_chans=1, embedding_dim=8).eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)


def test_wrong_channel_count_is_explained():
    model = convzoo.create_model("siamese_lenet5").eval()
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 1, 32, 32\)"):
        model(torch.randn(1, 3, 32, 32))
    pseudo = SiameseNetwork("lenet5", shared=False, second_backbone="resnet18", in_chans=1, second_in_chans=3).eval()
    with pytest.raises(InputShapeError, match=r"expects input of shape \(B, 3,"):
        pseudo(torch.randn(1, 1, 32, 32), torch.randn(1, 1, 32, 32))


def test_num_classes_has_no_meaning():
    assert isinstance(meta_model("siamese_resnet18", num_classes=0), SiameseNetwork)
    with pytest.raises(ConvzooError, match="set embedding_dim"):
        meta_model("siamese_resnet18", num_classes=10)
    with pytest.raises(ConvzooError, match="positive width"):
        EmbeddingHead(84, 0)


def test_receptive_field_follows_one_branch():
    """The field of the backbone's last stage, read through the wrapper (its second input left out)."""
    result = receptive_field(meta_model("siamese_resnet18"), (3, 224, 224))
    assert result.stages[-1].name == "branches.0.backbone.layer4"
    assert (result.stages[-1].size, result.stages[-1].jump) == (435, 32)  # resnet18's layer4
    assert result.output.is_global
