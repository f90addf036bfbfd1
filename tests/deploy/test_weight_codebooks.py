"""Weight codebooks (Stock et al. 2020): k-means is a Lloyd fixed point, codes decode to the weights within the
reported error, and the sizes on disk are exact."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors import safe_open
from torch import nn

from convzoo.deploy.weight_codebooks import (
    decode_weights,
    kmeans,
    load_codebooks,
    quantize_weights,
    save_codebooks,
)
from convzoo.errors import ConvzooError


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(32, 8, 1), nn.ReLU(),  # pointwise: blocks of 4 input channels
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    ).eval()


def test_kmeans_assigns_every_vector_to_its_nearest_centroid_and_centroids_are_means():
    vectors = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    centroids, codes = kmeans(vectors, 8, iterations=100)
    assert centroids.shape == (8, 3) and torch.bincount(codes, minlength=8).min() > 0
    torch.testing.assert_close(codes, torch.cdist(vectors, centroids).argmin(dim=1), rtol=0, atol=0)
    means = torch.stack([vectors[codes == index].mean(dim=0) for index in range(8)])
    torch.testing.assert_close(centroids, means)


def test_kmeans_with_as_many_centroids_as_vectors_is_exact():
    vectors = torch.randn(20, 4)
    centroids, codes = kmeans(vectors, 64)
    assert len(centroids) == 20
    torch.testing.assert_close(centroids[codes], vectors, rtol=0, atol=0)


def test_paper_block_sizes_and_exact_sizes():
    codebooks = quantize_weights(small_net(), codebook_size=256)
    layers = {layer.name: layer for layer in codebooks.layers}
    assert {name: layer.block_size for name, layer in layers.items()} == {"0": 9, "3": 9, "5": 4, "9": 4}
    conv = layers["3"]  # 32 x 16 kernels of 3x3: 512 blocks of 9, 256 centroids, 8 bits a code
    assert (conv.codes.numel(), conv.code_bits, conv.code_bytes) == (512, 8, 512)
    assert conv.codebook_bytes == 256 * 9 * 2 and conv.float32_bytes == 32 * 16 * 9 * 4
    first = layers["0"]  # 16 x 3 kernels: fewer blocks (48) than centroids, so 48 centroids of 6 bits
    assert (first.codebook.shape, first.code_bits, first.code_bytes) == ((48, 9), 6, 36)
    others = 16 * 4 + 4 * 16 * 4 + 8 + 8 * 4 + 10 * 4  # biases, BN (weight, bias, mean, var; int64 count)
    assert codebooks.original_bytes == 4 * (16 * 27 + 32 * 144 + 8 * 32 + 10 * 8) + others
    assert codebooks.compressed_bytes == sum(
        layer.code_bytes + layer.codebook_bytes for layer in codebooks.layers) + others


@pytest.mark.parametrize("k, bits, code_bytes", [(2, 1, 64), (5, 3, 192), (16, 4, 256)])
def test_code_bits_pack_exactly(k, bits, code_bytes):
    layer = next(layer for layer in quantize_weights(small_net(), codebook_size=k).layers if layer.name == "3")
    assert (layer.code_bits, layer.code_bytes) == (bits, code_bytes)


def test_codes_decode_within_the_reported_error_which_falls_with_the_codebook_size():
    model = small_net()
    errors = []
    for k in (4, 32, 256):
        codebooks = quantize_weights(model, codebook_size=k)
        for layer in codebooks.layers:
            weight = model.get_submodule(layer.name).weight.detach()
            decoded = layer.decode()
            torch.testing.assert_close(decoded, layer.codebook.float()[layer.codes].reshape(weight.shape))
            assert (decoded - weight).square().mean().item() == pytest.approx(layer.mse, rel=1e-5)
            assert layer.mse < weight.var().item()  # better than one centroid at the mean
        errors.append(sum(layer.mse for layer in codebooks.layers))
    assert errors[0] > errors[1] > errors[2]


def test_more_centroids_than_blocks_reproduce_the_weights_to_float16():
    model = small_net()
    codebooks = quantize_weights(model, codebook_size=4096)
    for layer in codebooks.layers:
        weight = model.get_submodule(layer.name).weight.detach()
        torch.testing.assert_close(layer.decode(), weight.half().float(), rtol=0, atol=0)


def test_kernels_larger_than_3x3_are_cut_into_kernel_rows():
    codebooks = quantize_weights(nn.Sequential(nn.Conv2d(4, 8, 5), nn.Conv1d(4, 8, 3)), codebook_size=16)
    assert [(layer.block_size, layer.codes.numel()) for layer in codebooks.layers] == [(5, 8 * 4 * 5), (3, 8 * 4)]


def test_scalar_kmeans_and_skipped_layers():
    model = nn.Sequential(nn.Linear(10, 6), nn.ReLU(), nn.Linear(6, 3))
    codebooks = quantize_weights(model, codebook_size=8, block_size=4)
    assert "0" in codebooks.skipped and "do not split into blocks of 4" in codebooks.skipped["0"]
    assert "0.weight" in codebooks.others and not codebooks.layers
    scalar = quantize_weights(model, codebook_size=8, block_size=1)
    assert [layer.codebook.shape for layer in scalar.layers] == [(8, 1), (8, 1)]
    assert all(len(layer.decode().unique()) <= 8 for layer in scalar.layers)


def test_saved_file_holds_exactly_the_compressed_bytes_and_decodes_the_same(tmp_path):
    model = small_net()
    codebooks = quantize_weights(model, codebook_size=16)
    path = save_codebooks(codebooks, tmp_path / "model.codebooks.safetensors")
    with safe_open(str(path), framework="pt") as file:
        stored = sum(file.get_tensor(key).numel() * file.get_tensor(key).element_size() for key in file.keys())
    header = struct.unpack("<Q", path.read_bytes()[:8])[0]
    assert stored == codebooks.compressed_bytes == path.stat().st_size - 8 - header
    assert json.loads(path.read_bytes()[8:8 + header])["__metadata__"]["format"] == "convzoo-weight-codebooks"
    loaded = load_codebooks(path)
    expected, actual = codebooks.state_dict(), loaded.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(decode_weights(model, loaded)(x), decode_weights(model, codebooks)(x))
        assert not torch.equal(decode_weights(model, codebooks)(x), model(x))


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(ConvzooError, match="codebook size 1"):
        quantize_weights(small_net(), codebook_size=1)
    with pytest.raises(ConvzooError, match="block size 0"):
        quantize_weights(small_net(), block_size=0)
    other = tmp_path / "other.safetensors"
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(ConvzooError, match="not a weight-codebook file"):
        load_codebooks(other)
    (tmp_path / "corrupt.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ConvzooError, match="cannot read weight codebooks"):
        load_codebooks(tmp_path / "corrupt.safetensors")
